//! A sampled request leaves its trace id as an exemplar on the request
//! duration histogram, served by `/metrics` as OpenMetrics; an unsampled one
//! leaves none. Through the same setup a service's `main` makes
//! (`telemetry::init` from `OTEL_*`); its own test binary, since tracing's
//! subscriber is process-wide.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use axum::routing::get;
use prometheus_client::registry::Registry;
use telemetry::http::{HttpMetrics, instrument};
use telemetry::{Readiness, ops_router};
use tower::ServiceExt as _;

mod common;

const SAMPLED: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const UNSAMPLED: &str = "0af7651916cd43dd8448eb211c80319c";

async fn get_text(app: &Router, uri: &str, traceparent: Option<String>) -> (String, String) {
    let mut request = Request::builder().uri(uri);
    if let Some(value) = traceparent {
        request = request.header("traceparent", value);
    }
    let response = app.clone().oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
    assert!(response.status().is_success(), "{uri}: {}", response.status());
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
    (content_type, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn a_sampled_request_leaves_its_trace_id_as_an_exemplar_and_an_unsampled_one_none() {
    // The caller decides: sampled flag on, sampled; off or absent, not.
    let _telemetry = common::traced("parentbased_always_off");
    let mut registry = Registry::default();
    let metrics = HttpMetrics::register(&mut registry);
    let app = Router::new().route("/patients/{uuid}", get(|| async { "ok" }));
    let app = instrument(app.merge(ops_router(Arc::new(registry), Readiness::default())), metrics);
    let exemplars =
        |text: &str| -> Vec<String> { text.lines().filter(|l| l.contains(" # {")).map(str::to_owned).collect() };

    get_text(&app, "/patients/a", Some(format!("00-{UNSAMPLED}-00f067aa0ba902b7-00"))).await;
    get_text(&app, "/patients/a", None).await;
    let (content_type, text) = get_text(&app, "/metrics", None).await;
    assert!(content_type.starts_with("application/openmetrics-text"), "{content_type}");
    assert!(
        text.contains(r#"icu_http_request_duration_seconds_count{method="GET",route="/patients/{uuid}"} 2"#),
        "{text}"
    );
    assert_eq!(exemplars(&text), Vec::<String>::new(), "unsampled requests leave no exemplar");

    get_text(&app, "/patients/b", Some(format!("00-{SAMPLED}-00f067aa0ba902b7-01"))).await;
    let (_, text) = get_text(&app, "/metrics", None).await;
    let found = exemplars(&text);
    assert_eq!(found.len(), 1, "{text}");
    let line = &found[0];
    assert!(line.starts_with("icu_http_request_duration_seconds_bucket{le="), "{line}");
    assert!(line.contains(r#",method="GET",route="/patients/{uuid}"} "#), "{line}");
    // The exemplar holds the trace id and nothing else.
    assert!(line.contains(&format!(r#" # {{trace_id="{SAMPLED}"}} "#)), "{line}");
    assert!(!text.contains(UNSAMPLED));
}
