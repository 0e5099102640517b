//! The monitor-service's configuration, from flags or the environment (the
//! original assignment's names: `API_PREFIX`, `DEBUG`, `METRICS_INTERVAL`).

use std::net::IpAddr;
use std::time::Duration;

use axum::http::HeaderValue;
use store::DatabaseUrl;

#[derive(Debug, Clone, clap::Parser)]
#[command(name = "monitor-service", version, about = "The ward's REST API over the stored readings")]
pub struct Config {
    /// PostgreSQL holding the ward, e.g. postgres://user:password@host/db.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, value_parser = store::DatabaseUrlParser)]
    pub database_url: DatabaseUrl,
    /// Address to listen on.
    #[arg(long, env = "HOST", default_value = "0.0.0.0")]
    pub host: IpAddr,
    /// HTTP port (0 picks a free one).
    #[arg(long, env = "PORT", default_value_t = 8002)]
    pub port: u16,
    /// Prefix of the ward's API routes ("" for none).
    #[arg(long, env = "API_PREFIX", default_value = "/api/v1", value_parser = telemetry::parse_api_prefix)]
    pub api_prefix: String,
    /// Database connections this replica may hold.
    #[arg(long, env = "DB_POOL_SIZE", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub db_pool_size: u32,
    /// Seconds between two readings of a monitor; a patient with no reading
    /// for three intervals is shown as stale.
    #[arg(long, env = "METRICS_INTERVAL", default_value = "5", value_parser = parse_seconds)]
    pub metrics_interval: Duration,
    /// Origins allowed to call the API from a browser, comma-separated
    /// (`*` for any); empty allows none.
    #[arg(long, env = "CORS_ORIGINS", default_value = "", value_parser = parse_origins)]
    pub cors_origins: CorsOrigins,
    /// MiB of memory for cached pages of readings (0 turns the cache off). A
    /// page is dropped as soon as the database announces a change to its
    /// patient's readings, so the cache never serves a stale page.
    #[arg(long, env = "PAGE_CACHE_MB", default_value_t = 64, value_parser = clap::value_parser!(u32).range(0..=65_536))]
    pub page_cache_mb: u32,
    /// Seconds a cached page is served at most: a bound for writers that
    /// bypass the database's announcements (e.g. triggers disabled).
    #[arg(long, env = "PAGE_CACHE_MAX_AGE", default_value = "30", value_parser = parse_seconds)]
    pub page_cache_max_age: Duration,
    /// Seconds between heartbeats on the announcements channel; a listener
    /// that hears nothing for three of them reconnects (and caches nothing
    /// meanwhile), which bounds how stale a page can be on a dead connection.
    #[arg(long, env = "PAGE_CACHE_HEARTBEAT", default_value = "5", value_parser = parse_seconds)]
    pub page_cache_heartbeat: Duration,
    /// Export the ward as Prometheus gauges on `/metrics` (latest vitals,
    /// NEWS2, reading age and staleness per patient; one ward query per
    /// scrape at most once a second). `false` for a very large ward.
    #[arg(long, env = "WARD_GAUGES", default_value = "true", value_parser = clap::builder::BoolishValueParser::new(),
          action = clap::ArgAction::Set)]
    pub ward_gauges: bool,
    /// At most this many patients get ward gauges (10 series each), the
    /// worst NEWS2 first; `icu_ward_patients` still counts all.
    #[arg(long, env = "WARD_GAUGES_MAX_PATIENTS", default_value_t = 1000,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub ward_gauges_max_patients: u32,
    /// Events of the live stream kept for clients that reconnect with
    /// `Last-Event-ID` (0 keeps none: every reconnection resyncs).
    #[arg(long, env = "STREAM_REPLAY", default_value_t = 20_000, value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    pub stream_replay: u32,
    /// Events a stream client may fall behind before it is disconnected
    /// (it may then resume from the replay with `Last-Event-ID`).
    /// It must exceed the largest burst: one landed batch of up to
    /// BATCH_MAX_MESSAGES readings is published at once.
    #[arg(long, env = "STREAM_CLIENT_BUFFER", default_value_t = 16_384, value_parser = clap::value_parser!(u32).range(16..=1_000_000))]
    pub stream_client_buffer: u32,
    /// Seconds between heartbeat comments on an idle stream, so that proxies keep it open.
    #[arg(long, env = "STREAM_HEARTBEAT", default_value = "15", value_parser = parse_seconds)]
    pub stream_heartbeat: Duration,
    /// Stream clients this replica serves at once; beyond, 503.
    #[arg(long, env = "STREAM_MAX_CLIENTS", default_value_t = 5000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub stream_max_clients: u32,
    /// Who may read patient data: `jwt` (bearer tokens from an OpenID
    /// provider) or `none` (anyone: demos only, announced with a warning).
    #[arg(long, env = "AUTH_MODE", value_enum, default_value_t = AuthMode::Jwt)]
    pub auth_mode: AuthMode,
    /// The provider's JSON Web Key Set, e.g.
    /// https://sso.example.org/realms/icu/protocol/openid-connect/certs.
    #[arg(long, env = "AUTH_JWKS_URL", value_parser = parse_http_url)]
    pub auth_jwks_url: Option<String>,
    /// The `iss` every token must carry (the provider's issuer URL).
    #[arg(long, env = "AUTH_ISSUER")]
    pub auth_issuer: Option<String>,
    /// An `aud` every token must carry (this API's client id or audience).
    #[arg(long, env = "AUTH_AUDIENCE")]
    pub auth_audience: Option<String>,
    /// Seconds of clock difference tolerated on `exp` and `nbf`.
    #[arg(long, env = "AUTH_LEEWAY", default_value_t = 30, value_parser = clap::value_parser!(u64).range(0..=300))]
    pub auth_leeway: u64,
    /// The claim holding the caller's roles, a dotted path for nested claims
    /// (Keycloak: `realm_access.roles`). `clinician` sees every patient,
    /// `patient` only their own.
    #[arg(long, env = "AUTH_ROLES_CLAIM", default_value = "roles", value_parser = parse_claim_path)]
    pub auth_roles_claim: String,
    /// The claim holding a `patient`'s own patient UUID (dotted path allowed).
    #[arg(long, env = "AUTH_PATIENT_CLAIM", default_value = "patient_id", value_parser = parse_claim_path)]
    pub auth_patient_claim: String,
    /// Seconds between two fetches of the key set at least: a token naming an
    /// unknown key refreshes it, but a flood of made-up key ids cannot make
    /// this service hammer the provider.
    #[arg(long, env = "AUTH_JWKS_MIN_REFRESH", default_value = "30", value_parser = parse_seconds)]
    pub auth_jwks_min_refresh: Duration,
    /// Public OAuth client id the ward page logs in with (authorization
    /// code + PKCE against `AUTH_ISSUER`); empty: the page cannot log in.
    #[arg(long, env = "AUTH_CLIENT_ID", default_value = "", value_parser = parse_client_id)]
    pub auth_client_id: String,
    /// Scopes the ward page asks for when it logs in, space-separated;
    /// `openid` is required (the page checks the ID token's nonce).
    #[arg(long, env = "AUTH_SCOPES", default_value = "openid profile", value_parser = parse_scopes)]
    pub auth_scopes: String,
    /// Debug logging.
    #[arg(long, env = "DEBUG")]
    pub debug: bool,
}

