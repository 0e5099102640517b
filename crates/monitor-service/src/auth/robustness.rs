//! What must hold of any `Authorization` header monitor-service receives:
//! the property the fuzz target `authorization` (`fuzz/`, `make fuzz`)
//! checks, and the stable test `tests/fuzz_regressions.rs` replays every kept
//! finding through.
//!
//! The input goes the request's way (header, bearer token, JWT header and
//! key lookup, signature, claims) against a fixed key set (no network), and,
//! when it is JSON, through the claims reading alone, which a fuzzer cannot
//! reach through a signature it cannot forge. Whatever the bytes, the answer
//! is a principal or a 401/403 problem, never a panic, never a 5xx.
//!
//! A violated property panics: that is how libFuzzer learns of it.

use std::sync::OnceLock;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::IntoResponse;

use super::keys::{KeySet, parse_key_set};
use super::token::{ClaimPaths, Principal, Verifier};
use super::{AuthError, bearer_token, parse_authorization};
use crate::error::ApiError;

/// Issuer and audience the seed tokens are minted for (`fuzz/seeds/mint.py`).
pub const ISSUER: &str = "https://sso.icu.test/realms/ward";
pub const AUDIENCE: &str = "icu-monitor";

/// The public halves of the test keys in `fuzz/seeds/mint.py` (EC P-256,
/// Ed25519, RSA): published test keys, never a provider's.
pub const JWKS: &str = r#"{"keys": [{"kty": "EC", "crv": "P-256", "kid": "ec", "use": "sig", "x": "3ZUWwWUO_TvjXNZbCGjYBh7KJbDNmGrItQ1Ke5OUEXI", "y": "41UReLDI28_3bWixwVsBk10_gbsi8mHMmYvgWPeemqE"}, {"kty": "OKP", "crv": "Ed25519", "kid": "ed", "alg": "EdDSA", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}, {"kty": "RSA", "kid": "rsa", "n": "0pKSa61ArGUgQZEimg4yxU8HoF06gayEL23zM_Hzj4yqaW87rjMkH_k5Etn_DY7OdN4vHLBlhY7MktsqeRVFXXKeva2vMMRgbV3f4xoXAJpTaML94hHjEGlNnoVphFENqPTl5cSmVH3JyZcBn8dOKpuCYeXnUQIL21nPw804NhKNzu1XfDq1PM4EAjAUeCE1qGxuarH0goeyOHqx8FHD9GGiGVrR9on6bAAL3SQ5DaKCtJQP05yrlCljWkWYbTb7Sz0hEOMmalbby2BVmxj1gQ-Oa6J6TdHzq90_3bNfbE3ZDDHhxMXScPqhiQaVwTxCSN-brGIzEwt4FimJD8c9mQ", "e": "AQAB"}]}"#;

fn verifier() -> &'static Verifier {
    static VERIFIER: OnceLock<Verifier> = OnceLock::new();
    VERIFIER.get_or_init(|| {
        let keys = parse_key_set(JWKS.as_bytes()).unwrap_or_default();
        assert_eq!(keys.len(), 3, "the fixed key set holds three usable keys");
        let keys = KeySet::fixed(keys).unwrap_or_else(|e| panic!("no HTTP client: {e}"));
        Verifier::new(keys, ISSUER, AUDIENCE, 30, ClaimPaths::new("roles", "patient_id"))
    })
}

/// The answer to a request with `data` as its `Authorization` header, with
/// the fixed key set: the principal, or why not.
pub fn answer(data: &[u8]) -> Result<Principal, AuthError> {
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_bytes(data) {
        headers.insert(header::AUTHORIZATION, value);
    }
    let token = bearer_token(&headers)?;
    futures::executor::block_on(verifier().verify(token))
}

/// Runs `data` through the header path and the claims; panics if a property fails.
pub fn check_authorization(data: &[u8]) {
    let parsed = parse_authorization(data);
    if let Ok(token) = parsed {
        assert!(!token.is_empty() && token.is_ascii(), "a bearer token is non-empty ASCII");
    }
    // What the server sees parses as the bytes do (a header value cannot hold
    // every byte: those never reach the service).
    if let Ok(value) = HeaderValue::from_bytes(data) {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, value);
        assert_eq!(
            bearer_token(&headers).map(str::to_owned),
            parsed.map(str::to_owned),
            "header and bytes parse alike"
        );
    }
    match answer(data) {
        Ok(principal) => assert!(principal.subject.is_some(), "a verified token names its subject"),
        Err(error) => check_refusal(error),
    }

    if let Ok(claims) = serde_json::from_slice::<serde_json::Value>(data) {
        for paths in [ClaimPaths::new("roles", "patient_id"), ClaimPaths::new("realm_access.roles", "ward.patient")] {
            if let Err(error) = paths.principal(&claims) {
                assert_eq!(error.status(), StatusCode::FORBIDDEN, "claims are refused with 403: {error}");
                check_refusal(error);
            }
        }
    }
}

/// A refusal is a 401 or 403 problem; a 401 carries a valid challenge.
fn check_refusal(error: AuthError) {
    let status = error.status();
    assert!(
        status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN,
        "with its keys at hand, the service refuses with 401/403, not {status}: {error}"
    );
    if let Some(challenge) = error.challenge() {
        assert!(HeaderValue::from_str(&challenge).is_ok(), "the challenge is a valid header value: {challenge:?}");
    }
    let response = ApiError::Auth(error).into_response();
    assert_eq!(response.status(), status);
    assert_eq!(
        response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()),
        Some("application/problem+json")
    );
    if status == StatusCode::UNAUTHORIZED {
        assert!(response.headers().contains_key(header::WWW_AUTHENTICATE), "a 401 carries its challenge");
    }
}
