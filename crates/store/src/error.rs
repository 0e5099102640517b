//! The store's one error type.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// A value that could not be written in PostgreSQL's binary format.
    #[error("encoding a value: {0}")]
    Encode(String),
}

impl Error {
    /// PostgreSQL refused a value itself (SQLSTATE class 22, "data
    /// exception": a NUL in text or JSON, a time out of its range, …):
    /// retrying the same data can never succeed.
    pub fn is_refused_data(&self) -> bool {
        match self {
            Error::Database(sqlx::Error::Database(e)) => e.code().is_some_and(|code| code.starts_with("22")),
            _ => false,
        }
    }

    /// PostgreSQL's own words, for a quarantine reason.
    pub fn database_message(&self) -> String {
        match self {
            Error::Database(sqlx::Error::Database(e)) => {
                format!("{} (SQLSTATE {})", e.message(), e.code().unwrap_or_default())
            }
            other => other.to_string(),
        }
    }

    /// Every label [`Error::metric_label`] gives, for series that start at zero.
    pub const METRIC_LABELS: [&'static str; 3] = ["database", "migration", "encode"];

    /// A bounded label for metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Database(_) => "database",
            Error::Migration(_) => "migration",
            Error::Encode(_) => "encode",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
