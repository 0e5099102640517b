//! Who is asking, and which patients they may see.
//!
//! With `AUTH_MODE=jwt` every patient route needs a bearer JWT from the
//! OpenID provider: its signature checked against the provider's published
//! keys ([`keys`]), its issuer, audience and lifetime against the
//! configuration ([`token`]). A `clinician` sees the ward, a `patient` only
//! the patient named in their token; every access is audit-logged
//! ([`crate::audit`]). `AUTH_MODE=none` lets anyone read everything and says
//! so at start.

pub mod keys;
pub mod robustness;
pub mod token;

use std::sync::Arc;

use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use uuid::Uuid;

use crate::audit;
use crate::config::{AuthMode, Config};
use crate::error::ApiError;

pub use token::{Access, Principal, Verifier};

/// Longest `Authorization` value considered: real tokens are a few KiB.
pub const MAX_AUTHORIZATION_BYTES: usize = 16 * 1024;

/// Why a caller was not let in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("this route needs a bearer token from the ward's OpenID provider")]
    Missing,
    #[error("the bearer token was refused: {0}")]
    Invalid(String),
    #[error("the provider's signing keys cannot be fetched now; try again")]
    KeysUnavailable,
    #[error("{0}")]
    Forbidden(&'static str),
}

impl AuthError {
    pub fn status(&self) -> StatusCode {
        match self {
            AuthError::Missing | AuthError::Invalid(_) => StatusCode::UNAUTHORIZED,
            AuthError::KeysUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            AuthError::Forbidden(_) => StatusCode::FORBIDDEN,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            AuthError::Missing => "unauthenticated",
            AuthError::Invalid(_) => "invalid-token",
            AuthError::KeysUnavailable => "unavailable",
            AuthError::Forbidden(_) => "forbidden",
        }
    }

    /// The `WWW-Authenticate` challenge of a 401 (RFC 6750 section 3): no
    /// error code when no token was sent, `invalid_token` otherwise.
    pub fn challenge(&self) -> Option<String> {
        match self {
            AuthError::Missing => Some(r#"Bearer realm="icu-monitor""#.to_owned()),
            AuthError::Invalid(reason) => {
                // Quoted-string: the reason is our own text, but keep it safe anyway.
                let reason: String = reason.chars().filter(|c| *c != '"' && *c != '\\' && !c.is_control()).collect();
                Some(format!(r#"Bearer realm="icu-monitor", error="invalid_token", error_description="{reason}""#))
            }
            _ => None,
        }
    }
}

/// The configured way of deciding who the caller is.
pub enum Authenticator {
    Open,
    Jwt(Box<Verifier>),
}

impl Authenticator {
    pub fn from_config(config: &Config) -> anyhow::Result<Authenticator> {
        match config.auth_mode {
            AuthMode::None => {
                tracing::warn!(
                    "AUTH_MODE=none: anyone who reaches this service reads every patient's data; use it for demos only"
                );
                Ok(Authenticator::Open)
            }
            AuthMode::Jwt => Ok(Authenticator::Jwt(Box::new(Verifier::from_config(config)?))),
        }
    }

    /// The caller behind these request headers.
    pub async fn principal(&self, headers: &HeaderMap) -> Result<Principal, AuthError> {
        match self {
            Authenticator::Open => Ok(Principal { subject: None, access: Access::Ward }),
            Authenticator::Jwt(verifier) => verifier.verify(bearer_token(headers)?).await,
        }
    }
}

/// The token of an `Authorization: Bearer …` header (RFC 6750 section 2.1).
/// Another scheme counts as no token at all, as RFC 6750 asks.
pub fn bearer_token(headers: &HeaderMap) -> Result<&str, AuthError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else { return Err(AuthError::Missing) };
    if values.next().is_some() {
        return Err(AuthError::Invalid("more than one Authorization header".into()));
    }
    parse_authorization(value.as_bytes())
}

/// Parses one `Authorization` value (public for the fuzz target).
pub fn parse_authorization(value: &[u8]) -> Result<&str, AuthError> {
    if value.len() > MAX_AUTHORIZATION_BYTES {
        return Err(AuthError::Invalid("the Authorization header is too long".into()));
    }
    let value =
        std::str::from_utf8(value).map_err(|_| AuthError::Invalid("the Authorization header is not text".into()))?;
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::Missing);
    }
    let token = token.trim_matches(' ');
    // b64token of RFC 6750; a JWT uses only base64url and dots.
    let b64token = |c: char| c.is_ascii_alphanumeric() || "-._~+/=".contains(c);
    if token.is_empty() || !token.chars().all(b64token) {
        return Err(AuthError::Invalid("the Authorization header is not `Bearer <token>`".into()));
    }
    Ok(token)
}

/// A request's caller and the route they asked for, set by [`require`].
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    pub route: Arc<str>,
}

impl Caller {
    /// Lets the caller read `patient`'s data, or refuses with 403; audit-logged
    /// either way. An unknown patient is refused like another's record, so a
    /// patient cannot learn who else is on the ward.
    pub fn open(&self, patient: Uuid) -> Result<(), ApiError> {
        let allowed = match self.principal.access {
            Access::Ward => true,
            Access::Patient(own) => own == patient,
        };
        audit::access(&self.principal, Some(patient), &self.route, allowed);
        if allowed {
            Ok(())
        } else {
            Err(ApiError::Auth(AuthError::Forbidden("this token opens only its own patient's record")))
        }
    }

    /// Which patients a list may show: all for the ward, one for a patient.
    /// Audit-logged (a ward-wide read names no single patient).
    pub fn scope(&self) -> Option<Uuid> {
        let only = match self.principal.access {
            Access::Ward => None,
            Access::Patient(own) => Some(own),
        };
        audit::access(&self.principal, only, &self.route, true);
        only
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        // Only a route without the `require` layer lacks it: a wiring bug.
        parts.extensions.get::<Caller>().cloned().ok_or(ApiError::Rejected {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            detail: "this route is not wired to access control".into(),
        })
    }
}

/// Middleware on every patient route: 401/403/503 as problem+json before the
/// handler runs, the [`Caller`] for the handler otherwise.
pub async fn require(State(auth): State<Arc<Authenticator>>, mut request: Request, next: Next) -> Response {
    let route: Arc<str> =
        request.extensions().get::<MatchedPath>().map_or_else(|| Arc::from("unmatched"), |p| Arc::from(p.as_str()));
    match auth.principal(request.headers()).await {
        Ok(principal) => {
            request.extensions_mut().insert(Caller { principal, route });
            next.run(request).await
        }
        Err(error) => {
            audit::refused(&route, &error);
            ApiError::Auth(error).into_response()
        }
    }
}
