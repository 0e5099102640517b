//! What every service's HTTP surface gets, applied in one place: a span per
//! request, RED metrics with bounded labels, and failures logged with their
//! cause.
//!
//! Everything is attached with `Router::layer`, which axum applies to each
//! route (and the fallback) *after* routing, so the route template
//! (`MatchedPath`) is known to the span and the metrics; a request no route
//! matched is labelled [`UNMATCHED`].

mod failures;
mod labels;
mod metrics;
mod span;

use axum::Router;
use axum::middleware;
use tower_http::trace::TraceLayer;

pub use failures::ErrorCause;
pub use labels::{UNMATCHED, method_label, route_label};
pub use metrics::{HttpMetrics, register_build_info};
pub use span::{record_status, request_span};

/// Wraps every route of `router` (call it once all routes and the fallback
/// are in place: routes added later are not covered). Outermost first: the
/// request's span, its `traceparent` on the response, the metrics, the failure log.
pub fn instrument(router: Router, metrics: HttpMetrics) -> Router {
    router
        .layer(middleware::from_fn(failures::log_failures))
        .layer(middleware::from_fn_with_state(metrics, metrics::track))
        // Inside the request's span, so the response names it.
        .layer(middleware::map_response(crate::propagation::answer_with_traceparent))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_response(record_status)
                // Failures are logged with their cause by `log_failures`.
                .on_failure(()),
        )
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Method, Request, StatusCode};
    use axum::routing::get;
    use prometheus_client::registry::Registry;
    use tower::ServiceExt as _;

    use super::*;

    fn series(registry: &Registry, name: &str) -> Vec<String> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, registry).unwrap();
        text.lines().filter(|line| line.starts_with(name)).map(str::to_owned).collect()
    }

    #[tokio::test]
    async fn invented_methods_and_paths_add_no_series() {
        let mut registry = Registry::default();
        let metrics = HttpMetrics::register(&mut registry);
        let app = instrument(Router::new().route("/patients/{uuid}", get(|| async { "ok" })), metrics);
        let call = |method: Method, path: String| {
            let app = app.clone();
            async move {
                app.oneshot(Request::builder().method(method).uri(path).body(Body::empty()).unwrap()).await.unwrap()
            }
        };
        assert_eq!(call(Method::GET, "/patients/a".into()).await.status(), StatusCode::OK);
        for i in 0..50 {
            let invented = Method::from_bytes(format!("BREW{i}").as_bytes()).unwrap();
            assert_eq!(call(invented, format!("/patients/{i}")).await.status(), StatusCode::METHOD_NOT_ALLOWED);
            assert_eq!(call(Method::GET, format!("/nowhere/{i}")).await.status(), StatusCode::NOT_FOUND);
        }
        let mut requests = series(&registry, "icu_http_requests_total");
        requests.sort();
        let mut expected = [
            r#"icu_http_requests_total{method="GET",route="/patients/{uuid}",status="200"} 1"#,
            r#"icu_http_requests_total{method="other",route="/patients/{uuid}",status="405"} 50"#,
            r#"icu_http_requests_total{method="GET",route="unmatched",status="404"} 50"#,
        ]
        .map(str::to_owned);
        expected.sort();
        assert_eq!(requests, expected);
        let durations = series(&registry, "icu_http_request_duration_seconds_count");
        assert_eq!(durations.len(), 3, "{durations:#?}");
    }

    #[test]
    fn build_info_names_the_service_and_version() {
        let mut registry = Registry::default();
        register_build_info(&mut registry, "monitor-service", "1.2.3");
        assert_eq!(
            series(&registry, "icu_build_info"),
            [r#"icu_build_info{service="monitor-service",version="1.2.3"} 1"#]
        );
    }
}
