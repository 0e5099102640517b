//! Landing on a real PostgreSQL: stored, duplicate, queued, quarantined.

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;
use sqlx::PgPool;
use store::ingest::{Inbound, Landed, Topics, land, land_in, queue_stats, sweep};
use testkit::TestDatabase;
use uuid::Uuid;

const VITALS: &str = "icu.vitals";
const PATIENTS: &str = "icu.patients";

fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-24T08:00:00Z").unwrap().to_utc() + TimeDelta::seconds(seconds)
}

/// Builds messages with increasing offsets per topic, as a partition would.
#[derive(Default)]
struct Feed {
    next_offset: i64,
}

impl Feed {
    fn message(&mut self, topic: &str, key: Option<Uuid>, payload: impl Into<Vec<u8>>) -> Inbound {
        self.next_offset += 1;
        Inbound {
            topic: topic.into(),
            partition: 0,
            offset: self.next_offset,
            key: key.map(|k| k.to_string().into_bytes()),
            headers: vec![("content-type".into(), b"application/json".to_vec())],
            payload: payload.into(),
            received_at: Utc::now(),
        }
    }

    fn reading(&mut self, patient: Uuid, name: Option<&str>, second: i64, pulse: i64) -> Inbound {
        let mut body = json!({
            "uuid": patient, "timestamp": at(second), "pulse": pulse, "resp_rate": 16,
            "bp": "120/80", "spo2": 97, "temperature": 36.9
        });
        if let Some(name) = name {
            body["name"] = json!(name);
        }
        self.message(VITALS, Some(patient), body.to_string())
    }

    fn admission(&mut self, patient: Uuid, name: &str, bed: &str) -> Inbound {
        let body = json!({"v": 1, "uuid": patient, "name": name, "bed": bed, "admitted_at": at(-3600)});
        self.message(PATIENTS, Some(patient), body.to_string())
    }
}

async fn count(pool: &PgPool, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT count(*) FROM {table}")).fetch_one(pool).await.unwrap()
}

