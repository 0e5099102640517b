//! The data-service between a real Kafka-protocol broker and a real
//! PostgreSQL: stored once, parked until the patient arrives, quarantined.

mod common;

use common::*;
use testkit::TestDatabase;
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn valid_readings_are_stored_once_and_each_bad_message_is_quarantined() {
    let broker = broker();
    let db = TestDatabase::fresh().await;
    let service = Running::start(config(&broker.bootstrap, &db.url, &[])).await;
    let producer = broker.producer();

    let patients: Vec<Uuid> = (0..5).map(|_| Uuid::new_v4()).collect();
    let mut messages: Vec<(&str, Option<Uuid>, Vec<u8>)> = Vec::new();
    for (i, &p) in patients.iter().enumerate() {
        for k in 0..40 {
            messages.push((VITALS, Some(p), reading(p, Some(&format!("Patient {i}")), k * 1000)));
        }
    }
    let p = patients[0];
    let bad: Vec<(&str, Vec<u8>)> = vec![
        ("malformed_json", b"{\"uuid\":".to_vec()),
        (
            "missing_field",
            br#"{"uuid":"0b7e6c1e-3c1a-4d5e-9f00-2a4b6c8d0e1f","timestamp":"2026-11-24T08:00:00Z"}"#.to_vec(),
        ),
        (
            "wrong_type",
            String::from_utf8(reading(p, None, 1)).unwrap().replace("\"bp\":\"120/80\"", "\"bp\":120").into_bytes(),
        ),
        (
            "out_of_range",
            String::from_utf8(reading(p, None, 2)).unwrap().replace("\"spo2\":97", "\"spo2\":140").into_bytes(),
        ),
        ("impossible", String::from_utf8(reading(p, None, 3)).unwrap().replace("120/80", "80/120").into_bytes()),
        (
            "unsupported_version",
            String::from_utf8(reading(p, None, 4)).unwrap().replacen('{', "{\"v\":9,", 1).into_bytes(),
        ),
        ("oversized", vec![b'x'; vitals::MAX_MESSAGE_BYTES + 10]),
    ];
    // In the middle of the first patient's readings, on the same partition:
    // the readings after them must be stored too.
    for (j, (_, payload)) in bad.iter().enumerate() {
        messages.insert(5 + 4 * j, (VITALS, Some(p), payload.clone()));
    }
    send_all(&producer, &messages).await;

    eventually("200 readings stored and 7 quarantined", 30, async || {
        count(&db.pool, "vital_signs").await == 200 && count(&db.pool, "ingest_quarantine").await == 7
    })
    .await;
    let kinds: Vec<String> = sqlx::query_scalar("SELECT error_kind FROM ingest_quarantine ORDER BY error_kind")
        .fetch_all(&db.pool)
        .await
        .unwrap();
    let mut expected: Vec<&str> = bad.iter().map(|(k, _)| *k).collect();
    expected.sort();
    assert_eq!(kinds, expected);
    assert_eq!(count(&db.pool, "patients").await, 5);
    // Metrics are recorded just after the transaction commits.
    eventually("stored and quarantined counted", 10, async || {
        service.metric("icu_ingest_quarantined_total").await == 7.0
            && service.metric("icu_ingest_stored_total").await == 200.0
    })
    .await;
    // Every stored reading's freshness is observed once; these were measured
    // at 2026-11-24 (see `reading`), so all are older than the last bucket.
    assert_eq!(service.metric("icu_ingest_freshness_seconds_count").await, 200.0);
    assert_eq!(service.metric(r#"icu_ingest_freshness_seconds_bucket{le="+Inf"}"#).await, 200.0);
    let lines = service.metric_lines().await;
    let last_finite = r#"icu_ingest_freshness_seconds_bucket{le="327.68"} 0"#;
    assert!(lines.iter().any(|l| l == last_finite), "{last_finite} missing: {lines:?}");
    // Kinds that never happened are there at zero, for rate() and dashboards.
    for kind in ["conflict", "refused_by_database", "unknown_topic", "invalid_field"] {
        let series = format!(r#"icu_ingest_quarantined_total{{kind="{kind}"}} 0"#);
        assert!(lines.contains(&series), "{series} missing");
    }
    assert_eq!(service.metric(r#"icu_build_info{service="data-service""#).await, 1.0);
    assert!(service.metric(r#"icu_http_requests_total{method="GET",route="/metrics",status="200"}"#).await >= 1.0);
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reading_before_its_patient_waits_in_the_queue_then_is_stored() {
    let broker = broker();
    let db = TestDatabase::fresh().await;
    let service = Running::start(config(&broker.bootstrap, &db.url, &[])).await;
    let producer = broker.producer();
    let p = Uuid::new_v4();

    let early: Vec<_> = (0..3).map(|k| (VITALS, Some(p), reading(p, None, k * 1000))).collect();
    send_all(&producer, &early).await;
    eventually("3 readings parked", 30, async || count(&db.pool, "ingest_queue").await == 3).await;
    assert_eq!(count(&db.pool, "vital_signs").await, 0);
    eventually("queue depth metric", 10, async || service.metric("icu_ingest_queue_depth").await == 3.0).await;

    send_all(&producer, &[(PATIENTS, Some(p), admission(p, "Late Admission"))]).await;
    eventually("parked readings stored", 30, async || count(&db.pool, "vital_signs").await == 3).await;
    assert_eq!(count(&db.pool, "ingest_queue").await, 0);
    let name: String =
        sqlx::query_scalar("SELECT name FROM patients WHERE uuid = $1").bind(p).fetch_one(&db.pool).await.unwrap();
    assert_eq!(name, "Late Admission");
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_resumes_from_the_committed_offsets() {
    let broker = broker();
    let db = TestDatabase::fresh().await;
    let producer = broker.producer();
    let p = Uuid::new_v4();
    let batch = |from: i64| -> Vec<_> {
        (from..from + 100).map(|k| (VITALS, Some(p), reading(p, Some("R"), k * 1000))).collect()
    };

    let first = Running::start(config(&broker.bootstrap, &db.url, &[])).await;
    send_all(&producer, &batch(0)).await;
    eventually("first 100 stored", 30, async || count(&db.pool, "vital_signs").await == 100).await;
    first.stop().await;

    send_all(&producer, &batch(100)).await;
    let second = Running::start(config(&broker.bootstrap, &db.url, &[])).await;
    eventually("all 200 stored", 30, async || count(&db.pool, "vital_signs").await == 200).await;
    // It read on from where the first left off, not from the beginning.
    assert_eq!(second.metric("icu_ingest_consumed_total").await, 100.0);
    assert_eq!(second.metric("icu_ingest_duplicates_total").await, 0.0);
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_the_partitions_with_no_loss_and_no_duplicate() {
    let broker = broker();
    let db = TestDatabase::fresh().await;
    let a = Running::start(config(&broker.bootstrap, &db.url, &[])).await;
    let b = Running::start(config(&broker.bootstrap, &db.url, &[])).await;
    // Both have joined when each owns some partition of the readings.
    eventually("both replicas assigned", 30, async || {
        let (la, lb) = (
            reqwest::get(format!("http://{}/metrics", a.addr)).await.unwrap().text().await.unwrap(),
            reqwest::get(format!("http://{}/metrics", b.addr)).await.unwrap().text().await.unwrap(),
        );
        la.contains("icu_ingest_consumer_lag_messages{topic=\"icu.vitals\"")
            && lb.contains("icu_ingest_consumer_lag_messages{topic=\"icu.vitals\"")
    })
    .await;

    let producer = broker.producer();
    let patients: Vec<Uuid> = (0..16).map(|_| Uuid::new_v4()).collect();
    let messages: Vec<_> = patients
        .iter()
        .flat_map(|&p| (0..25).map(move |k| (VITALS, Some(p), reading(p, Some("Shared"), k * 1000))))
        .collect();
    send_all(&producer, &messages).await;
    eventually("400 stored", 30, async || count(&db.pool, "vital_signs").await == 400).await;
    let (ca, cb) = (a.metric("icu_ingest_consumed_total").await, b.metric("icu_ingest_consumed_total").await);
    assert!(ca > 0.0 && cb > 0.0, "both replicas consumed: {ca} + {cb}");
    assert_eq!(ca + cb, 400.0, "each message consumed by exactly one replica");
    a.stop().await;
    b.stop().await;
}

/// Produces one message whose header name is not UTF-8, which no safe Rust
/// Kafka API can write (other clients can): through librdkafka's C API.
fn produce_with_raw_header_name(bootstrap: &str, topic: &str, payload: &[u8], name: &[u8], value: &[u8]) {
    use rdkafka::bindings as rd;
    use rdkafka::producer::{BaseProducer, Producer as _};
    let producer: BaseProducer =
        rdkafka::ClientConfig::new().set("bootstrap.servers", bootstrap).create().expect("a producer");
    let topic = std::ffi::CString::new(topic).unwrap();
    let name = std::ffi::CString::new(name).unwrap();
    let vu = |vtype, u| rd::rd_kafka_vu_t { vtype, u };
    let args = [
        vu(rd::rd_kafka_vtype_t::RD_KAFKA_VTYPE_TOPIC, rd::rd_kafka_vu_s__bindgen_ty_1 { cstr: topic.as_ptr() }),
        vu(
            rd::rd_kafka_vtype_t::RD_KAFKA_VTYPE_VALUE,
            rd::rd_kafka_vu_s__bindgen_ty_1 {
                mem: rd::rd_kafka_vu_s__bindgen_ty_1__bindgen_ty_1 {
                    ptr: payload.as_ptr() as *mut _,
                    size: payload.len(),
                },
            },
        ),
        vu(
            rd::rd_kafka_vtype_t::RD_KAFKA_VTYPE_HEADER,
            rd::rd_kafka_vu_s__bindgen_ty_1 {
                header: rd::rd_kafka_vu_s__bindgen_ty_1__bindgen_ty_2 {
                    name: name.as_ptr(),
                    val: value.as_ptr().cast(),
                    size: value.len() as isize,
                },
            },
        ),
        vu(
            rd::rd_kafka_vtype_t::RD_KAFKA_VTYPE_MSGFLAGS,
            rd::rd_kafka_vu_s__bindgen_ty_1 { i: rd::RD_KAFKA_MSG_F_COPY },
        ),
    ];
    // SAFETY: every pointer outlives the call (RD_KAFKA_MSG_F_COPY copies the
    // payload; librdkafka copies topic and header names).
    let error = unsafe { rd::rd_kafka_produceva(producer.client().native_ptr(), args.as_ptr(), args.len()) };
    assert!(error.is_null(), "produceva failed");
    producer.flush(std::time::Duration::from_secs(10)).expect("delivered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_header_name_that_is_not_utf8_is_kept_lossily_and_crashes_nothing() {
    let broker = broker();
    let db = TestDatabase::fresh().await;
    let service = Running::start(config(&broker.bootstrap, &db.url, &[])).await;
    let p = Uuid::new_v4();
    let bootstrap = broker.bootstrap.clone();
    tokio::task::spawn_blocking(move || {
        produce_with_raw_header_name(&bootstrap, VITALS, b"not json", b"x-\xff\xfe", b"\x00\x01")
    })
    .await
    .unwrap();
    send_all(&broker.producer(), &[(VITALS, Some(p), reading(p, Some("After"), 0))]).await;

    eventually("the message quarantined and the next reading stored", 30, async || {
        count(&db.pool, "ingest_quarantine").await == 1 && count(&db.pool, "vital_signs").await == 1
    })
    .await;
    let headers: serde_json::Value =
        sqlx::query_scalar("SELECT headers FROM ingest_quarantine").fetch_one(&db.pool).await.unwrap();
    assert_eq!(headers, serde_json::json!({"x-\u{FFFD}\u{FFFD}": {"hex": "0001"}}));
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reading_is_judged_against_its_kafka_timestamp_not_the_local_clock() {
    use rdkafka::producer::FutureRecord;
    let broker = broker();
    let db = TestDatabase::fresh().await;
    let service = Running::start(config(&broker.bootstrap, &db.url, &[])).await;
    let producer = broker.producer();
    let p = Uuid::new_v4();
    // Measured at at(0): sent 10 minutes before (a monitor clock far ahead)
    // and 1 minute before (within the skew allowed).
    let sent = |minutes_before: i64| (at(0) - chrono::TimeDelta::minutes(minutes_before)).timestamp_millis();
    let key = p.to_string();
    let (ahead, skewed) = (reading(p, Some("Clock"), 0), reading(p, Some("Clock"), 1000));
    for (payload, timestamp) in [(&ahead, sent(10)), (&skewed, sent(1))] {
        let record = FutureRecord::to(VITALS).key(&key).payload(payload).timestamp(timestamp);
        producer.send(record, std::time::Duration::from_secs(30)).await.expect("acknowledged");
    }
    eventually("one stored, one quarantined", 30, async || {
        count(&db.pool, "vital_signs").await == 1 && count(&db.pool, "ingest_quarantine").await == 1
    })
    .await;
    let (kind, reason): (String, String) =
        sqlx::query_as("SELECT error_kind, reason FROM ingest_quarantine").fetch_one(&db.pool).await.unwrap();
    assert_eq!(kind, "impossible");
    assert!(reason.contains("after the message was received"), "{reason}");
    service.stop().await;
}
