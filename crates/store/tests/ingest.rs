//! Landing on a real PostgreSQL: stored, duplicate, queued, quarantined.

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;
use sqlx::PgPool;
use store::ingest::{Fate, Inbound, Landed, Prepared, Topics, land, land_in, queue_stats, sweep};
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
    assert_eq!(landed, Landed { stored: 1, fates: vec![Fate::Stored], measured: vec![at(0)], ..Landed::default() });
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
    // The first one was traced: its promotion must be able to join its trace.
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    early[0].headers.push(("traceparent".to_owned(), traceparent.as_bytes().to_vec()));
    let landed = land(&db.pool, &Topics::default(), &early).await.unwrap();
    assert_eq!(landed, Landed { queued: 2, fates: vec![Fate::Queued; 2], ..Landed::default() });
    assert_eq!(count(&db.pool, "vital_signs").await, 0);
    let stats = queue_stats(&db.pool).await.unwrap();
    assert_eq!(stats.depth, 2);
    assert!(stats.oldest_age_seconds < 600.0, "parked just now: {stats:?}");

    let landed = land(&db.pool, &Topics::default(), &[feed.admission(ben, "Ben", "02")]).await.unwrap();
    assert_eq!((landed.admitted, landed.promoted), (1, 2));
    assert_eq!(landed.measured, [at(0), at(5)], "promoted readings count for freshness too");
    assert_eq!(landed.promoted_traces, vec![vitals::TraceContext::parse_traceparent(traceparent.as_bytes()).unwrap()]);
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
    let mut measured = first.measured.clone();
    measured.sort();
    assert_eq!(measured, [at(0), at(0), at(5), at(5)], "the stored readings' times, for freshness");
    let again = land(&db.pool, &Topics::default(), &batch).await.unwrap();
    assert_eq!((again.stored, again.queued, again.duplicates), (0, 0, 5), "four stored and one parked before");
    assert!(again.measured.is_empty(), "a duplicate is not fresh: it was stored before");
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
    let parked = land_in(&mut a, &Prepared::of(&Topics::default(), vec![feed.reading(c, None, 0, 75)])).await.unwrap();
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
    sqlx::query(
        "UPDATE ingest_queue SET payload = convert_to(replace(convert_from(payload, 'UTF8'), '\"pulse\":70', \
         '\"pulse\":999'), 'UTF8') WHERE \"offset\" = 1",
    )
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

/// Every column of a stored reading, read back by name.
#[derive(Debug, PartialEq, sqlx::FromRow)]
struct Row {
    patient_id: Uuid,
    measured_at: DateTime<Utc>,
    pulse: i16,
    resp_rate: i16,
    bp_systolic: i16,
    bp_diastolic: i16,
    spo2: i16,
    temperature: f64,
    on_oxygen: Option<bool>,
    acvpu: Option<String>,
    news2: i16,
    news2_band: String,
    trace_id: Option<String>,
    span_id: Option<String>,
    source_topic: String,
    source_partition: i32,
    source_offset: i64,
}

