//! `GET /api/v1/alerts` and the stream's `alert` events over HTTP, against
//! the real service and PostgreSQL, readings landed by the real landing
//! code, real signed tokens: a patient made ill appears with the first
//! reading of the escalation as `since`, keeps it from medium to high and
//! back, leaves when well, re-enters with a new `since`; a late reading
//! inside a run is judged from the stored readings; a restarted replica and
//! a second one give the same list; a patient sees only themselves.

mod common;

use chrono::{DateTime, TimeDelta, Utc};
use common::issuer::*;
use common::sse::{Frame, Sse};
use common::*;
use serde_json::{Value, json};
use testkit::TestDatabase;
use uuid::Uuid;

fn at(second: i64) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-29T08:00:00Z").unwrap().to_utc() + TimeDelta::seconds(second)
}

/// How a reading scores.
#[derive(Clone, Copy, Debug)]
enum State {
    /// NEWS2 0.
    Well,
    /// SpO2 91 % alone: one parameter at 3, total 3 (low-medium): alert level medium.
    RedSpo2,
    /// Total 5 with no parameter at 3: medium.
    Medium,
    /// Pulse 135, respiration 26, SpO2 91: total 9, high.
    High,
}

fn payload(patient: Uuid, t: DateTime<Utc>, state: State) -> Value {
    let (pulse, resp_rate, spo2) = match state {
        State::Well => (70, 16, 97),
        State::RedSpo2 => (70, 16, 91),
        State::Medium => (115, 22, 95),
        State::High => (135, 26, 91),
    };
    json!({"uuid": patient, "timestamp": t, "pulse": pulse, "resp_rate": resp_rate, "bp": "121/79",
           "spo2": spo2, "temperature": 37.0})
}

async fn land(ward: &mut Ward<'_>, readings: &[(Uuid, DateTime<Utc>, State)]) {
    ward.land("icu.vitals", readings.iter().map(|(p, t, s)| payload(*p, *t, *s)).collect()).await;
}

type Listed = Vec<(Uuid, String, DateTime<Utc>)>;

/// The alerts as (patient, level, since), checked against the contract.
async fn alerts(api: &Running, token: &str) -> Listed {
    listed(api.get_as(token, "/api/v1/alerts").await).await
}

async fn listed(response: reqwest::Response) -> Listed {
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_valid("AlertList", &body);
    body["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["uuid"].as_str().unwrap().parse().unwrap(),
                a["level"].as_str().unwrap().to_owned(),
                a["since"].as_str().unwrap().parse().unwrap(),
            )
        })
        .collect()
}

/// The next `alert` event (readings and admissions passed over).
async fn next_alert(stream: &mut Sse) -> (Frame, Value) {
    loop {
        let frame = stream.event().await;
        if frame.event.as_deref() == Some("alert") {
            let data: Value = serde_json::from_str(&frame.data).unwrap();
            assert_valid("AlertChange", &data);
            assert!(frame.id.is_some(), "an alert event can be resumed from: {frame:?}");
            return (frame, data);
        }
        assert_ne!(frame.event.as_deref(), Some("resync"), "{frame:?}");
    }
}

/// The (change, level, since, at) of the next alert event, which must be `patient`'s.
async fn next_change(stream: &mut Sse, patient: Uuid) -> Seen {
    let (_, data) = next_alert(stream).await;
    assert_eq!(data["patient"], json!(patient), "{data}");
    let direction =
        if matches!(data["change"].as_str(), Some("entered" | "raised")) { "escalation" } else { "de-escalation" };
    assert_eq!(data["direction"], direction, "{data}");
    (
        data["change"].as_str().unwrap().to_owned(),
        data["level"].as_str().map(str::to_owned),
        data["since"].as_str().unwrap().parse().unwrap(),
        data["at"].as_str().unwrap().parse().unwrap(),
    )
}

type Seen = (String, Option<String>, DateTime<Utc>, DateTime<Utc>);

/// What an alert event should say: change, level, since, the reading's time.
fn change(name: &str, level: Option<&str>, since: DateTime<Utc>, reading: i64) -> Seen {
    (name.to_owned(), level.map(str::to_owned), since, at(reading))
}

