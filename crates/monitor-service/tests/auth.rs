//! Access control with real signed tokens: RSA and EC keys generated here, a
//! JWKS served on 127.0.0.1, every way a token can be wrong.

mod common;

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::TimeDelta;
use common::issuer::*;
use common::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use testkit::TestDatabase;
use uuid::Uuid;

/// A ward of two patients with readings, and the service trusting `issuer`.
async fn ward_with_auth(db: &TestDatabase, issuer: &Issuer, extra: &[&str]) -> (Running, Uuid, Uuid) {
    let mut ward = Ward::new(db);
    let ada = ward.admit("Ada Lovelace", "01").await;
    let ben = ward.admit("Ben Other", "02").await;
    for p in [ada, ben] {
        ward.readings(p, &seconds_ending(TimeDelta::zero(), 3)).await;
    }
    (Running::start_with_auth(db, issuer, extra).await, ada, ben)
}

/// Asserts a 401 with a Bearer challenge; returns the problem.
async fn unauthorized(response: reqwest::Response) -> Value {
    let challenge = response.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned());
    let challenge = challenge.expect("a 401 carries WWW-Authenticate");
    assert!(challenge.starts_with("Bearer realm=\"icu-monitor\""), "{challenge}");
    problem(response, 401).await
}

fn patient_routes(p: Uuid) -> Vec<String> {
    vec![format!("/api/v1/patients/{p}"), format!("/api/v1/patients/{p}/metrics"), format!("/patient/{p}/metrics")]
}

#[tokio::test]
async fn clinicians_see_the_ward_with_rsa_and_ec_tokens() {
    let db = TestDatabase::fresh().await;
    let (rsa, ec) = (SigningKey::rsa("rsa-1"), SigningKey::ec("ec-1"));
    let issuer = Issuer::start(&[&rsa, &ec]).await;
    let (api, ada, ben) = ward_with_auth(&db, &issuer, &[]).await;

    for key in [&rsa, &ec] {
        let token = key.sign(&clinician_claims());
        let ward = api.get_as(&token, "/api/v1/patients").await;
        assert_eq!(ward.status(), 200, "{:?}", key.alg);
        let ward: Value = ward.json().await.unwrap();
        assert_eq!(ward["patients"].as_array().unwrap().len(), 2);
        for p in [ada, ben] {
            for route in patient_routes(p) {
                assert_eq!(api.get_as(&token, &route).await.status(), 200, "{route} {:?}", key.alg);
            }
        }
    }
    // Keycloak puts roles under realm_access.roles.
    let api_kc = Running::start_with_auth(&db, &issuer, &["--auth-roles-claim", "realm_access.roles"]).await;
    let mut claims = claims("dr-kc", &[]);
    claims["realm_access"] = json!({"roles": ["offline_access", "clinician"]});
    assert_eq!(api_kc.get_as(&rsa.sign(&claims), "/api/v1/patients").await.status(), 200);
    assert_eq!(issuer.fetches(), 2, "one fetch per service: the keys are cached");
    api_kc.stop().await;
    api.stop().await;
}

#[tokio::test]
async fn a_patient_sees_only_their_own_record() {
    let db = TestDatabase::fresh().await;
    let ec = SigningKey::ec("ec-1");
    let issuer = Issuer::start(&[&ec]).await;
    let (api, ada, ben) = ward_with_auth(&db, &issuer, &[]).await;
    let token = ec.sign(&patient_claims(ada));

    let ward = api.get_as(&token, "/api/v1/patients").await;
    assert_eq!(ward.status(), 200);
    let ward: Value = ward.json().await.unwrap();
    assert_valid("PatientList", &ward);
    let uuids: Vec<&str> = ward["patients"].as_array().unwrap().iter().map(|p| p["uuid"].as_str().unwrap()).collect();
    assert_eq!(uuids, [ada.to_string()], "the ward list shows only their own bed");

    for route in patient_routes(ada) {
        assert_eq!(api.get_as(&token, &route).await.status(), 200, "{route}");
    }
    // Another patient, or one that does not exist: the same 403, no data.
    for other in [ben, Uuid::new_v4()] {
        for route in patient_routes(other) {
            let body = problem(api.get_as(&token, &route).await, 403).await;
            let text = body.to_string();
            assert!(!text.contains(&other.to_string()) && !text.contains("Ben"), "no patient data: {text}");
            assert!(body.get("patient").is_none(), "{text}");
        }
    }
    // The patient role without a patient, or no role at all: 403.
    for claims in [claims("p", &["patient"]), claims("visitor", &["visitor"])] {
        problem(api.get_as(&ec.sign(&claims), "/api/v1/patients").await, 403).await;
    }
    api.stop().await;
}