/// How the API decides who may read patient data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AuthMode {
    /// Bearer JWTs validated against the provider's keys.
    Jwt,
    /// Everyone may read everything: demos and tests only.
    None,
}

impl Config {
    /// A patient with no reading for this long is stale: three missed intervals.
    pub fn stale_after(&self) -> Duration {
        self.metrics_interval * 3
    }
}

/// Which browser origins may read the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsOrigins {
    None,
    Any,
    List(Vec<HeaderValue>),
}

fn parse_origins(text: &str) -> Result<CorsOrigins, String> {
    let origins: Vec<&str> = text.split(',').map(str::trim).filter(|o| !o.is_empty()).collect();
    if origins.is_empty() {
        return Ok(CorsOrigins::None);
    }
    if origins.contains(&"*") {
        if origins.len() > 1 {
            return Err("`*` allows every origin and cannot be combined with others".into());
        }
        return Ok(CorsOrigins::Any);
    }
    let mut list = Vec::with_capacity(origins.len());
    for origin in origins {
        let Some((scheme, host)) = origin.split_once("://") else {
            return Err(format!("{origin:?} is not an origin like https://ward.example.org"));
        };
        if !matches!(scheme, "http" | "https") || host.is_empty() || host.contains('/') {
            return Err(format!("{origin:?} is not an origin like https://ward.example.org (scheme, host, port only)"));
        }
        list.push(HeaderValue::from_str(origin).map_err(|_| format!("{origin:?} is not a valid header value"))?);
    }
    Ok(CorsOrigins::List(list))
}

