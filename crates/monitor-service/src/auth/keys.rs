//! The provider's signing keys (its JWKS), fetched on first use and again
//! when a token names a key not seen yet (the provider rotated its keys), but
//! never more often than the configured floor: a flood of tokens with made-up
//! key ids costs the provider at most one fetch per floor.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;

use super::AuthError;

/// A key set larger than this is refused (real ones are a few KiB).
const MAX_JWKS_BYTES: usize = 256 * 1024;
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// The asymmetric algorithms a token may be signed with. HMAC is never
/// accepted: its "key" would be the provider's public key, which anyone has.
pub const ASYMMETRIC: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// One verification key and the algorithms it may verify.
pub struct VerifyingKey {
    pub kid: Option<String>,
    pub key: DecodingKey,
    pub algorithms: Vec<Algorithm>,
}

impl VerifyingKey {
    /// The key of one JWK, or `None` for a key that cannot verify signatures
    /// here (an encryption key, a symmetric key, an unknown type or curve).
    /// A JWK that declares its `alg` verifies that algorithm only; one that
    /// does not, the asymmetric algorithms of its type.
    pub fn from_jwk(jwk: &Jwk) -> Option<VerifyingKey> {
        if jwk.common.public_key_use.as_ref().is_some_and(|u| *u != PublicKeyUse::Signature) {
            return None;
        }
        let by_type: &[Algorithm] = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => &ASYMMETRIC[..6],
            AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
                EllipticCurve::P256 => &[Algorithm::ES256],
                EllipticCurve::P384 => &[Algorithm::ES384],
                _ => return None,
            },
            AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => &[Algorithm::EdDSA],
            _ => return None,
        };
        let algorithms: Vec<Algorithm> = match jwk.common.key_algorithm {
            Some(declared) => {
                let declared = Algorithm::try_from(declared).ok()?;
                if !by_type.contains(&declared) {
                    return None;
                }
                vec![declared]
            }
            None => by_type.to_vec(),
        };
        let key = DecodingKey::from_jwk(jwk).ok()?;
        Some(VerifyingKey { kid: jwk.common.key_id.clone(), key, algorithms })
    }
}

/// Parses a JWKS document, keeping the keys that can verify signatures.
pub fn parse_key_set(body: &[u8]) -> Result<Vec<Arc<VerifyingKey>>, String> {
    let document: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let keys = document.get("keys").and_then(Value::as_array).ok_or("no `keys` array")?;
    // One malformed or foreign key must not hide the others.
    Ok(keys
        .iter()
        .filter_map(|key| serde_json::from_value::<Jwk>(key.clone()).ok())
        .filter_map(|jwk| VerifyingKey::from_jwk(&jwk))
        .map(Arc::new)
        .collect())
}

#[derive(Default)]
struct Cached {
    keys: Vec<Arc<VerifyingKey>>,
    /// When a fetch was last tried, whether it worked or not.
    tried_at: Option<Instant>,
    /// A fetch worked at least once.
    loaded: bool,
}

pub struct KeySet {
    url: String,
    client: reqwest::Client,
    min_refresh: Duration,
    cached: RwLock<Cached>,
    /// One fetch at a time; requests that missed wait for it and look again.
    fetching: tokio::sync::Mutex<()>,
}

impl KeySet {
    pub fn new(url: String, min_refresh: Duration) -> anyhow::Result<KeySet> {
        let client = reqwest::Client::builder().timeout(FETCH_TIMEOUT).build()?;
        Ok(KeySet { url, client, min_refresh, cached: RwLock::default(), fetching: tokio::sync::Mutex::new(()) })
    }

    /// A key set that is never fetched: these keys, for good (the fuzz
    /// target's fixed key set; no network).
    pub fn fixed(keys: Vec<Arc<VerifyingKey>>) -> anyhow::Result<KeySet> {
        // The last try is now and the next is due after `Duration::MAX`: never.
        let set = KeySet::new(String::new(), Duration::MAX)?;
        *set.cached.write().unwrap_or_else(|poisoned| poisoned.into_inner()) =
            Cached { keys, tried_at: Some(Instant::now()), loaded: true };
        Ok(set)
    }

