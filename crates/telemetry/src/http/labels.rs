//! Label values a client can influence, each from a fixed set: an invented
//! method, path or status can never add a series.

use axum::extract::MatchedPath;
use axum::http::{Method, Request, StatusCode};
use prometheus_client::encoding::{EncodeLabelValue, LabelValueEncoder};

/// The route of a request that matched none (404s of unknown paths).
pub const UNMATCHED: &str = "unmatched";

/// The request's method if it is one HTTP defines for APIs, else `other`.
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// The route template the request matched (`/api/v1/patients/{uuid}`, one
/// value per route, never per patient), or [`UNMATCHED`].
pub fn route_label<B>(request: &Request<B>) -> &str {
    request.extensions().get::<MatchedPath>().map_or(UNMATCHED, MatchedPath::as_str)
}

/// A response status: its code when HTTP names it (a fixed table), else its
/// class (`5xx`).
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum StatusLabel {
    Code(u16),
    Class(u16),
}

impl From<StatusCode> for StatusLabel {
    fn from(status: StatusCode) -> Self {
        match status.canonical_reason() {
            Some(_) => StatusLabel::Code(status.as_u16()),
            None => StatusLabel::Class(status.as_u16() / 100),
        }
    }
}

impl EncodeLabelValue for StatusLabel {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> std::fmt::Result {
        use std::fmt::Write as _;
        match self {
            StatusLabel::Code(code) => write!(encoder, "{code}"),
            StatusLabel::Class(class) => write!(encoder, "{class}xx"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invented_methods_are_other() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::CONNECT), "other");
        assert_eq!(method_label(&Method::from_bytes(b"BREW").unwrap()), "other");
    }

    #[test]
    fn unnamed_statuses_are_their_class() {
        assert_eq!(StatusLabel::from(StatusCode::NOT_FOUND), StatusLabel::Code(404));
        assert_eq!(StatusLabel::from(StatusCode::from_u16(599).unwrap()), StatusLabel::Class(5));
        assert_eq!(StatusLabel::from(StatusCode::from_u16(799).unwrap()), StatusLabel::Class(7));
    }
}