fn parse_http_url(text: &str) -> Result<String, String> {
    let rest = text.strip_prefix("https://").or_else(|| text.strip_prefix("http://"));
    match rest {
        Some(rest) if !rest.is_empty() && !rest.starts_with('/') => Ok(text.to_owned()),
        _ => Err(format!("{text:?} is not an http(s) URL like https://sso.example.org/certs")),
    }
}

/// RFC 6749 appendix A.1: a client id is printable ASCII (VSCHAR).
fn parse_client_id(text: &str) -> Result<String, String> {
    if text.chars().all(|c| (' '..='~').contains(&c)) && text.trim() == text {
        Ok(text.to_owned())
    } else {
        Err(format!("{text:?} is not an OAuth client id (printable ASCII, no surrounding spaces)"))
    }
}

/// RFC 6749 section 3.3: scope tokens of NQCHAR, separated by one space;
/// `openid` among them, or the provider issues no ID token to check.
fn parse_scopes(text: &str) -> Result<String, String> {
    let nqchar = |c: char| c == '!' || ('#'..='[').contains(&c) || (']'..='~').contains(&c);
    let scopes: Vec<&str> = text.split(' ').filter(|s| !s.is_empty()).collect();
    if let Some(bad) = scopes.iter().find(|s| !s.chars().all(nqchar)) {
        return Err(format!("{bad:?} is not a scope (printable ASCII without spaces, quotes or backslashes)"));
    }
    if !scopes.contains(&"openid") {
        return Err(format!("{text:?} lacks the scope `openid` (the page needs an ID token to log in)"));
    }
    Ok(scopes.join(" "))
}

fn parse_claim_path(text: &str) -> Result<String, String> {
    if text.is_empty() || text.split('.').any(str::is_empty) {
        return Err(format!("{text:?} is not a claim name or dotted path like realm_access.roles"));
    }
    Ok(text.to_owned())
}

