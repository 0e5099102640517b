//! The FHIR R4 routes over HTTP against the real service and PostgreSQL,
//! with real signed tokens: paging by `_count` and the `next` link (a page
//! may end inside a reading's five Observations), `date` bounds, the Patient
//! resource, and the access rules (401, 403, a patient's own record). The
//! resources' conformance to FHIR R4 is checked by an external validator in
//! the `fhir` test stage; here they are checked against the contract.

mod common;

use chrono::{DateTime, TimeDelta, Utc};
use common::issuer::*;
use common::*;
use serde_json::{Value, json};
use testkit::TestDatabase;
use uuid::Uuid;

fn at(second: i64) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-29T08:00:00Z").unwrap().to_utc() + TimeDelta::seconds(second)
}

const KINDS: [&str; 5] = ["8867-4", "9279-1", "85354-9", "2708-6", "8310-5"];

struct Fixture {
    api: Running,
    ada: Uuid,
    ben: Uuid,
    clinician: String,
    adas: String,
    // Kept for the service's lifetime: its database and its token issuer.
    _db: TestDatabase,
    _issuer: Issuer,
}

/// The service trusting a test issuer, over Ada with readings at seconds
/// 0..5 (pulse 60 + second) and Ben with one.
async fn fixture() -> Fixture {
    let db = TestDatabase::fresh().await;
    let key = SigningKey::ec("ec-1");
    let issuer = Issuer::start(&[&key]).await;
    let mut ward = Ward::new(&db);
    let ada = ward.admit("Ada Lovelace", "01").await;
    let ben = ward.admit("Ben Other", "02").await;
    ward.readings(ada, &(0..5).map(at).collect::<Vec<_>>()).await;
    ward.readings(ben, &[at(0)]).await;
    let api = Running::start_with_auth(&db, &issuer, &[]).await;
    let (clinician, adas) = (key.sign(&clinician_claims()), key.sign(&patient_claims(ada)));
    Fixture { api, ada, ben, clinician, adas, _db: db, _issuer: issuer }
}

async fn bundle(api: &Running, token: &str, path: &str) -> Value {
    let response = api.get_as(token, path).await;
    assert_eq!(response.status(), 200, "{path}");
    assert_eq!(response.headers()["content-type"], "application/fhir+json");
    let body: Value = response.json().await.unwrap();
    assert_valid("FhirObservationBundle", &body);
    body
}