    /// The key that verifies a token with this `kid` and `alg`.
    pub async fn find(&self, kid: Option<&str>, alg: Algorithm) -> Result<Arc<VerifyingKey>, AuthError> {
        if let Some(key) = self.lookup(kid, alg) {
            return Ok(key);
        }
        let _fetching = self.fetching.lock().await;
        // Someone may have fetched while this request waited.
        if let Some(key) = self.lookup(kid, alg) {
            return Ok(key);
        }
        let due = self.read().tried_at.is_none_or(|at| at.elapsed() >= self.min_refresh);
        if due {
            self.refresh().await;
        }
        let cached = self.read();
        if !cached.loaded {
            return Err(AuthError::KeysUnavailable);
        }
        drop(cached);
        self.lookup(kid, alg).ok_or_else(|| match kid {
            Some(_) => AuthError::Invalid("the token is signed with a key the provider does not publish".into()),
            None => AuthError::Invalid("the token names no key (kid) and the provider publishes several".into()),
        })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Cached> {
        // A panic while holding the lock cannot leave the cache half-written
        // (it is replaced whole), so a poisoned lock is still usable.
        self.cached.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn lookup(&self, kid: Option<&str>, alg: Algorithm) -> Option<Arc<VerifyingKey>> {
        let cached = self.read();
        match kid {
            Some(kid) => cached.keys.iter().find(|k| k.kid.as_deref() == Some(kid)).cloned(),
            None => {
                let mut candidates = cached.keys.iter().filter(|k| k.algorithms.contains(&alg));
                let only = candidates.next()?;
                candidates.next().is_none().then(|| only.clone())
            }
        }
    }

    #[tracing::instrument(skip_all, fields(url = %self.url))]
    async fn refresh(&self) {
        let fetched = self.fetch().await;
        let mut cached = self.cached.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        cached.tried_at = Some(Instant::now());
        match fetched {
            Ok(keys) => {
                let kids: HashSet<&str> = keys.iter().filter_map(|k| k.kid.as_deref()).collect();
                tracing::info!(keys = keys.len(), kids = ?kids, "fetched the provider's signing keys");
                cached.keys = keys;
                cached.loaded = true;
            }
            // Keys fetched before stay in use: a provider that is briefly
            // away does not lock everyone out.
            Err(error) => tracing::warn!(%error, "cannot fetch the provider's signing keys"),
        }
    }

    async fn fetch(&self) -> Result<Vec<Arc<VerifyingKey>>, String> {
        let mut response = self.client.get(&self.url).send().await.map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("the provider answered {}", response.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err(format!("the key set is larger than {MAX_JWKS_BYTES} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        parse_key_set(&body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(json: Value) -> Option<VerifyingKey> {
        VerifyingKey::from_jwk(&serde_json::from_value(json).unwrap())
    }

    // A real P-256 point (the RFC 7515 appendix A.3 example key).
    const X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
    const Y: &str = "x_FEzRjGVfxjC6KtvjCJo9nJTCOpSZq7Z19VCm2BM8U";

    #[test]
    fn a_key_verifies_only_what_it_declares_and_never_hmac() {
        let declared = key(serde_json::json!({"kty": "EC", "crv": "P-256", "x": X, "y": Y, "alg": "ES256"})).unwrap();
        assert_eq!(declared.algorithms, [Algorithm::ES256]);
        let undeclared = key(serde_json::json!({"kty": "EC", "crv": "P-256", "x": X, "y": Y})).unwrap();
        assert_eq!(undeclared.algorithms, [Algorithm::ES256]);
        assert!(key(serde_json::json!({"kty": "EC", "crv": "P-256", "x": X, "y": Y, "alg": "ES384"})).is_none());
        assert!(key(serde_json::json!({"kty": "EC", "crv": "P-256", "x": X, "y": Y, "alg": "HS256"})).is_none());
        assert!(key(serde_json::json!({"kty": "EC", "crv": "P-256", "x": X, "y": Y, "use": "enc"})).is_none());
        assert!(key(serde_json::json!({"kty": "oct", "k": "c2VjcmV0", "alg": "HS256"})).is_none());
    }

    #[test]
    fn a_key_set_keeps_the_usable_keys_and_refuses_garbage() {
        let body = serde_json::json!({"keys": [
            {"kty": "EC", "crv": "P-256", "x": X, "y": Y, "kid": "ec"},
            {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"},
            {"kty": "XYZ", "kid": "alien"},
            {"kty": "EC", "crv": "P-256", "kid": "broken"},
        ]});
        let keys = parse_key_set(body.to_string().as_bytes()).unwrap();
        let kids: Vec<_> = keys.iter().map(|k| k.kid.as_deref()).collect();
        assert_eq!(kids, [Some("ec")]);
        assert!(parse_key_set(b"<html>").map(|_| ()).unwrap_err().contains("not JSON"));
        assert!(parse_key_set(b"{}").map(|_| ()).unwrap_err().contains("keys"));
    }
}
