//! The database announces every committed change to a patient's readings
//! (migration `0002_readings_changed`), whoever writes them; inserts name
//! each stored reading, and admissions are announced (migration
//! `0005_stream_announcements`).

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;
use store::changes::{ChangeListener, ReadingKey, ReadingsChanged};
use store::ingest::{Inbound, Prepared, Topics, land, land_in, sweep};
use testkit::TestDatabase;
use uuid::Uuid;

fn message(topic: &str, offset: i64, payload: serde_json::Value) -> Inbound {
    Inbound {
        topic: topic.into(),
        partition: 0,
        offset,
        key: None,
        headers: vec![],
        payload: payload.to_string().into_bytes(),
        received_at: Utc::now(),
    }
}

fn at(second: i64) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-25T08:00:00Z").unwrap().to_utc() + TimeDelta::seconds(second)
}

fn reading(offset: i64, patient: Uuid, name: Option<&str>, second: i64) -> Inbound {
    let at = at(second);
    let mut body = json!({"uuid": patient, "timestamp": at, "pulse": 80,
                          "resp_rate": 16, "bp": "120/80", "spo2": 97, "temperature": 36.9});
    if let Some(name) = name {
        body["name"] = json!(name);
    }
    message("icu.vitals", offset, body)
}

async fn next(listener: &mut ChangeListener) -> ReadingsChanged {
    match tokio::time::timeout(Duration::from_secs(10), listener.next()).await {
        Ok(Ok(Some(change))) => change,
        other => panic!("expected an announcement, got {other:?}"),
    }
}

/// The patients whose readings were announced as changed until `expected`
/// are all heard (or it gives up); admissions are passed over.
async fn heard(listener: &mut ChangeListener, expected: &BTreeSet<Uuid>) -> BTreeSet<Uuid> {
    let mut heard = BTreeSet::new();
    while !expected.is_subset(&heard) {
        match next(listener).await {
            ReadingsChanged::Admitted(_) => {}
            change @ (ReadingsChanged::Patients(_) | ReadingsChanged::Stored(_)) => {
                heard.extend(change.patients().unwrap())
            }
            other => panic!("expected an announcement of {expected:?}, heard {heard:?} then {other:?}"),
        }
    }
    heard
}

/// Asserts that nothing was announced since the last announcement heard: a
/// sentinel reading is landed now, and announcements arrive in commit order,
/// so anything announced earlier would come before the sentinel's.
async fn nothing_more(db: &TestDatabase, listener: &mut ChangeListener, offset: i64) {
    let sentinel = Uuid::new_v4();
    land(&db.pool, &Topics::default(), &[reading(offset, sentinel, Some("Sentinel"), 0)]).await.unwrap();
    // The sentinel's reading registers the sentinel, then is stored.
    assert_eq!(next(listener).await, ReadingsChanged::Admitted(vec![sentinel]), "announced before the sentinel");
    assert_eq!(
        next(listener).await,
        ReadingsChanged::Stored(vec![ReadingKey { patient: sentinel, measured_at: at(0) }])
    );
}

#[tokio::test]
async fn stored_and_promoted_readings_are_announced_once_committed() {
    let db = TestDatabase::fresh().await;
    let mut listener = ChangeListener::connect(&db.pool).await.unwrap();
    let (ada, ben) = (Uuid::new_v4(), Uuid::new_v4());

    // Ada's reading registers her and is stored; Ben's waits for his admission.
    land(&db.pool, &Topics::default(), &[reading(1, ada, Some("Ada"), 5), reading(2, ben, None, 5)]).await.unwrap();
    assert_eq!(heard(&mut listener, &BTreeSet::from([ada])).await, BTreeSet::from([ada]), "Ben's reading is parked");
    nothing_more(&db, &mut listener, 100).await;

    let admission = json!({"v": 1, "uuid": ben, "name": "Ben", "admitted_at": Utc::now() - TimeDelta::hours(1)});
    land(&db.pool, &Topics::default(), &[message("icu.patients", 3, admission)]).await.unwrap();
    assert_eq!(heard(&mut listener, &BTreeSet::from([ben])).await, BTreeSet::from([ben]), "promotion is announced");

    // A transaction that rolls back announces nothing.
    let mut tx = db.pool.begin().await.unwrap();
    land_in(&mut tx, &Prepared::of(&Topics::default(), vec![reading(4, ada, Some("Ada"), 1)])).await.unwrap();
    tx.rollback().await.unwrap();
    nothing_more(&db, &mut listener, 101).await;

    // A redelivered batch stores nothing, and a batch of nothing but
    // quarantined messages touches no readings: neither is news.
    land(&db.pool, &Topics::default(), &[reading(1, ada, Some("Ada"), 5)]).await.unwrap();
    land(&db.pool, &Topics::default(), &[message("icu.vitals", 5, json!({"uuid": "nope"}))]).await.unwrap();
    assert_eq!(sweep(&db.pool, 100).await.unwrap().promoted, 0);
    nothing_more(&db, &mut listener, 102).await;

    // A fix by hand that moves a reading to another patient concerns both.
    sqlx::query(
        "UPDATE vital_signs SET patient_id = $2, measured_at = measured_at + interval '1 hour' \
         WHERE patient_id = $1",
    )
    .bind(ada)
    .bind(ben)
    .execute(&db.pool)
    .await
    .unwrap();
    assert_eq!(heard(&mut listener, &BTreeSet::from([ada, ben])).await, BTreeSet::from([ada, ben]));
}

