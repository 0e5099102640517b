//! The ward's screen: the ward page (`/`) and a patient page
//! (`/patients/{uuid}`), outside `API_PREFIX`. Plain HTML, CSS and
//! JavaScript plus one small chart library (uPlot, vendored), every byte
//! embedded in the binary: no CDN, no internet, nothing to install. The
//! pages read only the REST routes and the live stream.

use axum::Router;
use axum::body::Bytes;
use axum::extract::Path;
use axum::extract::rejection::PathRejection;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use vitals::news2;

use crate::config::{AuthMode, Config};
use crate::error::ApiError;

/// An embedded asset: name under `/assets/`, content type, bytes.
const ASSETS: &[(&str, &str, &[u8])] = &[
    ("ward.css", "text/css; charset=utf-8", include_bytes!("../assets/ward.css")),
    ("auth.js", "text/javascript; charset=utf-8", include_bytes!("../assets/auth.js")),
    ("screen.js", "text/javascript; charset=utf-8", include_bytes!("../assets/screen.js")),
    ("ward.js", "text/javascript; charset=utf-8", include_bytes!("../assets/ward.js")),
    ("patient.js", "text/javascript; charset=utf-8", include_bytes!("../assets/patient.js")),
    (
        "uPlot.iife.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/vendor/uplot-1.6.32/uPlot.iife.min.js"),
    ),
    ("uPlot.min.css", "text/css; charset=utf-8", include_bytes!("../assets/vendor/uplot-1.6.32/uPlot.min.css")),
    ("uPlot.LICENSE.txt", "text/plain; charset=utf-8", include_bytes!("../assets/vendor/uplot-1.6.32/LICENSE")),
];

/// One document for both pages (their head, scripts and login are the
/// same); the script shows the view the path names. One document also lets
/// a login that started on a patient page come back through the single
/// redirect URI (`/`) and show that patient without another navigation,
/// which would lose the token kept in memory.
const SCREEN_HTML: &str = include_str!("../assets/screen.html");

/// Where the patient page is served: `/patients/{uuid}`, or
/// `/ward/patients/{uuid}` when `API_PREFIX` is empty (the API's own
/// `/patients/{uuid}` is then at that path).
pub fn patient_page_base(prefix: &str) -> &'static str {
    if prefix.is_empty() { "/ward/patients/" } else { "/patients/" }
}

/// What the page's scripts need to know about this service and its login,
/// filled into the HTML once. The login settings are public by nature: a
/// public client's id, the issuer's URL and the scopes it asks for.
pub fn fill(html: &str, config: &Config, title: &str) -> String {
    let auth_mode = match config.auth_mode {
        AuthMode::Jwt => "jwt",
        AuthMode::None => "none",
    };
    let issuer = config.auth_issuer.as_deref().unwrap_or_default();
    // Every value is escaped for an attribute: the issuer and client id come
    // from configuration, and a quote in them must not end the attribute.
    html.replace("{{TITLE}}", &attribute(title))
        .replace("{{API_PREFIX}}", &attribute(&config.api_prefix))
        .replace("{{STALE_AFTER_MS}}", &config.stale_after().as_millis().to_string())
        .replace("{{PATIENT_PAGE}}", patient_page_base(&config.api_prefix))
        .replace("{{AUTH_MODE}}", auth_mode)
        .replace("{{AUTH_ISSUER}}", &attribute(issuer))
        .replace("{{AUTH_CLIENT_ID}}", &attribute(&config.auth_client_id))
        .replace("{{AUTH_SCOPES}}", &attribute(&config.auth_scopes))
}

fn attribute(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// The pages and their assets.
pub fn router<S: Clone + Send + Sync + 'static>(config: &Config) -> Router<S> {
    let prefix = config.api_prefix.as_str();
    let ward = Bytes::from(fill(SCREEN_HTML, config, "Ward"));
    let patient = Bytes::from(fill(SCREEN_HTML, config, "Patient"));
    let bands = Bytes::from(news2_bands().to_string());
    Router::new()
        .route("/", get(move || async move { html(ward) }))
        .route(
            &format!("{}{{uuid}}", patient_page_base(prefix)),
            get(move |path: Result<Path<String>, PathRejection>| async move {
                let Path(given) = path.map_err(|e| ApiError::Rejected { status: e.status(), detail: e.body_text() })?;
                uuid::Uuid::try_parse(&given).map_err(|_| ApiError::InvalidUuid { given })?;
                Ok::<_, ApiError>(html(patient))
            }),
        )
        .route("/assets/news2-bands.json", get(move || async move { asset("application/json", bands) }))
        .route("/assets/{name}", get(|Path(name): Path<String>| async move { embedded(&name) }))
}