/// (effectiveDateTime, first LOINC code) of each entry.
fn entries(bundle: &Value) -> Vec<(DateTime<Utc>, String)> {
    bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let o = &e["resource"];
            assert_eq!(e["fullUrl"], format!("urn:uuid:{}", o["id"].as_str().unwrap()));
            (
                o["effectiveDateTime"].as_str().unwrap().parse().unwrap(),
                o["code"]["coding"][0]["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn next(bundle: &Value) -> Option<String> {
    bundle["link"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["relation"] == "next")
        .map(|l| l["url"].as_str().unwrap().to_owned())
}

/// The Observations of readings at these seconds, newest first, in the fixed order.
fn expected(seconds: &[i64]) -> Vec<(DateTime<Utc>, String)> {
    seconds.iter().rev().flat_map(|s| KINDS.map(|k| (at(*s), k.to_owned()))).collect()
}

#[tokio::test]
async fn pages_follow_the_next_link_through_every_observation_once() {
    let f = fixture().await;
    let path = format!("/api/v1/patients/{}/fhir/Observation", f.ada);

    let whole = bundle(&f.api, &f.clinician, &path).await;
    assert_eq!(entries(&whole), expected(&[0, 1, 2, 3, 4]));
    assert_eq!(next(&whole), None, "25 fit the default page");
    assert_eq!(whole["link"][0], json!({"relation": "self", "url": path}));
    let pulse = &whole["entry"][0]["resource"];
    assert_eq!(
        pulse["valueQuantity"],
        json!({"value": 64, "unit": "beats/minute", "system": "http://unitsofmeasure.org", "code": "/min"})
    );
    assert_eq!(pulse["subject"]["reference"], format!("Patient/{}", f.ada));

    // Pages of 7 end inside readings; following `next` gives each Observation once.
    let mut got = Vec::new();
    let mut url = Some(format!("{path}?_count=7"));
    let mut pages = 0;
    while let Some(u) = url {
        let page = bundle(&f.api, &f.clinician, &u).await;
        let these = entries(&page);
        assert!(these.len() <= 7, "{u}");
        got.extend(these);
        url = next(&page);
        pages += 1;
    }
    assert_eq!((pages, got), (4, expected(&[0, 1, 2, 3, 4])));

    // The same ids on every request: a client can tell what it has.
    let again = bundle(&f.api, &f.clinician, &path).await;
    assert_eq!(again["entry"], whole["entry"]);
    f.api.stop().await;
}

#[tokio::test]
async fn date_bounds_select_readings_and_survive_paging() {
    let f = fixture().await;
    let path = format!("/api/v1/patients/{}/fhir/Observation", f.ada);
    let q = |s: &str| format!("{path}?{s}");

    let range = bundle(&f.api, &f.clinician, &q("date=ge2026-11-29T08:00:01Z&date=lt2026-11-29T08:00:04Z")).await;
    assert_eq!(entries(&range), expected(&[1, 2, 3]));
    let open_ends = bundle(&f.api, &f.clinician, &q("date=gt2026-11-29T08:00:01Z&date=le2026-11-29T08:00:03Z")).await;
    assert_eq!(entries(&open_ends), expected(&[2, 3]));
    let zone = bundle(&f.api, &f.clinician, &q("date=ge2026-11-29T09:00:03%2B01:00")).await;
    assert_eq!(entries(&zone), expected(&[3, 4]));
    let day = bundle(&f.api, &f.clinician, &q("date=ge2026-11-29&date=lt2026-11-30")).await;
    assert_eq!(entries(&day).len(), 25);
    let before = bundle(&f.api, &f.clinician, &q("date=lt2026-11-29")).await;
    assert_eq!(entries(&before), vec![], "nothing the day before");

    // The next link keeps the bounds: 4 + 4 + 2, and no page beyond.
    let first = bundle(&f.api, &f.clinician, &q("_count=4&date=ge2026-11-29T08:00:03Z")).await;
    let second = bundle(&f.api, &f.clinician, &next(&first).expect("a second page")).await;
    let third = bundle(&f.api, &f.clinician, &next(&second).expect("a third page")).await;
    assert_eq!(next(&third), None);
    let all: Vec<_> = [first, second, third].iter().flat_map(entries).collect();
    assert_eq!(all, expected(&[3, 4]));

    for (query, parameter) in [
        ("_count=0", "_count"),
        ("_count=1001", "_count"),
        ("date=2026-11-29", "date"),
        ("date=eq2026-11-29", "date"),
        ("date=ge2026-11-29T08:00:00", "date"),
        ("date=ge2026-13-01", "date"),
        ("cursor=soon", "cursor"),
    ] {
        let body = problem(f.api.get_as(&f.clinician, &q(query)).await, 400).await;
        assert_eq!(body["parameter"], parameter, "{query}");
    }
    f.api.stop().await;
}

#[tokio::test]
async fn the_fhir_routes_keep_the_access_rules() {
    let f = fixture().await;
    let observations = |p: Uuid| format!("/api/v1/patients/{p}/fhir/Observation");
    let patient = |p: Uuid| format!("/api/v1/fhir/Patient/{p}");

    for path in [observations(f.ada), patient(f.ada)] {
        let refused = problem(f.api.get(&path).await, 401).await;
        assert!(!refused.to_string().contains("Ada"), "{refused}");
        problem(f.api.get_with("Bearer not-a-token", &path).await, 401).await;
    }
    // Ada opens her own, not Ben's (nor a stranger's: no probing who is on the ward).
    assert_eq!(entries(&bundle(&f.api, &f.adas, &observations(f.ada)).await).len(), 25);
    for path in [observations(f.ben), patient(f.ben), observations(Uuid::new_v4()), patient(Uuid::new_v4())] {
        problem(f.api.get_as(&f.adas, &path).await, 403).await;
    }
    let response = f.api.get_as(&f.adas, &patient(f.ada)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/fhir+json");
    let ada: Value = response.json().await.unwrap();
    assert_valid("FhirPatient", &ada);
    assert_eq!(ada["id"], f.ada.to_string());
    assert_eq!(ada["name"], json!([{"text": "Ada Lovelace"}]));
    assert_eq!(ada["identifier"][0]["value"], format!("urn:uuid:{}", f.ada));

    // A clinician: any patient; an unknown one is 404; a bad UUID 400.
    let ben = bundle(&f.api, &f.clinician, &observations(f.ben)).await;
    assert_eq!(entries(&ben), expected(&[0]));
    problem(f.api.get_as(&f.clinician, &observations(Uuid::new_v4())).await, 404).await;
    problem(f.api.get_as(&f.clinician, &patient(Uuid::new_v4())).await, 404).await;
    let bad = problem(f.api.get_as(&f.clinician, "/api/v1/fhir/Patient/nope").await, 400).await;
    assert_eq!(bad["parameter"], "uuid");
    f.api.stop().await;
}