fn parse_seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text.trim().parse().map_err(|_| format!("{text:?} is not a number of seconds"))?;
    // A millisecond at least: timers cannot tick at zero.
    if !(seconds.is_finite() && (0.001..=86_400.0).contains(&seconds)) {
        return Err(format!("{text:?} must be from 0.001 to 86400 seconds"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn parse(args: &[&str]) -> Result<Config, clap::Error> {
        let mut all = vec!["monitor-service", "--database-url", "postgres://ward:s3cret@db:5432/icu"];
        all.extend_from_slice(&[
            "--auth-jwks-url",
            "https://sso.example/certs",
            "--auth-issuer",
            "https://sso.example",
        ]);
        all.extend_from_slice(&["--auth-audience", "icu-monitor"]);
        all.extend_from_slice(args);
        Config::try_parse_from(all)
    }

    #[test]
    fn access_control_is_on_by_default_and_needs_its_provider() {
        assert_eq!(parse(&[]).unwrap().auth_mode, AuthMode::Jwt);
        let bare = ["monitor-service", "--database-url", "postgres://db/icu"];
        let error = crate::auth::Authenticator::from_config(&Config::try_parse_from(bare).unwrap()).err().unwrap();
        for missing in ["AUTH_JWKS_URL", "AUTH_ISSUER", "AUTH_AUDIENCE"] {
            assert!(error.to_string().contains(missing), "{missing} is named: {error}");
        }
        let open = Config::try_parse_from(bare.iter().chain(&["--auth-mode", "none"])).unwrap();
        assert_eq!(open.auth_mode, AuthMode::None);
        let config = parse(&[]).unwrap();
        assert_eq!((config.auth_roles_claim.as_str(), config.auth_patient_claim.as_str()), ("roles", "patient_id"));
        assert_eq!((config.auth_leeway, config.auth_jwks_min_refresh), (30, Duration::from_secs(30)));
        for (args, expected) in [
            (&["--auth-jwks-url", "sso.example/certs"][..], "is not an http(s) URL"),
            (&["--auth-roles-claim", "realm_access..roles"][..], "dotted path"),
            (&["--auth-leeway", "3600"][..], "auth-leeway"),
        ] {
            let all = [
                "monitor-service",
                "--database-url",
                "postgres://db/icu",
                "--auth-issuer",
                "https://sso.example",
                "--auth-audience",
                "icu",
            ];
            let mut all = all.to_vec();
            if args[0] != "--auth-jwks-url" {
                all.extend_from_slice(&["--auth-jwks-url", "https://sso.example/certs"]);
            }
            all.extend_from_slice(args);
            let error = Config::try_parse_from(all).unwrap_err().to_string();
            assert!(error.contains(expected), "{args:?}: {error}");
        }
    }

    #[test]
    fn the_pages_login_settings_parse_or_say_why_not() {
        let config = parse(&[]).unwrap();
        assert_eq!((config.auth_client_id.as_str(), config.auth_scopes.as_str()), ("", "openid profile"));
        let config = parse(&["--auth-client-id", "icu-ward", "--auth-scopes", " openid  profile email "]).unwrap();
        assert_eq!((config.auth_client_id.as_str(), config.auth_scopes.as_str()), ("icu-ward", "openid profile email"));
        for (args, expected) in [
            (&["--auth-client-id", "ward\u{7f}"][..], "not an OAuth client id"),
            (&["--auth-client-id", "wärd"][..], "not an OAuth client id"),
            (&["--auth-client-id", " ward"][..], "not an OAuth client id"),
            (&["--auth-scopes", "profile email"][..], "lacks the scope `openid`"),
            (&["--auth-scopes", "openid pro\"file"][..], "is not a scope"),
            (&["--auth-scopes", ""][..], "lacks the scope `openid`"),
        ] {
            let error = parse(args).unwrap_err().to_string();
            assert!(error.contains(expected), "{args:?}: {error}");
        }
    }

    #[test]
    fn defaults_follow_the_original_assignment() {
        let config = parse(&[]).unwrap();
        assert_eq!(config.port, 8002);
        assert_eq!(config.api_prefix, "/api/v1");
        assert_eq!(config.metrics_interval, Duration::from_secs(5));
        assert_eq!(config.stale_after(), Duration::from_secs(15));
        assert_eq!(config.cors_origins, CorsOrigins::None);
        assert!(config.ward_gauges);
        assert_eq!(config.ward_gauges_max_patients, 1000);
    }

    #[test]
    fn ward_gauges_turn_off_with_any_usual_spelling() {
        for off in ["false", "off", "0", "no"] {
            assert!(!parse(&["--ward-gauges", off]).unwrap().ward_gauges, "{off}");
        }
        assert!(parse(&["--ward-gauges", "on"]).unwrap().ward_gauges);
        assert!(parse(&["--ward-gauges", "maybe"]).is_err());
        assert!(parse(&["--ward-gauges-max-patients", "0"]).is_err());
    }

    #[test]
    fn the_password_never_shows_in_debug_or_display() {
        let config = parse(&[]).unwrap();
        let shown = format!("{config:?} {}", config.database_url);
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("postgres://ward:***@db:5432/icu"), "{shown}");
        let in_query: DatabaseUrl = "postgres://db/icu?user=ward&password=s3cret".parse().unwrap();
        assert!(!format!("{in_query:?}").contains("s3cret"));
    }

    #[test]
    fn bad_values_stop_the_start_with_one_clear_line() {
        for (args, expected) in [
            (&["--metrics-interval", "0"][..], "from 0.001 to 86400"),
            (&["--page-cache-heartbeat", "1e-10"][..], "from 0.001 to 86400"),
            (&["--metrics-interval", "soon"][..], "not a number"),
            (&["--api-prefix", "api"][..], "must start with"),
            (&["--api-prefix", "/:v1"][..], "only letters, digits"),
            (&["--api-prefix", "/{x}"][..], "only letters, digits"),
            (&["--cors-origins", "*,https://a.example"][..], "cannot be combined"),
            (&["--cors-origins", "ward.example"][..], "is not an origin"),
            (&["--db-pool-size", "0"][..], "db-pool-size"),
        ] {
            let error = parse(args).unwrap_err().to_string();
            assert!(error.contains(expected), "{args:?}: {error}");
        }
        let error = Config::try_parse_from(["monitor-service", "--database-url", "mysql://x:s3cret@y/z"])
            .unwrap_err()
            .to_string();
        assert!(error.contains("not a PostgreSQL URL") && !error.contains("s3cret"), "{error}");
    }

    #[test]
    fn origins_prefix_and_fractional_intervals_parse() {
        let config = parse(&[
            "--cors-origins",
            "https://a.example, http://b.example:8080",
            "--api-prefix",
            "/ward/",
            "--metrics-interval",
            "0.3",
        ])
        .unwrap();
        assert_eq!(
            config.cors_origins,
            CorsOrigins::List(vec![
                HeaderValue::from_static("https://a.example"),
                HeaderValue::from_static("http://b.example:8080")
            ])
        );
        assert_eq!(config.api_prefix, "/ward");
        assert_eq!(config.metrics_interval, Duration::from_millis(300));
        assert_eq!(parse(&["--cors-origins", "*"]).unwrap().cors_origins, CorsOrigins::Any);
    }
}
