//! Every way a control-API request can fail, mapped to a problem response in
//! one place.

use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use telemetry::Problem;
use uuid::Uuid;
use vitals::{Condition, UnknownCondition};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0:?} is not a UUID")]
    InvalidUuid(String),
    #[error("no patient {0} is emulated here")]
    UnknownPatient(Uuid),
    #[error(transparent)]
    UnknownCondition(#[from] UnknownCondition),
    #[error("{0}")]
    InvalidBody(#[from] JsonRejection),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let detail = self.to_string();
        let problem = match self {
            ApiError::InvalidUuid(given) => Problem::new(StatusCode::BAD_REQUEST, "invalid-uuid", detail)
                .with("parameter", "uuid")
                .with("value", given),
            ApiError::UnknownPatient(uuid) => {
                Problem::new(StatusCode::NOT_FOUND, "unknown-patient", detail).with("uuid", uuid.to_string())
            }
            ApiError::UnknownCondition(e) => {
                Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "unknown-condition", detail)
                    .with("value", e.given)
                    .with("allowed", Condition::NAMES.to_vec())
            }
            ApiError::InvalidBody(rejection) => Problem::new(rejection.status(), "invalid-body", rejection.body_text()),
        };
        problem.into_response()
    }
}
