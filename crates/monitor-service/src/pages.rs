//! The ward's screen: the ward page (`/`) and a patient page
//! (`/patients/{uuid}`), outside `API_PREFIX`. Plain HTML, CSS and
//! JavaScript plus one small chart library (uPlot, vendored), every byte
//! embedded in the binary: no CDN, no internet, nothing to install. The
//! pages read only the REST routes and the live stream.

use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::Path;
use axum::extract::rejection::PathRejection;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use vitals::news2;

use crate::error::ApiError;

/// An embedded asset: name under `/assets/`, content type, bytes.
const ASSETS: &[(&str, &str, &[u8])] = &[
    ("ward.css", "text/css; charset=utf-8", include_bytes!("../assets/ward.css")),
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

const WARD_HTML: &str = include_str!("../assets/ward.html");
const PATIENT_HTML: &str = include_str!("../assets/patient.html");

/// Where the patient page is served: `/patients/{uuid}`, or
/// `/ward/patients/{uuid}` when `API_PREFIX` is empty (the API's own
/// `/patients/{uuid}` is then at that path).
pub fn patient_page_base(prefix: &str) -> &'static str {
    if prefix.is_empty() { "/ward/patients/" } else { "/patients/" }
}

/// The pages and their assets. The HTML is filled in once, here, with what
/// the scripts need to know about this service.
pub fn router<S: Clone + Send + Sync + 'static>(prefix: &str, stale_after: Duration) -> Router<S> {
    let fill = |html: &str| {
        Bytes::from(
            html.replace("{{API_PREFIX}}", prefix)
                .replace("{{STALE_AFTER_MS}}", &stale_after.as_millis().to_string())
                .replace("{{PATIENT_PAGE}}", patient_page_base(prefix)),
        )
    };
    let (ward, patient) = (fill(WARD_HTML), fill(PATIENT_HTML));
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
}
