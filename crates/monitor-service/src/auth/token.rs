//! Verifying a bearer JWT and reading who it names: signature by a key the
//! provider publishes (asymmetric algorithms only), issuer, audience,
//! `exp`/`nbf` with a small leeway; then roles and the patient claim.

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Validation, decode, decode_header};
use serde_json::Value;
use uuid::Uuid;

use super::AuthError;
use super::keys::{ASYMMETRIC, KeySet};
use crate::config::Config;

/// What a caller may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Every patient: a clinician (or anyone, with `AUTH_MODE=none`).
    Ward,
    /// Only this patient's record.
    Patient(Uuid),
}

/// The caller: the token's subject (none without access control) and access.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub subject: Option<String>,
    pub access: Access,
}

pub const CLINICIAN: &str = "clinician";
pub const PATIENT: &str = "patient";

/// Where the roles and the patient's UUID are in a token's claims.
#[derive(Debug, Clone)]
pub struct ClaimPaths {
    pub roles: Vec<String>,
    pub patient: Vec<String>,
}

impl ClaimPaths {
    pub fn new(roles: &str, patient: &str) -> Self {
        let split = |path: &str| path.split('.').map(str::to_owned).collect();
        ClaimPaths { roles: split(roles), patient: split(patient) }
    }

    /// The principal a verified token's claims name. A token that grants
    /// neither role, or the patient role without a patient, is refused (403:
    /// the caller is known, but may read nothing).
    pub fn principal(&self, claims: &Value) -> Result<Principal, AuthError> {
        let subject = claims.get("sub").and_then(Value::as_str).map(str::to_owned);
        let roles: Vec<&str> = match lookup(claims, &self.roles) {
            Some(Value::Array(roles)) => roles.iter().filter_map(Value::as_str).collect(),
            // Some providers put space-separated roles in one string.
            Some(Value::String(roles)) => roles.split(' ').collect(),
            _ => Vec::new(),
        };
        if roles.contains(&CLINICIAN) {
            return Ok(Principal { subject, access: Access::Ward });
        }
        if roles.contains(&PATIENT) {
            let patient = lookup(claims, &self.patient).and_then(Value::as_str).and_then(|p| Uuid::try_parse(p).ok());
            return match patient {
                Some(patient) => Ok(Principal { subject, access: Access::Patient(patient) }),
                None => Err(AuthError::Forbidden("the token has the patient role but names no patient UUID")),
            };
        }
        Err(AuthError::Forbidden("the token grants no role that may read patient data (clinician or patient)"))
    }
}

fn lookup<'a>(claims: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(claims, |value, part| value.get(part))
}

pub struct Verifier {
    keys: KeySet,
    issuer: String,
    audience: String,
    leeway: u64,
    claims: ClaimPaths,
}

impl Verifier {
    pub fn from_config(config: &Config) -> anyhow::Result<Verifier> {
        let (Some(jwks_url), Some(issuer), Some(audience)) =
            (&config.auth_jwks_url, &config.auth_issuer, &config.auth_audience)
        else {
            let missing: Vec<&str> = [
                (config.auth_jwks_url.is_none(), "AUTH_JWKS_URL"),
                (config.auth_issuer.is_none(), "AUTH_ISSUER"),
                (config.auth_audience.is_none(), "AUTH_AUDIENCE"),
            ]
            .into_iter()
            .filter_map(|(missing, name)| missing.then_some(name))
            .collect();
            anyhow::bail!(
                "AUTH_MODE=jwt (the default) needs {}; AUTH_MODE=none turns access control off (demos only)",
                missing.join(", ")
            );
        };
        Ok(Verifier::new(
            KeySet::new(jwks_url.clone(), config.auth_jwks_min_refresh)?,
            issuer,
            audience,
            config.auth_leeway,
            ClaimPaths::new(&config.auth_roles_claim, &config.auth_patient_claim),
        ))
    }

    /// Verifies tokens signed by `keys`, for `audience` from `issuer`, `leeway` seconds either side of their lifetime.
    pub fn new(keys: KeySet, issuer: &str, audience: &str, leeway: u64, claims: ClaimPaths) -> Verifier {
        Verifier { keys, issuer: issuer.to_owned(), audience: audience.to_owned(), leeway, claims }
    }

    pub async fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let header = decode_header(token).map_err(|e| AuthError::Invalid(describe(e.kind())))?;
        if !ASYMMETRIC.contains(&header.alg) {
            return Err(AuthError::Invalid(format!("{:?} signatures are not accepted", header.alg)));
        }
        let key = self.keys.find(header.kid.as_deref(), header.alg).await?;
        if !key.algorithms.contains(&header.alg) {
            return Err(AuthError::Invalid(format!("the key does not sign with {:?}", header.alg)));
        }
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = self.leeway;
        let data = decode::<Value>(token, &key.key, &validation).map_err(|e| AuthError::Invalid(describe(e.kind())))?;
        self.claims.principal(&data.claims)
    }
}

/// A short reason for the 401's `error_description`, never the token.
fn describe(kind: &ErrorKind) -> String {
    match kind {
        ErrorKind::ExpiredSignature => "the token has expired".into(),
        ErrorKind::ImmatureSignature => "the token is not valid yet".into(),
        ErrorKind::InvalidIssuer => "the token is from another issuer".into(),
        ErrorKind::InvalidAudience => "the token is for another audience".into(),
        ErrorKind::InvalidSignature => "the signature does not verify".into(),
        ErrorKind::InvalidAlgorithm => "the algorithm does not match the key".into(),
        ErrorKind::MissingRequiredClaim(claim) => format!("the token has no {claim} claim"),
        ErrorKind::InvalidClaimFormat(claim) => format!("the {claim} claim is malformed"),
        _ => "the token is malformed".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn roles_and_patient_come_from_the_configured_claims() {
        let p = Uuid::new_v4();
        let plain = ClaimPaths::new("roles", "patient_id");
        let clinician = plain.principal(&json!({"sub": "dr-a", "roles": ["clinician"]})).unwrap();
        assert_eq!(clinician, Principal { subject: Some("dr-a".into()), access: Access::Ward });
        let patient = plain.principal(&json!({"sub": "pat", "roles": ["patient"], "patient_id": p})).unwrap();
        assert_eq!(patient.access, Access::Patient(p));
        assert_eq!(plain.principal(&json!({"roles": "user clinician"})).unwrap().access, Access::Ward);

        let keycloak = ClaimPaths::new("realm_access.roles", "ward.patient");
        let claims = json!({"realm_access": {"roles": ["offline_access", "patient"]}, "ward": {"patient": p}});
        assert_eq!(keycloak.principal(&claims).unwrap().access, Access::Patient(p));
        assert!(keycloak.principal(&json!({"roles": ["clinician"]})).is_err(), "only the configured path counts");
    }

    #[test]
    fn no_role_or_no_patient_is_forbidden() {
        let plain = ClaimPaths::new("roles", "patient_id");
        for claims in [
            json!({"sub": "x"}),
            json!({"roles": ["nurse-manager"]}),
            json!({"roles": ["patient"]}),
            json!({"roles": ["patient"], "patient_id": "not-a-uuid"}),
            json!({"roles": [["clinician"]]}),
        ] {
            let error = plain.principal(&claims).unwrap_err();
            assert_eq!(error.status(), axum::http::StatusCode::FORBIDDEN, "{claims}");
        }
    }
}