async fn stored_row(pool: &PgPool, patient: Uuid, measured_at: DateTime<Utc>) -> Row {
    sqlx::query_as("SELECT * FROM vital_signs WHERE patient_id = $1 AND measured_at = $2")
        .bind(patient)
        .bind(measured_at)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// What the domain makes of a message, as the row it must become.
fn expected_row(m: &Inbound) -> Row {
    let received = vitals::Received {
        channel: vitals::Channel::Readings,
        payload: &m.payload,
        headers: &m.headers,
        received_at: m.received_at,
    };
    let vitals::Verdict::Reading(s) = vitals::plan::judge(&received) else { panic!("a valid reading") };
    let r = &s.reading;
    Row {
        patient_id: r.patient,
        measured_at: r.measured_at,
        pulse: r.pulse as i16,
        resp_rate: r.resp_rate as i16,
        bp_systolic: r.bp.systolic as i16,
        bp_diastolic: r.bp.diastolic as i16,
        spo2: i16::from(r.spo2),
        temperature: r.temperature,
        on_oxygen: r.on_oxygen,
        acvpu: r.acvpu.map(|a| a.as_str().to_owned()),
        news2: i16::from(s.news2.total),
        news2_band: s.news2.band.as_str().to_owned(),
        trace_id: s.trace.map(|t| t.trace_id_hex()),
        span_id: s.trace.map(|t| t.span_id_hex()),
        source_topic: m.topic.clone(),
        source_partition: m.partition,
        source_offset: m.offset,
    }
}

#[tokio::test]
async fn every_field_of_a_reading_is_written_and_read_back_equal_by_copy_and_by_insert() {
    let db = TestDatabase::fresh().await;
    let mut feed = Feed::default();
    let p = Uuid::new_v4();
    // Every small integer different, so that two swapped columns show.
    let full = |feed: &mut Feed, micros: i64, trace: &str| {
        let at = at(0) + TimeDelta::microseconds(micros);
        let body = json!({"uuid": p, "name": "Full Row", "timestamp": at, "pulse": 101, "resp_rate": 23,
                          "bp": "141/87", "spo2": 93, "temperature": 38.4, "on_oxygen": true, "acvpu": "V"});
        let mut m = feed.message(VITALS, Some(p), body.to_string());
        m.partition = 7;
        m.headers.push(("traceparent".into(), format!("00-{trace}-00f067aa0ba902b7-01").into_bytes()));
        m
    };
    let copied = full(&mut feed, 123_456, "4bf92f3577b34da6a3ce929d0e0e4736");
    let landed = land(&db.pool, &Topics::default(), std::slice::from_ref(&copied)).await.unwrap();
    assert_eq!(landed.fates, [Fate::Stored]);
    let expected = expected_row(&copied);
    assert_eq!((expected.news2, expected.acvpu.as_deref(), expected.on_oxygen), (11, Some("V"), Some(true)));
    assert_eq!(stored_row(&db.pool, p, expected.measured_at).await, expected, "written by COPY");

    // A batch holding a duplicate is written by INSERT … ON CONFLICT: same columns.
    let inserted = full(&mut feed, 654_321, "0af7651916cd43dd8448eb211c80319c");
    let landed = land(&db.pool, &Topics::default(), &[copied.clone(), inserted.clone()]).await.unwrap();
    assert_eq!(landed.fates, [Fate::Duplicate, Fate::Stored]);
    let expected = expected_row(&inserted);
    assert_eq!(stored_row(&db.pool, p, expected.measured_at).await, expected, "written by INSERT");
}

#[tokio::test]
async fn a_batch_with_a_stored_reading_in_its_middle_falls_back_and_stores_the_rest_once() {
    let db = TestDatabase::fresh().await;
    let mut feed = Feed::default();
    let p = Uuid::new_v4();
    let middle = feed.reading(p, Some("P"), 5, 70);
    land(&db.pool, &Topics::default(), std::slice::from_ref(&middle)).await.unwrap();
    // The first reading (in key order) is new, so COPY is tried, fails on
    // the stored one, and the savepoint's rollback leaves nothing behind.
    let batch = [feed.reading(p, Some("P"), 0, 71), middle, feed.reading(p, Some("P"), 10, 72)];
    let landed = land(&db.pool, &Topics::default(), &batch).await.unwrap();
    assert_eq!(landed.fates, [Fate::Stored, Fate::Duplicate, Fate::Stored]);
    assert_eq!(count(&db.pool, "vital_signs").await, 3);
}

#[tokio::test]
async fn a_parked_message_is_kept_byte_for_byte_and_quarantined_as_it_was_received() {
    let db = TestDatabase::fresh().await;
    let mut feed = Feed::default();
    let p = Uuid::new_v4();
    // Spacing, key order, an escape and a field the domain ignores: jsonb
    // would keep none of them as sent.
    let sent = format!(
        "{{ \"uuid\" : \"{p}\",\n  \"timestamp\":\"{}\", \"pulse\":70, \"resp_rate\":16, \"bp\":\"120/80\", \
         \"spo2\":97, \"temperature\":36.90, \"note\":\"caf\\u00e9\", \"a\":1 }}",
        at(0).to_rfc3339()
    );
    let mut m = feed.message(VITALS, None, sent.clone());
    m.key = Some(vec![0xff, 0x00, b'k']);
    assert_eq!(land(&db.pool, &Topics::default(), &[m]).await.unwrap().fates, [Fate::Queued]);
    let (payload, key): (Vec<u8>, Option<Vec<u8>>) =
        sqlx::query_as("SELECT payload, message_key FROM ingest_queue").fetch_one(&db.pool).await.unwrap();
    assert_eq!((payload.as_slice(), key.as_deref()), (sent.as_bytes(), Some(&[0xff, 0x00, b'k'][..])));

    // A different reading at that instant gets stored first (by hand): the
    // parked one becomes a conflict, quarantined as it was received.
    sqlx::query("INSERT INTO patients (uuid, name, admitted_at) VALUES ($1, 'P', now())")
        .bind(p)
        .execute(&db.pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO vital_signs (patient_id, measured_at, pulse, resp_rate, bp_systolic, bp_diastolic, spo2, \
         temperature, news2, news2_band, source_topic, source_partition, source_offset) \
         VALUES ($1, $2, 99, 16, 120, 80, 97, 36.9, 1, 'low', 'by-hand', 0, 0)",
    )
    .bind(p)
    .bind(at(0))
    .execute(&db.pool)
    .await
    .unwrap();
    let swept = sweep(&db.pool, 100).await.unwrap();
    assert_eq!(swept.quarantined.get("conflict"), Some(&1), "{swept:?}");
    let (payload, key): (Vec<u8>, Option<Vec<u8>>) =
        sqlx::query_as("SELECT payload, message_key FROM ingest_quarantine").fetch_one(&db.pool).await.unwrap();
    assert_eq!((payload.as_slice(), key.as_deref()), (sent.as_bytes(), Some(&[0xff, 0x00, b'k'][..])));
}

#[tokio::test]
async fn a_payload_with_a_nul_escape_meets_the_same_fate_whether_or_not_its_patient_is_known() {
    let db = TestDatabase::fresh().await;
    let mut feed = Feed::default();
    let (known, unknown) = (Uuid::new_v4(), Uuid::new_v4());
    land(&db.pool, &Topics::default(), &[feed.admission(known, "K", "01")]).await.unwrap();
    let with_nul = |p: Uuid| {
        json!({"uuid": p, "timestamp": at(0), "pulse": 70, "resp_rate": 16, "bp": "120/80", "spo2": 97,
               "temperature": 36.9, "note": "a\u{0}b"})
        .to_string()
    };
    let batch =
        [feed.message(VITALS, Some(known), with_nul(known)), feed.message(VITALS, Some(unknown), with_nul(unknown))];
    let landed = land(&db.pool, &Topics::default(), &batch).await.unwrap();
    assert_eq!(landed.fates, [Fate::Stored, Fate::Queued], "{landed:?}");
    let landed = land(&db.pool, &Topics::default(), &[feed.admission(unknown, "U", "02")]).await.unwrap();
    assert_eq!(landed.promoted, 1, "{landed:?}");
    assert_eq!(count(&db.pool, "vital_signs").await, 2);
    assert_eq!(count(&db.pool, "ingest_quarantine").await, 0);
}

#[tokio::test]
async fn a_value_postgres_refuses_unforeseen_is_quarantined_alone_and_the_rest_of_the_batch_lands() {
    let db = TestDatabase::fresh().await;
    let mut feed = Feed::default();
    // Something the domain cannot foresee: here a rule of the database's
    // own (a row trigger) refusing one value as a data exception.
    sqlx::query(
        "CREATE FUNCTION refuse_pulse_133() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
           IF NEW.pulse = 133 THEN RAISE EXCEPTION 'pulse 133 refused' USING ERRCODE = '22000'; END IF; \
           RETURN NEW; END $$",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    sqlx::query("CREATE TRIGGER refuse BEFORE INSERT ON vital_signs FOR EACH ROW EXECUTE FUNCTION refuse_pulse_133()")
        .execute(&db.pool)
        .await
        .unwrap();
    let p = Uuid::new_v4();
    let batch: Vec<Inbound> =
        (0..8).map(|k| feed.reading(p, Some("P"), k, if k == 5 { 133 } else { 70 + k })).collect();
    let landed = land(&db.pool, &Topics::default(), &batch).await.unwrap();
    assert_eq!(landed.stored, 7, "{landed:?}");
    assert_eq!(landed.fates[5], Fate::Quarantined("refused_by_database"));
    let (offset, reason): (i64, String) =
        sqlx::query_as("SELECT \"offset\", reason FROM ingest_quarantine").fetch_one(&db.pool).await.unwrap();
    assert_eq!(offset, batch[5].offset);
    assert!(reason.contains("PostgreSQL refused") && reason.contains("SQLSTATE 22000"), "{reason}");
    // Landing the batch again is still idempotent, refused message included.
    let again = land(&db.pool, &Topics::default(), &batch).await.unwrap();
    assert_eq!((again.stored, again.duplicates), (0, 7));
    assert_eq!(count(&db.pool, "ingest_quarantine").await, 1);
}

#[tokio::test]
async fn two_replicas_landing_admissions_and_readings_of_the_same_patients_do_not_deadlock() {
    let db = TestDatabase::fresh().await;
    let mut feed = Feed::default();
    // Each round, fresh patients: replica A admits the even ones and lands
    // named readings of the odd ones, replica B the other way round, at once.
    for round in 0..20 {
        let patients: Vec<Uuid> = (0..40).map(|_| Uuid::new_v4()).collect();
        let mut a = Vec::new();
        let mut b = Vec::new();
        for (i, &p) in patients.iter().enumerate() {
            let (admits, reads) = if i % 2 == 0 { (&mut a, &mut b) } else { (&mut b, &mut a) };
            admits.push(feed.admission(p, "Admitted", "01"));
            reads.push(feed.reading(p, Some("Registered"), round, 70));
        }
        let topics = Topics::default();
        let (ra, rb) = tokio::join!(land(&db.pool, &topics, &a), land(&db.pool, &topics, &b));
        let (ra, rb) = (ra.expect("replica A"), rb.expect("replica B"));
        assert_eq!((ra.stored + rb.stored, ra.admitted + rb.admitted), (40, 40), "round {round}");
    }
    let names: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT name FROM patients").fetch_all(&db.pool).await.unwrap();
    assert_eq!(names, ["Admitted"], "the admission is the authority, whoever lands first");
}