fn html(body: Bytes) -> Response {
    asset("text/html; charset=utf-8", body)
}

fn asset(content_type: &'static str, body: Bytes) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            // Small and embedded: always revalidated, never stale after an upgrade.
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        ],
        body,
    )
        .into_response()
}

fn embedded(name: &str) -> Result<Response, ApiError> {
    let (_, content_type, bytes) = ASSETS.iter().find(|(n, _, _)| *n == name).ok_or_else(|| ApiError::Rejected {
        status: axum::http::StatusCode::NOT_FOUND,
        detail: format!("no asset {name:?}"),
    })?;
    Ok(asset(content_type, Bytes::from_static(bytes)))
}

/// The NEWS2 score of every value range of each vital, computed from the
/// domain's own scoring functions (the charts draw them; no second copy of
/// the thresholds in JavaScript). `lower`/`upper` are the boundaries halfway
/// between the last value of one range and the first of the next.
pub fn news2_bands() -> Value {
    fn ranges(values: impl Iterator<Item = i64>, score: impl Fn(i64) -> u8, step: f64) -> Value {
        let mut out: Vec<Value> = Vec::new();
        let mut current: Option<(i64, i64, u8)> = None;
        for v in values {
            let s = score(v);
            current = match current {
                Some((from, _, cs)) if cs == s => Some((from, v, s)),
                Some(done) => {
                    out.push(band(done, step));
                    Some((v, v, s))
                }
                None => Some((v, v, s)),
            };
        }
        out.extend(current.map(|done| band(done, step)));
        Value::Array(out)
    }
    fn band((from, to, score): (i64, i64, u8), step: f64) -> Value {
        json!({"lower": (from as f64 - 0.5) * step, "upper": (to as f64 + 0.5) * step, "score": score})
    }
    let small = |v: i64| u16::try_from(v).unwrap_or(u16::MAX);
    json!({
        "pulse": ranges(0..=300, |v| news2::pulse_score(small(v)), 1.0),
        "resp_rate": ranges(0..=100, |v| news2::resp_rate_score(small(v)), 1.0),
        "bp_systolic": ranges(0..=300, |v| news2::systolic_score(small(v)), 1.0),
        "spo2": ranges(0..=100, |v| news2::spo2_scale1_score(u8::try_from(v).unwrap_or(u8::MAX)), 1.0),
        "temperature": ranges(200..=450, |v| news2::temperature_score(v as f64 / 10.0), 0.1),
        "news2": ranges(0..=20, |v| match news2::band(u8::try_from(v).unwrap_or(u8::MAX), false) {
            vitals::news2::RiskBand::Low | vitals::news2::RiskBand::LowMedium => 0,
            vitals::news2::RiskBand::Medium => 2,
            vitals::news2::RiskBand::High => 3,
        }, 1.0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_follow_the_domains_scores() {
        let bands = news2_bands();
        let pulse: Vec<(f64, f64, u64)> = bands["pulse"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| (b["lower"].as_f64().unwrap(), b["upper"].as_f64().unwrap(), b["score"].as_u64().unwrap()))
            .collect();
        assert_eq!(
            pulse,
            vec![
                (-0.5, 40.5, 3),
                (40.5, 50.5, 1),
                (50.5, 90.5, 0),
                (90.5, 110.5, 1),
                (110.5, 130.5, 2),
                (130.5, 300.5, 3)
            ]
        );
        let temperature = &bands["temperature"][2];
        assert!((temperature["lower"].as_f64().unwrap() - 36.05).abs() < 1e-9, "{temperature}");
        assert!((temperature["upper"].as_f64().unwrap() - 38.05).abs() < 1e-9, "{temperature}");
        assert_eq!(bands["news2"][1], json!({"lower": 4.5, "upper": 6.5, "score": 2}));
    }

    #[test]
    fn every_asset_is_embedded_and_the_patient_page_moves_out_of_the_apis_way() {
        for (name, _, bytes) in ASSETS {
            assert!(!bytes.is_empty(), "{name}");
        }
        assert_eq!(patient_page_base("/api/v1"), "/patients/");
        assert_eq!(patient_page_base(""), "/ward/patients/");
    }

    #[test]
    fn configured_values_cannot_break_out_of_their_attribute() {
        assert_eq!(
            attribute(r#"https://sso.example/"><script>x</script>'&"#),
            "https://sso.example/&quot;&gt;&lt;script&gt;x&lt;/script&gt;&#39;&amp;"
        );
    }
}