#[tokio::test]
async fn a_reading_in_the_original_format_registers_its_patient_and_is_stored() {
    let db = TestDatabase::fresh().await;
    let mut feed = Feed::default();
    let ada = Uuid::new_v4();
    let landed = land(&db.pool, &Topics::default(), &[feed.reading(ada, Some("Ada"), 0, 72)]).await.unwrap();
    assert_eq!(landed, Landed { stored: 1, ..Landed::default() });
    let (name, pulse, news2, band, topic): (String, i16, i16, String, String) = sqlx::query_as(
        "SELECT p.name, v.pulse, v.news2, v.news2_band, v.source_topic FROM vital_signs v JOIN patients p ON p.uuid = v.patient_id",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!((name.as_str(), pulse, news2, band.as_str(), topic.as_str()), ("Ada", 72, 0, "low", VITALS));

    // The admission that follows is the authority on name and bed.
    land(&db.pool, &Topics::default(), &[feed.admission(ada, "Ada Lovelace", "07")]).await.unwrap();
    let (name, bed): (String, Option<String>) =
        sqlx::query_as("SELECT name, bed FROM patients WHERE uuid = $1").bind(ada).fetch_one(&db.pool).await.unwrap();
    assert_eq!((name.as_str(), bed.as_deref()), ("Ada Lovelace", Some("07")));
}

#[tokio::test]
async fn a_reading_before_its_patient_is_held_then_stored_with_the_admission() {
    let db = TestDatabase::fresh().await;
    let mut feed = Feed::default();
    let ben = Uuid::new_v4();
    let mut early = [feed.reading(ben, None, 0, 80), feed.reading(ben, None, 5, 82)];
    // Messages from a day ago (a replay from an early offset): their age in
    // the queue starts now, not at their Kafka timestamp.
    for m in &mut early {
        m.received_at = Utc::now() - TimeDelta::days(1);
    }
    let landed = land(&db.pool, &Topics::default(), &early).await.unwrap();
    assert_eq!(landed, Landed { queued: 2, ..Landed::default() });
    assert_eq!(count(&db.pool, "vital_signs").await, 0);
    let stats = queue_stats(&db.pool).await.unwrap();
    assert_eq!(stats.depth, 2);
    assert!(stats.oldest_age_seconds < 600.0, "parked just now: {stats:?}");

    let landed = land(&db.pool, &Topics::default(), &[feed.admission(ben, "Ben", "02")]).await.unwrap();
    assert_eq!((landed.admitted, landed.promoted), (1, 2));
    assert_eq!(count(&db.pool, "vital_signs").await, 2);
    assert_eq!(count(&db.pool, "ingest_queue").await, 0);
    // The promoted rows keep where they came from.
    let offsets: Vec<i64> = sqlx::query_scalar("SELECT source_offset FROM vital_signs ORDER BY measured_at")
        .fetch_all(&db.pool)
        .await
        .unwrap();
    assert_eq!(offsets, vec![1, 2]);
}

#[tokio::test]
async fn the_same_batch_landed_twice_stores_each_reading_once() {
    let db = TestDatabase::fresh().await;
    let mut feed = Feed::default();
    let (a, b, c) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let batch = vec![
        feed.admission(a, "A", "01"),
        feed.reading(a, None, 0, 70),
        feed.reading(a, None, 5, 71),
        feed.reading(b, None, 0, 90),      // unknown patient: queued
        feed.reading(c, Some("C"), 0, 80), // original format: registers its patient
        feed.reading(c, Some("C"), 5, 81),
        feed.message(VITALS, None, "not json"),
    ];
    let first = land(&db.pool, &Topics::default(), &batch).await.unwrap();
    assert_eq!((first.stored, first.queued, first.duplicates), (4, 1, 0));
    let again = land(&db.pool, &Topics::default(), &batch).await.unwrap();
    assert_eq!((again.stored, again.queued, again.duplicates), (0, 0, 5), "four stored and one parked before");
    assert_eq!(count(&db.pool, "vital_signs").await, 4);
    assert_eq!(count(&db.pool, "ingest_queue").await, 1);
    assert_eq!(count(&db.pool, "ingest_quarantine").await, 1);
}

#[tokio::test]
async fn every_kind_of_bad_message_is_quarantined_and_the_rest_stored() {
    let db = TestDatabase::fresh().await;
    let mut feed = Feed::default();
    let p = Uuid::new_v4();
    let reading = |extra: serde_json::Value| {
        let mut body = json!({"uuid": p, "name": "P", "timestamp": at(0), "pulse": 70, "resp_rate": 16,
                              "bp": "120/80", "spo2": 97, "temperature": 36.9});
        for (k, v) in extra.as_object().unwrap() {
            if v.is_null() {
                body.as_object_mut().unwrap().remove(k);
            } else {
                body[k] = v.clone();
            }
        }
        body.to_string()
    };
    let bad = [
        ("malformed_json", b"{\"uuid\": ".to_vec()),
        ("missing_field", reading(json!({"pulse": null})).into_bytes()),
        ("wrong_type", reading(json!({"pulse": "fast"})).into_bytes()),
        ("invalid_field", reading(json!({"uuid": "bed-7"})).into_bytes()),
        ("unsupported_version", reading(json!({"v": 2})).into_bytes()),
        ("out_of_range", reading(json!({"pulse": 400})).into_bytes()),
        ("impossible", reading(json!({"bp": "80/120"})).into_bytes()),
        ("oversized", vec![b' '; vitals::MAX_MESSAGE_BYTES + 1]),
    ];
    let mut batch = vec![feed.reading(p, Some("P"), 10, 70)];
    for (_, payload) in &bad {
        batch.push(feed.message(VITALS, Some(p), payload.clone()));
    }
    batch.push(feed.message(PATIENTS, Some(p), "{\"v\":1}"));
    batch.push(feed.message("icu.elsewhere", None, "{}"));
    batch.push(feed.reading(p, Some("P"), 20, 71));

    let landed = land(&db.pool, &Topics::default(), &batch).await.unwrap();
    assert_eq!(landed.stored, 2, "the valid readings around the bad ones");
    for (kind, _) in &bad {
        assert!(landed.quarantined.get(kind).copied().unwrap_or(0) >= 1, "{kind} not reported: {landed:?}");
    }
    assert_eq!(landed.quarantined.get("unknown_topic"), Some(&1));

    let rows: Vec<(String, String, Vec<u8>, i64)> =
        sqlx::query_as("SELECT error_kind, reason, payload, \"offset\" FROM ingest_quarantine ORDER BY \"offset\"")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(rows.len(), bad.len() + 2);
    for ((kind, reason, payload, _), (expected, sent)) in rows.iter().zip(&bad) {
        assert_eq!(kind, expected, "{reason}");
        assert_eq!(payload, sent, "kept byte for byte");
        assert!(!reason.is_empty());
    }
    let (_, reason, _, _) = &rows[5];
    assert!(reason.contains("pulse"), "the reason names the field: {reason}");
}

#[tokio::test]
async fn a_reading_queued_while_another_replica_admits_its_patient_is_promoted_by_the_sweep() {
    let db = TestDatabase::fresh().await;
    let mut feed = Feed::default();
    let c = Uuid::new_v4();
    // Replica A parks the reading (its patient is not visible yet) but has
    // not committed when replica B admits the patient and commits.
    let mut a = db.pool.begin().await.unwrap();
    let parked = land_in(&mut a, &Topics::default(), &[feed.reading(c, None, 0, 75)]).await.unwrap();
    assert_eq!(parked.queued, 1);
    let admitted = land(&db.pool, &Topics::default(), &[feed.admission(c, "C", "03")]).await.unwrap();
    assert_eq!(admitted.promoted, 0, "B cannot see A's uncommitted row");
    a.commit().await.unwrap();
    assert_eq!(count(&db.pool, "ingest_queue").await, 1);

    assert_eq!(sweep(&db.pool, 100).await.unwrap().promoted, 1);
    assert_eq!(count(&db.pool, "ingest_queue").await, 0);
    assert_eq!(count(&db.pool, "vital_signs").await, 1);
    assert_eq!(sweep(&db.pool, 100).await.unwrap().promoted, 0);
}

#[tokio::test]
async fn trace_context_from_the_traceparent_header_is_kept() {
    let db = TestDatabase::fresh().await;
    let mut feed = Feed::default();
    let mut m = feed.reading(Uuid::new_v4(), Some("T"), 0, 70);
    m.headers.push(("traceparent".into(), b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_vec()));
    land(&db.pool, &Topics::default(), &[m]).await.unwrap();
    let (trace, span): (Option<String>, Option<String>) =
        sqlx::query_as("SELECT trace_id, span_id FROM vital_signs").fetch_one(&db.pool).await.unwrap();
    assert_eq!(trace.as_deref(), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
    assert_eq!(span.as_deref(), Some("00f067aa0ba902b7"));
}

#[tokio::test]
async fn a_value_postgres_refuses_is_quarantined_alone_and_the_rest_of_the_batch_lands() {
    let db = TestDatabase::fresh().await;
    let mut feed = Feed::default();
    let (known, unknown) = (Uuid::new_v4(), Uuid::new_v4());
    // Valid for the domain, but its payload must be parked as jsonb, which
    // cannot hold a NUL: PostgreSQL itself refuses it.
    let nul_payload = json!({"uuid": unknown, "timestamp": at(0), "pulse": 70, "resp_rate": 16, "bp": "120/80",
                             "spo2": 97, "temperature": 36.9, "note": "a\u{0}b"})
    .to_string();
    let mut binary_header = feed.message(VITALS, None, "not json");
    binary_header.headers.push(("x-raw".into(), vec![0, 159, 255]));
    let batch = vec![
        feed.reading(known, Some("K"), 0, 70),
        feed.reading(known, Some("K"), 5, 71),
        feed.message(VITALS, Some(unknown), nul_payload.clone()),
        binary_header,
        feed.reading(known, Some("K\u{0}"), 10, 72),
        feed.reading(unknown, None, 5, 73),
        feed.reading(known, Some("K"), 15, 74),
    ];
    let landed = land(&db.pool, &Topics::default(), &batch).await.unwrap();
    assert_eq!((landed.stored, landed.queued), (3, 1), "{landed:?}");
    assert_eq!(
        landed.quarantined,
        [("invalid_field", 1), ("malformed_json", 1), ("refused_by_database", 1)].into_iter().collect()
    );

    let rows: Vec<(String, String, Vec<u8>, serde_json::Value)> =
        sqlx::query_as("SELECT error_kind, reason, payload, headers FROM ingest_quarantine ORDER BY error_kind")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    let (_, name_reason, _, _) = &rows[0];
    assert!(name_reason.contains("control character"), "{name_reason}");
    let (_, _, _, headers) = &rows[1];
    assert_eq!(headers["x-raw"], json!({"hex": "009fff"}), "a binary header is kept exactly");
    let (_, refused_reason, payload, _) = &rows[2];
    assert!(
        refused_reason.contains("PostgreSQL refused") && refused_reason.contains("SQLSTATE 22"),
        "{refused_reason}"
    );
    assert_eq!(payload, nul_payload.as_bytes(), "kept byte for byte");

    // Landing the batch again is still idempotent, refused message included.
    let again = land(&db.pool, &Topics::default(), &batch).await.unwrap();
    assert_eq!((again.stored, again.duplicates), (0, 4), "three stored and one parked before");
    assert_eq!(count(&db.pool, "ingest_quarantine").await, 3);
    assert_eq!(count(&db.pool, "ingest_queue").await, 1);
}

#[tokio::test]
async fn a_reading_measured_after_it_was_received_is_impossible() {
    let db = TestDatabase::fresh().await;
    let mut feed = Feed::default();
    let p = Uuid::new_v4();
    let mut from_the_future = feed.reading(p, Some("F"), 0, 70);
    from_the_future.received_at = at(-600);
    let mut skewed = feed.reading(p, Some("F"), 5, 70);
    skewed.received_at = at(-60);
    let landed = land(&db.pool, &Topics::default(), &[from_the_future, skewed]).await.unwrap();
    assert_eq!(landed.stored, 1, "a clock a minute ahead is tolerated");
    assert_eq!(landed.quarantined.get("impossible"), Some(&1));
    let reason: String = sqlx::query_scalar("SELECT reason FROM ingest_quarantine").fetch_one(&db.pool).await.unwrap();
    assert!(reason.contains("after the message was received"), "{reason}");
}

#[tokio::test]
async fn a_queued_reading_that_is_no_longer_valid_goes_to_quarantine_not_round_and_round() {
    let db = TestDatabase::fresh().await;
    let mut feed = Feed::default();
    let p = Uuid::new_v4();
    land(&db.pool, &Topics::default(), &[feed.reading(p, None, 0, 70), feed.reading(p, None, 5, 71)]).await.unwrap();
    // As if the domain's rules had changed since the reading was parked.
    sqlx::query("UPDATE ingest_queue SET payload = jsonb_set(payload, '{pulse}', '999') WHERE \"offset\" = 1")
        .execute(&db.pool)
        .await
        .unwrap();
    let mut a = db.pool.begin().await.unwrap();
    sqlx::query("INSERT INTO patients (uuid, name, admitted_at) VALUES ($1, 'P', now())")
        .bind(p)
        .execute(&mut *a)
        .await
        .unwrap();
    a.commit().await.unwrap();

    assert_eq!(sweep(&db.pool, 100).await.unwrap().promoted, 1, "only the valid one is stored");
    assert_eq!(count(&db.pool, "ingest_queue").await, 0);
    let (kind, reason): (String, String) =
        sqlx::query_as("SELECT error_kind, reason FROM ingest_quarantine").fetch_one(&db.pool).await.unwrap();
    assert_eq!(kind, "out_of_range");
    assert!(reason.starts_with("queued, then no longer valid") && reason.contains("pulse"), "{reason}");
}

#[tokio::test]
async fn a_different_reading_at_the_same_instant_is_a_conflict_not_a_duplicate() {
    let db = TestDatabase::fresh().await;
    let mut feed = Feed::default();
    let (p, q) = (Uuid::new_v4(), Uuid::new_v4());
    land(&db.pool, &Topics::default(), &[feed.admission(q, "Q", "09")]).await.unwrap();
    let first = [feed.reading(p, Some("P"), 0, 70), feed.reading(q, None, 0, 80)];
    land(&db.pool, &Topics::default(), &first).await.unwrap();

    // Another message at the same instants: the same values (a re-send) for
    // P at 0 s and Q; other values for P, in both the named and nameless form.
    let batch = [
        feed.reading(p, Some("P"), 0, 70),
        feed.reading(p, Some("P"), 0, 99),
        feed.reading(q, None, 0, 80),
        feed.reading(q, None, 0, 81),
    ];
    let landed = land(&db.pool, &Topics::default(), &batch).await.unwrap();
    assert_eq!((landed.stored, landed.duplicates), (0, 2), "{landed:?}");
    assert_eq!(landed.quarantined.get("conflict"), Some(&2));
    let pulses: Vec<i16> =
        sqlx::query_scalar("SELECT pulse FROM vital_signs ORDER BY pulse").fetch_all(&db.pool).await.unwrap();
    assert_eq!(pulses, [70, 80], "the first reading stands");
    let reasons: Vec<String> = sqlx::query_scalar("SELECT reason FROM ingest_quarantine WHERE error_kind = 'conflict'")
        .fetch_all(&db.pool)
        .await
        .unwrap();
    assert!(reasons.iter().all(|r| r.contains("different reading")), "{reasons:?}");

    // A redelivery of the first batch is still a plain duplicate.
    let again = land(&db.pool, &Topics::default(), &first).await.unwrap();
    assert_eq!((again.duplicates, again.quarantined.len()), (2, 0));

    // A parked reading came first: when the reading that registers its
    // patient claims the same instant with other values, the parked one
    // stands and the newcomer is the conflict.
    let r = Uuid::new_v4();
    let parked = land(&db.pool, &Topics::default(), &[feed.reading(r, None, 0, 60)]).await.unwrap();
    assert_eq!(parked.queued, 1);
    let redelivered = land(&db.pool, &Topics::default(), &[feed.reading(r, None, 0, 60)]).await.unwrap();
    assert_eq!((redelivered.queued, redelivered.duplicates), (1, 0), "another message, parked too");
    let arrival = land(&db.pool, &Topics::default(), &[feed.reading(r, Some("R"), 0, 66)]).await.unwrap();
    assert_eq!((arrival.stored, arrival.promoted, arrival.duplicates), (0, 1, 1), "{arrival:?}");
    assert_eq!(arrival.quarantined.get("conflict"), Some(&1));
    assert_eq!(count(&db.pool, "ingest_queue").await, 0);
    let pulse: i16 = sqlx::query_scalar("SELECT pulse FROM vital_signs WHERE patient_id = $1")
        .bind(r)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(pulse, 60, "the parked reading stands");
}