#[tokio::test]
async fn every_bad_token_is_a_401_with_a_bearer_challenge() {
    let db = TestDatabase::fresh().await;
    let rsa = SigningKey::rsa("rsa-1");
    let issuer = Issuer::start(&[&rsa]).await;
    let (api, ada, _) = ward_with_auth(&db, &issuer, &[]).await;
    let route = format!("/api/v1/patients/{ada}/metrics");
    let with = |change: &dyn Fn(&mut Value)| {
        let mut c = clinician_claims();
        change(&mut c);
        rsa.sign(&c)
    };
    // An impostor's key published under nobody's name, used with rsa-1's kid.
    let impostor = SigningKey::ec("rsa-1");
    let hmac_with_public_key = {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("rsa-1".into());
        let secret = EncodingKey::from_secret(rsa.public_pem.as_bytes()).unwrap();
        jsonwebtoken::encode(&header, &clinician_claims(), &secret).unwrap()
    };
    let alg_none = {
        let header = URL_SAFE_NO_PAD.encode(json!({"alg": "none", "typ": "JWT", "kid": "rsa-1"}).to_string());
        let claims = URL_SAFE_NO_PAD.encode(clinician_claims().to_string());
        format!("{header}.{claims}.")
    };
    let mut tampered = rsa.sign(&clinician_claims());
    let claims_start = tampered.find('.').unwrap() + 1;
    let forged = URL_SAFE_NO_PAD.encode(patient_claims(ada).to_string());
    let claims_end = tampered.rfind('.').unwrap();
    tampered.replace_range(claims_start..claims_end, &forged);

    let cases: Vec<(&str, String, &str)> = vec![
        ("expired", with(&|c| c["exp"] = json!(now() - 120)), "expired"),
        ("not yet valid", with(&|c| c["nbf"] = json!(now() + 300)), "not valid yet"),
        ("wrong issuer", with(&|c| c["iss"] = json!("https://evil.test")), "another issuer"),
        ("wrong audience", with(&|c| c["aud"] = json!("another-api")), "another audience"),
        ("no subject", with(&|c| c.as_object_mut().unwrap().retain(|k, _| k != "sub")), "no sub claim"),
        ("no expiry", with(&|c| c.as_object_mut().unwrap().retain(|k, _| k != "exp")), "no exp claim"),
        ("wrong signature", impostor.sign(&clinician_claims()), "key does not sign with ES256"),
        ("tampered claims", tampered, "signature does not verify"),
        ("alg none", alg_none, "malformed"),
        ("HS256 with the public key", hmac_with_public_key, "HS256 signatures are not accepted"),
        ("garbage", "abc.def.ghi".into(), "malformed"),
    ];
    for (case, token, reason) in cases {
        let body = unauthorized(api.get_as(&token, &route).await).await;
        assert!(body["detail"].as_str().unwrap().contains(reason), "{case}: {body}");
    }

    // The leeway forgives a little clock skew.
    let barely_expired = with(&|c| c["exp"] = json!(now() - 5));
    assert_eq!(api.get_as(&barely_expired, &route).await.status(), 200);

    // No token, or an Authorization header that is not `Bearer <token>`.
    let missing = api.get(&route).await;
    assert_eq!(missing.headers()["www-authenticate"], "Bearer realm=\"icu-monitor\"");
    unauthorized(missing).await;
    for header in ["Basic YWRhOmxvdmVsYWNl", "Bearer", "Bearer ", "Bearer a b", "Bearer <script>"] {
        let body = unauthorized(api.get_with(header, &route).await).await;
        assert!(!body.to_string().contains("script"), "{header}: {body}");
    }
    // The list and the original path are guarded too.
    for path in ["/api/v1/patients".to_owned(), format!("/patient/{ada}/metrics")] {
        unauthorized(api.get(&path).await).await;
    }
    // Operations stay open.
    for path in ["/healthz", "/readyz", "/metrics", "/openapi.json"] {
        assert_eq!(api.get(path).await.status(), 200, "{path}");
    }
    api.stop().await;
}