#[tokio::test]
async fn an_ill_patient_is_listed_since_the_first_bad_reading_until_well_and_the_stream_says_each_change() {
    let db = TestDatabase::fresh().await;
    let ec = SigningKey::ec("ec-1");
    let issuer = Issuer::start(&[&ec]).await;
    let mut ward = Ward::new(&db);
    let ada = ward.admit("Ada Lovelace", "01").await;
    let ben = ward.admit("Ben Other", "02").await;
    land(&mut ward, &[(ada, at(0), State::Well), (ben, at(0), State::Well)]).await;
    let api = Running::start_with_auth(&db, &issuer, &[]).await;
    api.wait_for_metric("icu_page_cache_listening", 1.0).await;
    let clinician = ec.sign(&clinician_claims());
    let mut bens_token_claims = patient_claims(ben);
    bens_token_claims["sub"] = json!("patient-ben");
    let bens = ec.sign(&bens_token_claims);
    let adas = ec.sign(&patient_claims(ada));

    problem(api.get("/api/v1/alerts").await, 401).await;
    assert_eq!(alerts(&api, &clinician).await, vec![]);
    let mut ward_stream = Sse::connect_as(&api, "", &clinician).await;
    let mut bens_stream = Sse::connect_as(&api, "", &bens).await;

    // Ill: one parameter at 3 is medium; since is its first bad reading.
    land(&mut ward, &[(ada, at(1), State::Well), (ada, at(2), State::RedSpo2), (ada, at(3), State::Medium)]).await;
    assert_eq!(next_change(&mut ward_stream, ada).await, change("entered", Some("medium"), at(2), 2));
    assert_eq!(alerts(&api, &clinician).await, vec![(ada, "medium".into(), at(2))]);

    // Worse, then better but still medium: since stays.
    land(&mut ward, &[(ada, at(4), State::High)]).await;
    assert_eq!(next_change(&mut ward_stream, ada).await, change("raised", Some("high"), at(2), 4));
    assert_eq!(alerts(&api, &clinician).await, vec![(ada, "high".into(), at(2))]);
    land(&mut ward, &[(ada, at(5), State::High), (ada, at(6), State::Medium)]).await;
    assert_eq!(next_change(&mut ward_stream, ada).await, change("lowered", Some("medium"), at(2), 6));
    assert_eq!(alerts(&api, &clinician).await, vec![(ada, "medium".into(), at(2))]);

    // Well again: off the list.
    land(&mut ward, &[(ada, at(7), State::Well)]).await;
    assert_eq!(next_change(&mut ward_stream, ada).await, change("left", None, at(2), 7));
    assert_eq!(alerts(&api, &clinician).await, vec![]);

    // Ill again: a new since.
    land(&mut ward, &[(ada, at(8), State::Well), (ada, at(9), State::High)]).await;
    assert_eq!(next_change(&mut ward_stream, ada).await, change("entered", Some("high"), at(9), 9));
    assert_eq!(alerts(&api, &clinician).await, vec![(ada, "high".into(), at(9))]);

    // Ben too, later: the newest escalation first.
    land(&mut ward, &[(ben, at(10), State::Medium)]).await;
    assert_eq!(next_change(&mut ward_stream, ben).await, change("entered", Some("medium"), at(10), 10));
    assert_eq!(alerts(&api, &clinician).await, vec![(ben, "medium".into(), at(10)), (ada, "high".into(), at(9))]);
    assert_eq!(api.metric("icu_alerts_escalated").await, Some(2.0));
    assert_eq!(api.metric("icu_alerts_trusted").await, Some(1.0));

    // A reading of Ada's that arrives late, between her well reading at 8
    // and the high one at 9, starts her escalation earlier: the list and the
    // stream follow the stored readings, not the order they came in.
    let late = at(8) + TimeDelta::milliseconds(500);
    ward.land("icu.vitals", vec![payload(ada, late, State::RedSpo2)]).await;
    let (_, data) = next_alert(&mut ward_stream).await;
    assert_eq!((data["patient"].clone(), data["change"].clone()), (json!(ada), json!("entered")), "{data}");
    assert_eq!(data["since"].as_str().unwrap().parse::<DateTime<Utc>>().unwrap(), late);
    assert_eq!(alerts(&api, &clinician).await, vec![(ben, "medium".into(), at(10)), (ada, "high".into(), late)]);

    // A patient's token: their own alert only, on the list and the stream.
    assert_eq!(alerts(&api, &bens).await, vec![(ben, "medium".into(), at(10))]);
    assert_eq!(alerts(&api, &adas).await, vec![(ada, "high".into(), late)]);
    assert_eq!(next_change(&mut bens_stream, ben).await, change("entered", Some("medium"), at(10), 10));
    land(&mut ward, &[(ada, at(11), State::Well), (ben, at(11), State::Well)]).await;
    assert_eq!(next_change(&mut bens_stream, ben).await, change("left", None, at(10), 11), "nothing of Ada's between");
    // Both in one commit: an order between patients is not promised.
    let mut both = Vec::new();
    for _ in 0..2 {
        let (_, data) = next_alert(&mut ward_stream).await;
        both.push((
            data["patient"].as_str().unwrap().parse::<Uuid>().unwrap(),
            data["change"].clone(),
            data["since"].clone(),
        ));
    }
    both.sort_by_key(|(p, _, _)| *p == ben);
    assert_eq!(both, vec![(ada, json!("left"), json!(late)), (ben, json!("left"), json!(at(10)))]);
    assert_eq!(alerts(&api, &clinician).await, vec![]);
    api.stop().await;
}

