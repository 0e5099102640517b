//! A request's span continues the caller's trace and the response names it,
//! through the same setup a service's `main` makes (`telemetry::init` from
//! `OTEL_*`). Its own test binary: tracing's subscriber is process-wide.

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use axum::routing::get;
use prometheus_client::registry::Registry;
use telemetry::http::{HttpMetrics, instrument};
use tower::ServiceExt as _;

mod common;

#[tokio::test]
async fn the_response_names_the_request_span_which_continues_the_callers_trace() {
    let _telemetry = common::traced("parentbased_always_on");
    let mut registry = Registry::default();
    let app = instrument(
        Router::new().route("/patients/{uuid}", get(|| async { "ok" })),
        HttpMetrics::register(&mut registry),
    );
    let caller = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    for _ in 0..3 {
        let request = Request::builder().uri("/patients/a").header("traceparent", caller).body(Body::empty()).unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        let answer = response.headers().get("traceparent").expect("a traceparent").to_str().unwrap().to_owned();
        let parts: Vec<&str> = answer.split('-').collect();
        assert_eq!(parts[1], "4bf92f3577b34da6a3ce929d0e0e4736", "{answer}");
        assert_ne!(parts[2], "00f067aa0ba902b7", "the request's own span, not the caller's");
        assert_eq!(parts[3], "01");
    }
    // Without one, the request starts a trace of its own.
    let response = app.oneshot(Request::builder().uri("/patients/a").body(Body::empty()).unwrap()).await.unwrap();
    let answer = response.headers().get("traceparent").expect("a traceparent").to_str().unwrap();
    assert!(!answer.contains("4bf92f3577b34da6a3ce929d0e0e4736"), "{answer}");
}