#[tokio::test]
async fn an_unknown_key_refreshes_the_key_set_at_most_once_per_floor() {
    let db = TestDatabase::fresh().await;
    let (old, new) = (SigningKey::ec("2026-old"), SigningKey::ec("2026-new"));
    let issuer = Issuer::start(&[&old]).await;
    let floor = Duration::from_millis(500);
    let (api, ada, _) = ward_with_auth(&db, &issuer, &["--auth-jwks-min-refresh", "0.5"]).await;
    let route = format!("/api/v1/patients/{ada}");

    assert_eq!(api.get_as(&old.sign(&clinician_claims()), &route).await.status(), 200);
    assert_eq!(issuer.fetches(), 1);
    // The provider has not published the new key yet: refused.
    tokio::time::sleep(floor * 2).await;
    unauthorized(api.get_as(&new.sign(&clinician_claims()), &route).await).await;
    assert_eq!(issuer.fetches(), 2, "an unknown kid refreshes the key set");
    // The provider rotates; after the floor the new key is fetched and works,
    // and the old one is gone with the set it belonged to.
    issuer.publish(&[&new]);
    tokio::time::sleep(floor * 2).await;
    assert_eq!(api.get_as(&new.sign(&clinician_claims()), &route).await.status(), 200);
    assert_eq!(issuer.fetches(), 3);
    unauthorized(api.get_as(&old.sign(&clinician_claims()), &route).await).await;
    api.stop().await;

    // A flood of made-up kids, with a long floor: no fetch beyond the first.
    let api = Running::start_with_auth(&db, &issuer, &["--auth-jwks-min-refresh", "600"]).await;
    let before = issuer.fetches();
    assert_eq!(api.get_as(&new.sign(&clinician_claims()), &route).await.status(), 200);
    let floods = (0..50).map(|i| {
        let key = SigningKey::ec(&format!("made-up-{i}"));
        let api = &api;
        let route = &route;
        async move { api.get_as(&key.sign(&clinician_claims()), route).await.status() }
    });
    for status in futures::future::join_all(floods).await {
        assert_eq!(status, 401);
    }
    assert_eq!(issuer.fetches(), before + 1, "one fetch, then none within the floor");
    api.stop().await;
}

#[tokio::test]
async fn an_unreachable_provider_is_a_503_not_a_401() {
    let db = TestDatabase::fresh().await;
    let ec = SigningKey::ec("ec-1");
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let args = [
        "--auth-mode".to_owned(),
        "jwt".into(),
        "--auth-jwks-url".into(),
        format!("http://{closed}/jwks"),
        "--auth-issuer".into(),
        ISSUER.into(),
        "--auth-audience".into(),
        AUDIENCE.into(),
    ];
    let api = Running::start_with(&db, &args.iter().map(String::as_str).collect::<Vec<_>>()).await;
    problem(api.get_as(&ec.sign(&clinician_claims()), "/api/v1/patients").await, 503).await;
    api.stop().await;
}

#[tokio::test]
async fn a_patients_stream_carries_only_their_own_events() {
    let db = TestDatabase::fresh().await;
    let ec = SigningKey::ec("ec-1");
    let issuer = Issuer::start(&[&ec]).await;
    let (api, ada, ben) = ward_with_auth(&db, &issuer, &[]).await;
    api.wait_for_metric("icu_page_cache_listening", 1.0).await;
    let token = ec.sign(&patient_claims(ada));

    unauthorized(api.get("/api/v1/stream").await).await;
    problem(api.get_as(&token, &format!("/api/v1/stream?patient={ben}")).await, 403).await;
    let mut stream = api.get_as(&token, "/api/v1/stream").await;
    assert_eq!(stream.status(), 200);
    // Ben's reading is stored first, then Ada's: the first reading on her
    // stream must be her own.
    let mut ward = Ward::new(&db);
    ward.readings(ben, &seconds_ending(TimeDelta::zero(), 1)).await;
    ward.readings(ada, &seconds_ending(TimeDelta::zero(), 1)).await;
    let mut text = String::new();
    let reading = loop {
        let chunk = tokio::time::timeout(Duration::from_secs(30), stream.chunk()).await.expect("an event").unwrap();
        text.push_str(std::str::from_utf8(&chunk.expect("the stream goes on")).unwrap());
        if let Some(frame) = text.split("\n\n").find(|f| f.contains("event: reading")) {
            break frame.to_owned();
        }
    };
    assert!(reading.contains(&ada.to_string()) && !text.contains(&ben.to_string()), "{text}");
    drop(stream);
    api.stop().await;
}