#[tokio::test]
async fn replicas_and_a_restarted_one_derive_the_same_list_from_the_stored_readings() {
    let db = TestDatabase::fresh().await;
    let mut ward = Ward::new(&db);
    let ada = ward.admit("Ada", "01").await;
    let ben = ward.admit("Ben", "02").await;
    let cleo = ward.admit("Cleo", "03").await;
    ward.admit("Dan, no readings yet", "04").await;
    let mut readings = vec![];
    // Ada: ill since 3 (after a first bout from 1 to 2), medium, high, medium.
    for (s, state) in [(0, State::Well), (1, State::High), (2, State::Well), (3, State::RedSpo2), (4, State::High)] {
        readings.push((ada, at(s), state));
    }
    readings.push((ada, at(5), State::Medium));
    // Ben: was ill, well now. Cleo: high since 2, landed newest first.
    for (s, state) in [(0, State::Medium), (1, State::High), (2, State::Well)] {
        readings.push((ben, at(s), state));
    }
    for s in [4, 3, 2] {
        readings.push((cleo, at(s), State::High));
    }
    readings.push((cleo, at(1), State::Well));
    land(&mut ward, &readings).await;
    let expected = vec![(ada, "medium".to_owned(), at(3)), (cleo, "high".to_owned(), at(2))];

    let one = Running::start(&db, &[]).await;
    // Before its feed listens, a replica answers from the stored readings too.
    assert_eq!(listed(one.get("/api/v1/alerts").await).await, expected);
    let two = Running::start(&db, &[]).await;
    for replica in [&one, &two] {
        replica.wait_for_metric("icu_page_cache_listening", 1.0).await;
        assert_eq!(listed(replica.get("/api/v1/alerts").await).await, expected);
    }

    // While one replica is down, Ada recovers and Ben falls ill.
    one.stop().await;
    land(&mut ward, &[(ada, at(6), State::Well), (ben, at(6), State::High)]).await;
    let expected = vec![(ben, "high".to_owned(), at(6)), (cleo, "high".to_owned(), at(2))];
    let restarted = Running::start(&db, &[]).await;
    restarted.wait_for_metric("icu_page_cache_listening", 1.0).await;
    assert_eq!(listed(restarted.get("/api/v1/alerts").await).await, expected);
    let mut settled = listed(two.get("/api/v1/alerts").await).await;
    for _ in 0..500 {
        if settled == expected {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        settled = listed(two.get("/api/v1/alerts").await).await;
    }
    assert_eq!(settled, expected, "the replica that stayed up follows the stream's feed");
    restarted.stop().await;
    two.stop().await;
}
