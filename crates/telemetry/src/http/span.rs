//! One span per request, named after its route: the place request logs and
//! (later) OpenTelemetry server spans hang from.

use std::time::Duration;

use axum::http::{Request, Response};
use tracing::Span;

use super::labels::{method_label, route_label};

/// The request's span. `otel.name` follows OpenTelemetry's HTTP server
/// convention (`GET /api/v1/patients/{uuid}`); every value is bounded (a
/// route template, a method from a fixed set), never the raw path.
pub fn request_span<B>(request: &Request<B>) -> Span {
    let method = method_label(request.method());
    let route = route_label(request);
    tracing::info_span!(
        "request",
        otel.name = %format_args!("{method} {route}"),
        otel.kind = "server",
        http.request.method = method,
        http.route = route,
        http.response.status_code = tracing::field::Empty,
    )
}

/// Records the response's status on the request's span.
pub fn record_status<B>(response: &Response<B>, _latency: Duration, span: &Span) {
    span.record("http.response.status_code", response.status().as_u16());
}
