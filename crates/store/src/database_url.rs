//! The database's address, as services take it from `DATABASE_URL`: parsed
//! once, and never shown with its password (not in `Debug`, not in
//! `Display`, not in clap's error for a bad value).

use std::fmt;
use std::str::FromStr;

use sqlx::postgres::PgConnectOptions;

/// A PostgreSQL URL whose password never reaches a log: `Debug` and
/// `Display` show it as `***`.
#[derive(Clone)]
pub struct DatabaseUrl {
    url: String,
    options: PgConnectOptions,
}

impl DatabaseUrl {
    pub fn connect_options(&self) -> PgConnectOptions {
        self.options.clone()
    }

    /// The URL with its password, for the rare caller that must hand it on.
    pub fn expose(&self) -> &str {
        &self.url
    }
}

impl FromStr for DatabaseUrl {
    type Err = String;

    fn from_str(url: &str) -> Result<Self, Self::Err> {
        const HINT: &str = "not a PostgreSQL URL (postgres://user:password@host:port/database)";
        // sqlx parses any scheme as PostgreSQL options; a mysql:// URL is a mistake to report.
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(HINT.to_owned());
        }
        // The parser's message may quote the URL, password included: say only what is wrong.
        let options = PgConnectOptions::from_str(url)
            .map_err(|_| "not a PostgreSQL URL (postgres://user:password@host:port/database)".to_owned())?;
        Ok(DatabaseUrl { url: url.to_owned(), options })
    }
}

/// clap quotes a rejected value in its error, which would print the
/// password: this parser words its own error instead.
#[derive(Debug, Clone, Copy)]
pub struct DatabaseUrlParser;

impl clap::builder::TypedValueParser for DatabaseUrlParser {
    type Value = DatabaseUrl;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<DatabaseUrl, clap::Error> {
        let invalid = |message: &str| {
            clap::Error::raw(clap::error::ErrorKind::ValueValidation, format!("DATABASE_URL: {message}\n"))
                .with_cmd(cmd)
        };
        let text = value.to_str().ok_or_else(|| invalid("not UTF-8"))?;
        text.parse().map_err(|message: String| invalid(&message))
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match url_without_password(&self.url) {
            Some(redacted) => f.write_str(&redacted),
            None => f.write_str("postgres://***"),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({self})")
    }
}

/// `scheme://user:***@rest`, or the URL itself when it carries no password.
fn url_without_password(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let Some((credentials, host)) = rest.split_once('@') else {
        // A password can still hide in the query string (`?password=`).
        return (!rest.contains("password")).then(|| url.to_owned());
    };
    let user = credentials.split_once(':').map_or(credentials, |(user, _)| user);
    if host.contains("password") {
        return None;
    }
    Some(format!("{scheme}://{user}:***@{host}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_never_shows() {
        let url: DatabaseUrl = "postgres://ward:s3cret@db:5432/icu".parse().unwrap();
        let shown = format!("{url:?} {url}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("postgres://ward:***@db:5432/icu"), "{shown}");
        let in_query: DatabaseUrl = "postgres://db/icu?user=ward&password=s3cret".parse().unwrap();
        assert!(!format!("{in_query:?}").contains("s3cret"));
        assert_eq!(url.expose(), "postgres://ward:s3cret@db:5432/icu");
    }

    #[test]
    fn other_schemes_are_rejected_without_echoing_the_url() {
        let error = "mysql://x:s3cret@y/z".parse::<DatabaseUrl>().unwrap_err();
        assert!(error.contains("not a PostgreSQL URL") && !error.contains("s3cret"), "{error}");
    }
}
