//! Every error the API answers with, and the one place that turns them into
//! RFC 9457 `application/problem+json`. A store error becomes an `ApiError`
//! through one `From` (so a bare `?` maps a pool timeout to 503 like any
//! other path); the cause of a server error travels to the log in the
//! response's extensions (`telemetry::http` logs it), never into the body.

use axum::body::{Body, to_bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use telemetry::Problem;
use telemetry::http::ErrorCause;

/// Why a request could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(
        "{given:?} is not a patient UUID (expected the hyphenated form, e.g. 0b7e4b8e-5c7a-4a47-9f3b-3f1d1c2a9e10)"
    )]
    InvalidUuid { given: String },
    #[error("no patient {0} on this ward")]
    UnknownPatient(uuid::Uuid),
    #[error("{parameter}: {reason}")]
    InvalidParameter { parameter: &'static str, reason: String },
    /// A request axum itself refused (a path or query it could not extract).
    #[error("{detail}")]
    Rejected { status: StatusCode, detail: String },
    #[error("the database is unavailable: {0}")]
    Unavailable(#[source] store::Error),
    #[error("internal error: {0}")]
    Store(#[source] store::Error),
    #[error("internal error: encoding the response: {0}")]
    Encode(#[source] serde_json::Error),
    /// No, a bad, or an insufficient token: 401/403 (503 while the
    /// provider's keys cannot be fetched). Carries no patient data.
    #[error(transparent)]
    Auth(#[from] crate::auth::AuthError),
}

impl ApiError {
    pub fn invalid(parameter: &'static str, reason: impl Into<String>) -> Self {
        ApiError::InvalidParameter { parameter, reason: reason.into() }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::InvalidUuid { .. } | ApiError::InvalidParameter { .. } => StatusCode::BAD_REQUEST,
            ApiError::UnknownPatient(_) => StatusCode::NOT_FOUND,
            ApiError::Rejected { status, .. } => *status,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Store(_) | ApiError::Encode(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Auth(error) => error.status(),
        }
    }

    /// The problem type, a stable slug under `/problems/`.
    pub fn kind(&self) -> &'static str {
        match self {
            ApiError::InvalidUuid { .. } => "invalid-uuid",
            ApiError::UnknownPatient(_) => "unknown-patient",
            ApiError::InvalidParameter { .. } => "invalid-parameter",
            ApiError::Rejected { status, .. } => kind_of_status(*status),
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Store(_) | ApiError::Encode(_) => "internal",
            ApiError::Auth(error) => error.kind(),
        }
    }
}

impl From<store::Error> for ApiError {
    /// "Unavailable" when the database did not answer in time (pool
    /// exhausted or unreachable): a retry may succeed. Anything else is ours.
    fn from(error: store::Error) -> Self {
        match &error {
            store::Error::Database(sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed) => {
                ApiError::Unavailable(error)
            }
            _ => ApiError::Store(error),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let problem = match &self {
            // The cause goes to the log (below); the client learns only that it failed.
            ApiError::Store(_) | ApiError::Unavailable(_) => {
                Problem::new(status, self.kind(), "the ward's database could not answer; try again")
            }
            ApiError::Encode(_) => Problem::new(status, self.kind(), "the response could not be encoded"),
            ApiError::InvalidUuid { .. } => {
                Problem::new(status, self.kind(), self.to_string()).with("parameter", "uuid")
            }
            ApiError::InvalidParameter { parameter, .. } => {
                Problem::new(status, self.kind(), self.to_string()).with("parameter", *parameter)
            }
            ApiError::UnknownPatient(uuid) => {
                Problem::new(status, self.kind(), self.to_string()).with("patient", uuid.to_string())
            }
            ApiError::Rejected { .. } => Problem::new(status, self.kind(), self.to_string()),
            ApiError::Auth(error) => {
                let mut response = Problem::new(status, self.kind(), self.to_string()).into_response();
                if let Some(challenge) = error.challenge().and_then(|c| HeaderValue::from_str(&c).ok()) {
                    response.headers_mut().insert(header::WWW_AUTHENTICATE, challenge);
                }
                return response;
            }
        };
        let mut response = problem.into_response();
        if status.is_server_error() {
            response.extensions_mut().insert(ErrorCause(self.to_string()));
        }
        response
    }
}

fn kind_of_status(status: StatusCode) -> &'static str {
    match status {
        StatusCode::NOT_FOUND => "not-found",
        StatusCode::METHOD_NOT_ALLOWED => "method-not-allowed",
        StatusCode::BAD_REQUEST => "bad-request",
        StatusCode::PAYLOAD_TOO_LARGE => "payload-too-large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported-media-type",
        s if s.is_server_error() => "internal",
        _ => "http-error",
    }
}

/// The safety net under every route: an error response that did not come
/// from [`ApiError`] (axum's 404 for an unknown route, its 405 with `Allow`,
/// a Swagger UI asset that does not exist) is rewritten into problem+json,
/// keeping its status and headers and using its text as the detail.
pub async fn problem_for_plain_errors(response: Response) -> Response {
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"application/problem+json"));
    if !(status.is_client_error() || status.is_server_error()) || is_problem {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = to_bytes(body, 16 * 1024).await.map(|bytes| String::from_utf8_lossy(&bytes).trim().to_owned());
    let detail = match text {
        Ok(text) if !text.is_empty() => text,
        _ => match status {
            StatusCode::NOT_FOUND => "no such route; see /openapi.json or /docs".to_owned(),
            StatusCode::METHOD_NOT_ALLOWED => "method not allowed on this route; see the Allow header".to_owned(),
            _ => status.canonical_reason().unwrap_or("error").to_owned(),
        },
    };
    let problem = ApiError::Rejected { status, detail }.into_response();
    let (problem_parts, problem_body) = problem.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    for (name, value) in &problem_parts.headers {
        parts.headers.insert(name, value.clone());
    }
    Response::from_parts(parts, Body::new(problem_body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool_timeout() -> Result<(), store::Error> {
        Err(store::Error::Database(sqlx::Error::PoolTimedOut))
    }

    #[test]
    fn a_bare_question_mark_answers_a_pool_timeout_with_503() {
        let answer = || -> Result<(), ApiError> {
            pool_timeout()?;
            Ok(())
        };
        let error = answer().unwrap_err();
        assert_eq!(error.status(), StatusCode::SERVICE_UNAVAILABLE, "{error:?}");
        assert_eq!(error.kind(), "unavailable");
        let other: ApiError = store::Error::Database(sqlx::Error::RowNotFound).into();
        assert_eq!(other.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn a_server_error_carries_its_cause_to_the_log_not_to_the_client() {
        let response = ApiError::from(pool_timeout().unwrap_err()).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let cause = response.extensions().get::<ErrorCause>().expect("a cause for the log");
        assert!(cause.0.contains("pool timed out"), "{cause:?}");
        let refused = ApiError::invalid("limit", "too many").into_response();
        assert!(refused.extensions().get::<ErrorCause>().is_none(), "client errors are not ours to log");
    }
}
