//! One span per request, named after its route: the place request logs and
//! the OpenTelemetry server span hang from. A caller's `traceparent` makes
//! it a child of the caller's span.

use std::time::Duration;

use axum::http::{Request, Response};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use super::labels::{method_label, route_label};

/// The request's span. `otel.name` follows OpenTelemetry's HTTP server
/// convention (`GET /api/v1/patients/{uuid}`); every value is bounded (a
/// route template, a method from a fixed set), never the raw path.
pub fn request_span<B>(request: &Request<B>) -> Span {
    let method = method_label(request.method());
    let route = route_label(request);
    let span = tracing::info_span!(
        "request",
        otel.name = %format_args!("{method} {route}"),
        otel.kind = "server",
        http.request.method = method,
        http.route = route,
        http.response.status_code = tracing::field::Empty,
    );
    if crate::otel::enabled() {
        // Right away, before anything enters the span: a span that has
        // started can no longer take a parent. Always set, even to an empty
        // context (a new trace): left unset, the span would take whatever
        // OpenTelemetry context the worker thread happens to hold.
        let parent = crate::propagation::extract_http(request.headers());
        if let Err(e) = span.set_parent(parent) {
            tracing::warn!(error = %e, "the request's traceparent could not be applied");
        }
        crate::propagation::remember_for_response(&span);
    }
    span
}

/// Records the response's status on the request's span.
pub fn record_status<B>(response: &Response<B>, _latency: Duration, span: &Span) {
    span.record("http.response.status_code", response.status().as_u16());
}