#[tokio::test]
async fn a_large_batch_is_announced_in_payloads_postgres_accepts_and_truncate_means_everything() {
    let db = TestDatabase::fresh().await;
    let mut listener = ChangeListener::connect(&db.pool).await.unwrap();
    // 450 patients: more than one payload of 200 UUIDs (PostgreSQL refuses
    // payloads over 8,000 bytes, which would fail the landing transaction).
    let patients: Vec<Uuid> = (0..450).map(|_| Uuid::new_v4()).collect();
    let batch: Vec<Inbound> = patients
        .iter()
        .enumerate()
        .flat_map(|(i, p)| [reading(2 * i as i64, *p, Some("P"), 10), reading(2 * i as i64 + 1, *p, Some("P"), 5)])
        .collect();
    let landed = land(&db.pool, &Topics::default(), &batch).await.unwrap();
    assert_eq!(landed.stored, 900);
    // Every reading is named once, each patient's in time order.
    let mut admitted = BTreeSet::new();
    let mut stored = Vec::new();
    while stored.len() < 900 {
        match next(&mut listener).await {
            ReadingsChanged::Admitted(uuids) => admitted.extend(uuids),
            ReadingsChanged::Stored(keys) => stored.extend(keys),
            other => panic!("unexpected {other:?}"),
        }
    }
    let expected: BTreeSet<Uuid> = patients.iter().copied().collect();
    assert_eq!(admitted, expected, "each patient the batch registered is announced as admitted");
    let mut keys: Vec<ReadingKey> = patients
        .iter()
        .flat_map(|p| [ReadingKey { patient: *p, measured_at: at(5) }, ReadingKey { patient: *p, measured_at: at(10) }])
        .collect();
    keys.sort();
    assert_eq!(stored, keys);

    sqlx::query("TRUNCATE vital_signs").execute(&db.pool).await.unwrap();
    let next = tokio::time::timeout(Duration::from_secs(10), listener.next()).await;
    assert!(matches!(next, Ok(Ok(Some(ReadingsChanged::All)))), "{next:?}");
}

#[tokio::test]
async fn admissions_are_announced_when_they_change_something_and_stored_readings_can_be_fetched_by_key() {
    let db = TestDatabase::fresh().await;
    let mut listener = ChangeListener::connect(&db.pool).await.unwrap();
    let ada = Uuid::new_v4();
    let admitted_at = Utc::now() - TimeDelta::hours(1);
    let admission = |bed: &str| json!({"v": 1, "uuid": ada, "name": "Ada", "bed": bed, "admitted_at": admitted_at});
    land(&db.pool, &Topics::default(), &[message("icu.patients", 1, admission("03"))]).await.unwrap();
    assert_eq!(next(&mut listener).await, ReadingsChanged::Admitted(vec![ada]));
    let patients = store::ward::admitted(&db.pool, &[Uuid::new_v4(), ada]).await.unwrap();
    assert_eq!(patients.len(), 1, "an unknown patient is left out");
    assert_eq!((patients[0].name.as_str(), patients[0].bed.as_deref()), ("Ada", Some("03")));

    // The same admission again changes nothing and is no news; a new bed is.
    land(&db.pool, &Topics::default(), &[message("icu.patients", 2, admission("03"))]).await.unwrap();
    land(&db.pool, &Topics::default(), &[message("icu.patients", 3, admission("04"))]).await.unwrap();
    assert_eq!(next(&mut listener).await, ReadingsChanged::Admitted(vec![ada]));
    assert_eq!(store::ward::admitted(&db.pool, &[ada]).await.unwrap()[0].bed.as_deref(), Some("04"));

    land(&db.pool, &Topics::default(), &[reading(4, ada, None, 7), reading(5, ada, None, 3)]).await.unwrap();
    let ReadingsChanged::Stored(keys) = next(&mut listener).await else { panic!("expected stored readings") };
    assert_eq!(keys.iter().map(|k| k.measured_at).collect::<Vec<_>>(), vec![at(3), at(7)], "in time order");
    // In the order asked for, a key that names nothing left out.
    let asked = [keys[1], ReadingKey { patient: ada, measured_at: at(100) }, keys[0]];
    let fetched = store::ward::readings_by_key(&db.pool, &asked).await.unwrap();
    let instants: Vec<_> = fetched.iter().map(|r| (r.patient_id, r.reading.measured_at)).collect();
    assert_eq!(instants, vec![(ada, at(7)), (ada, at(3))]);
    assert_eq!(fetched[0].reading.pulse, 80);
}
