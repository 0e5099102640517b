//! A stand-in OpenID provider for the tests: RSA and EC keys generated here,
//! their JWKS served on 127.0.0.1 (counting fetches, keys rotatable), and
//! tokens signed with them as a real provider would.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use axum::Json;
use axum::extract::State;
use axum::routing::get;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::Generate as _;
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use serde_json::{Value, json};
use uuid::Uuid;

pub const ISSUER: &str = "https://sso.icu.test/realms/ward";
pub const AUDIENCE: &str = "icu-monitor";

/// A signing key with its id and algorithm, and its public JWK.
#[derive(Clone)]
pub struct SigningKey {
    pub kid: String,
    pub alg: Algorithm,
    pub encoding: EncodingKey,
    pub jwk: Jwk,
    /// The public key as PEM (what an HMAC-confusion attacker would use).
    pub public_pem: String,
}

/// RSA key generation is slow in a debug build: one key of each kind per
/// test binary, named per test by `with_kid`.
fn rsa_pair() -> &'static (String, String) {
    static PAIR: OnceLock<(String, String)> = OnceLock::new();
    PAIR.get_or_init(|| {
        let key = rsa::PrivateKey::generate();
        let private = key.to_pkcs8_pem(LineEnding::LF).unwrap().to_string();
        let public = key.to_public_key().to_public_key_pem(LineEnding::LF).unwrap();
        (private, public)
    })
}

impl SigningKey {
    pub fn rsa(kid: &str) -> SigningKey {
        let (private, public) = rsa_pair();
        Self::from_pem(kid, Algorithm::RS256, EncodingKey::from_rsa_pem(private.as_bytes()).unwrap(), public.clone())
    }

    /// A fresh P-256 key (fast).
    pub fn ec(kid: &str) -> SigningKey {
        let key = p256::SecretKey::generate();
        let private = key.to_pkcs8_pem(LineEnding::LF).unwrap();
        let public = key.public_key().to_public_key_pem(LineEnding::LF).unwrap();
        Self::from_pem(kid, Algorithm::ES256, EncodingKey::from_ec_pem(private.as_bytes()).unwrap(), public)
    }

    fn from_pem(kid: &str, alg: Algorithm, encoding: EncodingKey, public_pem: String) -> SigningKey {
        let mut jwk = Jwk::from_encoding_key(&encoding, alg).unwrap();
        jwk.common.key_id = Some(kid.to_owned());
        SigningKey { kid: kid.to_owned(), alg, encoding, jwk, public_pem }
    }

    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(self.alg);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap()
    }
}

struct Published {
    keys: Mutex<Vec<Jwk>>,
    fetches: AtomicUsize,
}

/// The provider: publishes some keys at `jwks_url()`.
pub struct Issuer {
    pub addr: SocketAddr,
    published: Arc<Published>,
}

impl Issuer {
    pub async fn start(keys: &[&SigningKey]) -> Issuer {
        let published = Arc::new(Published {
            keys: Mutex::new(keys.iter().map(|k| k.jwk.clone()).collect()),
            fetches: AtomicUsize::new(0),
        });
        let app = axum::Router::new()
            .route(
                "/jwks",
                get(|State(p): State<Arc<Published>>| async move {
                    p.fetches.fetch_add(1, Ordering::SeqCst);
                    Json(JwkSet { keys: p.keys.lock().unwrap().clone() })
                }),
            )
            .with_state(published.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Issuer { addr, published }
    }

    pub fn jwks_url(&self) -> String {
        format!("http://{}/jwks", self.addr)
    }

    /// How often the key set was fetched.
    pub fn fetches(&self) -> usize {
        self.published.fetches.load(Ordering::SeqCst)
    }

    /// Publishes these keys from now on (a key rotation).
    pub fn publish(&self, keys: &[&SigningKey]) {
        *self.published.keys.lock().unwrap() = keys.iter().map(|k| k.jwk.clone()).collect();
    }

    /// monitor-service arguments that trust this provider.
    pub fn args(&self) -> Vec<String> {
        [
            "--auth-mode",
            "jwt",
            "--auth-jwks-url",
            &self.jwks_url(),
            "--auth-issuer",
            ISSUER,
            "--auth-audience",
            AUDIENCE,
        ]
        .map(str::to_owned)
        .to_vec()
    }
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Claims of a valid token for `sub` with these roles, for five minutes.
pub fn claims(sub: &str, roles: &[&str]) -> Value {
    json!({"iss": ISSUER, "aud": AUDIENCE, "sub": sub, "iat": now(), "nbf": now() - 5, "exp": now() + 300,
           "roles": roles})
}

pub fn clinician_claims() -> Value {
    claims("dr-house", &["clinician"])
}

pub fn patient_claims(patient: Uuid) -> Value {
    let mut c = claims("patient-ada", &["patient"]);
    c["patient_id"] = json!(patient);
    c
}
