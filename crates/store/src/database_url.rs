//! The database's address, as services take it from `DATABASE_URL`: parsed
//! once, and never shown with its password (not in `Debug`, not in
//! `Display`, not in clap's error for a bad value).
//!
//! The URL is read with the parser sqlx itself uses (`url::Url`), so what is
//! redacted is exactly what sqlx takes as the password: the userinfo's
//! password (which ends at the *last* `@`, so `ward:p@ss@db` is the password
//! `p@ss` on host `db`), and a `password` query parameter, whose name may be
//! percent-encoded (`?pass%77ord=`).

use std::fmt;
use std::str::FromStr;

use sqlx::postgres::PgConnectOptions;
use url::Url;

/// What a redacted secret is shown as.
const REDACTED: &str = "***";

/// The query parameters sqlx's PostgreSQL driver understands. sqlx logs any
/// other parameter *with its value* (a misspelt `Password=` would put the
/// password in the log), so anything else is refused before sqlx sees it.
const KNOWN_PARAMETERS: &[&str] = &[
    "sslmode",
    "ssl-mode",
    "sslrootcert",
    "ssl-root-cert",
    "ssl-ca",
    "sslcert",
    "ssl-cert",
    "sslkey",
    "ssl-key",
    "statement-cache-capacity",
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "application_name",
    "options",
];

/// A PostgreSQL URL whose password never reaches a log: `Debug` and
/// `Display` show it as `***`.
#[derive(Clone)]
pub struct DatabaseUrl {
    url: Url,
    /// Boxed: the options are large, and configurations hold this by value.
    options: Box<PgConnectOptions>,
}

impl DatabaseUrl {
    pub fn connect_options(&self) -> PgConnectOptions {
        (*self.options).clone()
    }

    /// The URL with its password, for the one caller that hands it on to a
    /// service's own configuration (`icu demo`). Never log it.
    pub fn expose(&self) -> &str {
        self.url.as_str()
    }

    /// The URL with every password replaced by `***`.
    pub fn redacted(&self) -> String {
        let mut shown = self.url.clone();
        if shown.password().is_some() {
            // Fails only for URLs that cannot have a password (no host), which
            // then have none to hide.
            let _ = shown.set_password(Some(REDACTED));
        }
        if shown.query().is_some() {
            let pairs: Vec<(String, String)> = self
                .url
                .query_pairs()
                .map(|(key, value)| {
                    let value = if is_secret(&key) { REDACTED.to_owned() } else { value.into_owned() };
                    (key.into_owned(), value)
                })
                .collect();
            shown.query_pairs_mut().clear().extend_pairs(pairs);
        }
        shown.to_string()
    }
}

/// A query parameter whose value is a secret (`password`, `sslpassword`, …),
/// named after percent-decoding, as sqlx reads it.
fn is_secret(key: &str) -> bool {
    key.to_ascii_lowercase().contains("password")
}

impl FromStr for DatabaseUrl {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        const HINT: &str = "not a PostgreSQL URL (postgres://user:password@host:port/database)";
        // The parsers' messages may quote the URL, password included: say only what is wrong.
        let url = Url::parse(text).map_err(|_| HINT.to_owned())?;
        // sqlx parses any scheme as PostgreSQL options; a mysql:// URL is a mistake to report.
        if !matches!(url.scheme(), "postgres" | "postgresql") {
            return Err(HINT.to_owned());
        }
        if let Some((key, _)) = url.query_pairs().find(|(key, _)| {
            !(KNOWN_PARAMETERS.contains(&key.as_ref()) || (key.starts_with("options[") && key.ends_with(']')))
        }) {
            // The name only: an unknown parameter may well be a misspelt password.
            let key = if is_secret(&key) { REDACTED.into() } else { key };
            return Err(format!("unknown connection parameter {key:?} in the URL (see sqlx's PgConnectOptions)"));
        }
        let options = PgConnectOptions::from_str(url.as_str()).map_err(|_| HINT.to_owned())?;
        Ok(DatabaseUrl { url, options: Box::new(options) })
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
        f.write_str(&self.redacted())
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(text: &str) -> String {
        let url: DatabaseUrl = text.parse().unwrap();
        let (debug, display) = (format!("{url:?}"), url.to_string());
        assert_eq!(debug, format!("DatabaseUrl({display})"));
        display
    }

    #[test]
    fn the_password_never_shows() {
        assert_eq!(shown("postgres://ward:s3cret@db:5432/icu"), "postgres://ward:***@db:5432/icu");
        assert_eq!(shown("postgres://db/icu?user=ward&password=s3cret"), "postgres://db/icu?user=ward&password=***");
        assert_eq!(shown("postgres://ward@db/icu"), "postgres://ward@db/icu", "nothing to hide");
    }

    #[test]
    fn a_password_with_an_at_sign_is_redacted_whole() {
        // URL parsers, sqlx among them, end the userinfo at the last `@`.
        let text = "postgres://ward:p@ss@db/icu";
        let url: DatabaseUrl = text.parse().unwrap();
        assert_eq!(url.connect_options().get_host(), "db");
        assert_eq!(shown(text), "postgres://ward:***@db/icu");
    }

    #[test]
    fn percent_encoded_passwords_are_redacted() {
        for text in [
            "postgres://ward:s%33cret@db/icu",
            "postgres://ward:s3cr%65t%40x@db/icu",
            "postgres://db/icu?pass%77ord=s3cret",
            "postgres://db/icu?password=s%33cret",
            "postgresql://ward:s3cret@db/icu?password=s3cret&sslmode=disable",
        ] {
            let display = shown(text);
            for secret in ["s3cret", "s%33cret", "s3cr%65t", "cret"] {
                assert!(!display.contains(secret), "{text} shown as {display}");
            }
            assert!(display.contains(REDACTED), "{display}");
        }
    }

    #[test]
    fn unknown_parameters_are_refused_without_their_value() {
        // sqlx would log an unknown parameter with its value.
        for text in ["postgres://db/icu?Password=s3cret", "postgres://db/icu?passwd=s3cret"] {
            let error = text.parse::<DatabaseUrl>().unwrap_err();
            assert!(error.contains("unknown connection parameter") && !error.contains("s3cret"), "{error}");
        }
        assert!("postgres://db/icu?sslmode=disable&options[search_path]=ward".parse::<DatabaseUrl>().is_ok());
    }

    #[test]
    fn other_schemes_are_rejected_without_echoing_the_url() {
        for text in ["mysql://x:s3cret@y/z", "ward:s3cret@db", "postgres://x:s3cret@[::1/z"] {
            let error = text.parse::<DatabaseUrl>().unwrap_err();
            assert!(error.contains("not a PostgreSQL URL") && !error.contains("s3cret"), "{error}");
        }
    }

    #[test]
    fn the_exposed_url_connects_as_given() {
        let url: DatabaseUrl = "postgres://ward:p@ss@db/icu".parse().unwrap();
        let again: DatabaseUrl = url.expose().parse().unwrap();
        assert_eq!(format!("{:?}", again.connect_options()), format!("{:?}", url.connect_options()));
    }
}
