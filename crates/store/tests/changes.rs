//! The database announces every committed change to a patient's readings
//! (migration `0002_readings_changed`), whoever writes them.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;
use store::changes::{ChangeListener, ReadingsChanged};
use store::ingest::{Inbound, Topics, land, land_in, sweep};
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

fn reading(offset: i64, patient: Uuid, name: Option<&str>, second: i64) -> Inbound {
    let at = DateTime::parse_from_rfc3339("2026-11-25T08:00:00Z").unwrap().to_utc() + TimeDelta::seconds(second);
    let mut body = json!({"uuid": patient, "timestamp": at, "pulse": 80,
                          "resp_rate": 16, "bp": "120/80", "spo2": 97, "temperature": 36.9});
    if let Some(name) = name {
        body["name"] = json!(name);
    }
    message("icu.vitals", offset, body)
}

/// The patients announced until `expected` are all heard (or it gives up).
async fn heard(listener: &mut ChangeListener, expected: &BTreeSet<Uuid>) -> BTreeSet<Uuid> {
    let mut heard = BTreeSet::new();
    while !expected.is_subset(&heard) {
        match tokio::time::timeout(Duration::from_secs(10), listener.next()).await {
            Ok(Ok(Some(ReadingsChanged::Patients(patients)))) => heard.extend(patients),
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
    match tokio::time::timeout(Duration::from_secs(10), listener.next()).await {
        Ok(Ok(Some(ReadingsChanged::Patients(patients)))) => {
            assert_eq!(patients, vec![sentinel], "announced before the sentinel")
        }
        other => panic!("expected the sentinel's announcement, got {other:?}"),
    }
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
    land_in(&mut tx, &Topics::default(), &[reading(4, ada, Some("Ada"), 1)]).await.unwrap();
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
    let expected: BTreeSet<Uuid> = patients.into_iter().collect();
    assert_eq!(heard(&mut listener, &expected).await, expected);

    sqlx::query("TRUNCATE vital_signs").execute(&db.pool).await.unwrap();
    let next = tokio::time::timeout(Duration::from_secs(10), listener.next()).await;
    assert!(matches!(next, Ok(Ok(Some(ReadingsChanged::All)))), "{next:?}");
}
