//! Failed requests logged in one place, with their cause: a handler's error
//! type says *why* by attaching an [`ErrorCause`] to its response, and never
//! logs in `IntoResponse` itself.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;

/// Why a response is an error, for the log only (the client sees the
/// problem document, which never carries internals).
#[derive(Debug, Clone)]
pub struct ErrorCause(pub String);

/// Logs every server error (5xx) with its cause; client errors at debug.
pub(super) async fn log_failures(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    if response.status().is_client_error() || response.status().is_server_error() {
        log_failure(&response);
    }
    response
}

/// Off the path of answered requests, so that only failures pay for its span.
#[cold]
#[tracing::instrument(skip_all)]
fn log_failure(response: &Response) {
    let status = response.status();
    let cause = response.extensions().get::<ErrorCause>().map(|cause| cause.0.as_str());
    if status.is_server_error() {
        tracing::error!(status = status.as_u16(), error = cause, "request failed");
    } else {
        tracing::debug!(status = status.as_u16(), error = cause, "request refused");
    }
}
