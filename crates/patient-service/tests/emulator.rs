//! The emulator against a real Kafka-protocol broker (librdkafka's mock
//! cluster over loopback TCP), read back by an independent consumer.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use clap::Parser as _;
use patient_service::{Config, Service};
use testkit::kafka::{Received, read_all};
use testkit::{MockBroker, Running};
use vitals::{News2, ReadingMessage, RiskBand};

const VITALS: &str = "icu.vitals";
const PATIENTS: &str = "icu.patients";

fn broker() -> MockBroker {
    let broker = MockBroker::start();
    broker.create_topic(VITALS, 4);
    broker.create_topic(PATIENTS, 2);
    broker
}

/// The emulator in-process (the harness itself is `testkit::Running`).
trait Emulator {
    async fn start(broker: &MockBroker, args: &[&str]) -> Running;
    /// The value of a counter or gauge family summed over the label sets
    /// that contain every one of `labels`.
    async fn metric(&self, name: &str, labels: &[&str]) -> f64;
    async fn wait_for(&self, what: &str, done: impl AsyncFnMut(&Running) -> bool);
}

impl Emulator for Running {
    async fn start(broker: &MockBroker, args: &[&str]) -> Running {
        let mut argv = vec!["patient-service", "--kafka-bootstrap-servers", &broker.bootstrap, "--port", "0"];
        argv.extend_from_slice(args);
        let service = Service::start(Config::try_parse_from(argv).unwrap()).await.unwrap();
        Running::spawn(service.local_addr(), |stop| service.run_until(stop))
    }

    async fn metric(&self, name: &str, labels: &[&str]) -> f64 {
        let text = self.metrics().await;
        text.lines()
            .filter(|l| l.starts_with(name) && labels.iter().all(|needle| l.contains(needle)))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    async fn wait_for(&self, what: &str, mut done: impl AsyncFnMut(&Running) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !done(self).await {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

async fn read_back(broker: &MockBroker) -> Vec<Received> {
    let bootstrap = broker.bootstrap.clone();
    tokio::task::spawn_blocking(move || read_all(&bootstrap, &[VITALS, PATIENTS], Duration::from_secs(3)))
        .await
        .unwrap()
}

fn schema(name: &str) -> jsonschema::Validator {
    let path = format!("{}/../../api/schemas/{name}", env!("CARGO_MANIFEST_DIR"));
    let schema: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

/// Readings per patient (by key), in the order the broker holds them.
fn readings_by_patient(messages: &[Received]) -> BTreeMap<String, Vec<&Received>> {
    let mut by_patient: BTreeMap<String, Vec<&Received>> = BTreeMap::new();
    for m in messages.iter().filter(|m| m.topic == VITALS) {
        by_patient.entry(m.key.clone().unwrap()).or_default().push(m);
    }
    by_patient
}

/// Each patient's readings are exactly one interval apart: none missing,
/// none repeated, none out of order.
fn assert_contiguous(by_patient: &BTreeMap<String, Vec<&Received>>, interval_ms: i64) {
    for (uuid, readings) in by_patient {
        let times: Vec<i64> = readings
            .iter()
            .map(|m| ReadingMessage::decode(&m.payload).unwrap().measured_at.timestamp_millis())
            .collect();
        for pair in times.windows(2) {
            assert_eq!(pair[1] - pair[0], interval_ms, "patient {uuid}: gap or repeat in {times:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ward_publishes_admissions_then_valid_keyed_readings_normal_and_abnormal() {
    let broker = broker();
    let emulator = Running::start(&broker, &["--patients", "40", "--metrics-interval", "0.2", "--seed", "3"]).await;
    emulator
        .wait_for("five rounds delivered", async |e| {
            e.metric("icu_emulator_messages_delivered_total", &["icu.vitals"]).await >= 200.0
        })
        .await;
    let listed: serde_json::Value = reqwest::get(emulator.url("/api/v1/patients")).await.unwrap().json().await.unwrap();
    emulator.stop().await;
    let messages = read_back(&broker).await;

    let reading_schema = schema("reading.v1.json");
    let admission_schema = schema("admission.v1.json");
    let listed: Vec<String> =
        listed["patients"].as_array().unwrap().iter().map(|p| p["uuid"].as_str().unwrap().to_owned()).collect();
    assert_eq!(listed.len(), 40);

    // One admission per patient, keyed by its uuid, valid against the contract.
    let mut admitted: HashMap<String, &Received> = HashMap::new();
    for m in messages.iter().filter(|m| m.topic == PATIENTS) {
        let json = m.json();
        assert!(admission_schema.is_valid(&json), "admission breaks the contract: {json}");
        assert_eq!(m.key.as_deref(), json["uuid"].as_str(), "key = uuid");
        assert!(admitted.insert(m.key.clone().unwrap(), m).is_none(), "admitted twice: {json}");
    }
    let mut admitted_ids: Vec<_> = admitted.keys().cloned().collect();
    admitted_ids.sort();
    let mut listed_sorted = listed.clone();
    listed_sorted.sort();
    assert_eq!(admitted_ids, listed_sorted);

    let by_patient = readings_by_patient(&messages);
    assert_eq!(by_patient.len(), 40, "every patient reads");
    let (mut normal, mut abnormal) = (0, 0);
    for (uuid, readings) in &by_patient {
        let admission = admitted[uuid];
        assert!(readings.len() >= 3, "patient {uuid} has {} readings", readings.len());
        // The admission reached the broker before any reading of that patient.
        assert!(admission.timestamp <= readings[0].timestamp, "patient {uuid}: reading before admission");
        // One partition per patient, so their readings keep their order.
        assert!(readings.iter().all(|m| m.partition == readings[0].partition), "patient {uuid} spans partitions");
        for m in readings {
            let json = m.json();
            assert!(reading_schema.is_valid(&json), "reading breaks the contract: {json}");
            assert_eq!(json["v"], 1);
            assert!(json["bp"].as_str().unwrap().contains('/'), "bp in the original \"120/80\" format: {json}");
            assert!(m.headers.contains(&("content-type".into(), Some("application/json".into()))));
            let reading = ReadingMessage::decode(&m.payload).expect("the domain accepts every emulated reading");
            assert_eq!(reading.patient.to_string(), *uuid, "key = uuid");
            let score = News2::of(&reading);
            if score.total == 0 {
                normal += 1;
            }
            if score.band >= RiskBand::Medium {
                abnormal += 1;
            }
        }
    }
    assert!(normal > 0 && abnormal > 0, "normal {normal}, abnormal {abnormal}");
    // Shutdown flushed everything generated: no patient misses a reading.
    assert_contiguous(&by_patient, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_named_patient_as_in_the_original_assignment() {
    let broker = broker();
    let emulator = Running::start(&broker, &["--name", "Ada Lovelace", "--metrics-interval", "0.1"]).await;
    emulator
        .wait_for("readings delivered", async |e| {
            e.metric("icu_emulator_messages_delivered_total", &["icu.vitals"]).await >= 5.0
        })
        .await;
    emulator.stop().await;
    let messages = read_back(&broker).await;
    let expected = vitals::identity::patient_uuid_from_name("Ada Lovelace").to_string();
    let readings: Vec<_> = messages.iter().filter(|m| m.topic == VITALS).collect();
    assert!(readings.len() >= 5);
    for m in readings {
        let json = m.json();
        assert_eq!(json["uuid"], expected.as_str());
        assert_eq!(json["name"], "Ada Lovelace");
    }
}

async fn expect_problem(r: reqwest::Response, status: u16, kind: &str) -> serde_json::Value {
    assert_eq!(r.status(), status);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["type"], format!("/problems/{kind}"));
    assert_eq!(body["status"], status);
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditions_change_over_the_control_api_and_errors_are_problems() {
    let broker = broker();
    let emulator = Running::start(&broker, &["--patients", "3", "--metrics-interval", "1"]).await;
    let client = reqwest::Client::new();
    let list: serde_json::Value =
        client.get(emulator.url("/api/v1/patients")).send().await.unwrap().json().await.unwrap();
    let uuid = list["patients"][0]["uuid"].as_str().unwrap().to_owned();
    let condition_url = emulator.url(&format!("/api/v1/patients/{uuid}/condition"));

    let changed = client.put(&condition_url).json(&serde_json::json!({"condition": "sepsis"})).send().await.unwrap();
    assert_eq!(changed.status(), 200);
    let one: serde_json::Value =
        client.get(emulator.url(&format!("/api/v1/patients/{uuid}"))).send().await.unwrap().json().await.unwrap();
    assert_eq!(one["condition"], "sepsis");

    let unknown = client
        .put(emulator.url("/api/v1/patients/00000000-0000-4000-8000-000000000000/condition"))
        .json(&serde_json::json!({"condition": "fever"}))
        .send()
        .await
        .unwrap();
    expect_problem(unknown, 404, "unknown-patient").await;

    let bad_condition =
        client.put(&condition_url).json(&serde_json::json!({"condition": "hiccups"})).send().await.unwrap();
    let body = expect_problem(bad_condition, 422, "unknown-condition").await;
    let allowed: Vec<&str> = body["allowed"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(allowed, vitals::Condition::NAMES);

    let bad_uuid = client.get(emulator.url("/api/v1/patients/bed-7")).send().await.unwrap();
    expect_problem(bad_uuid, 400, "invalid-uuid").await;

    let not_json = client
        .put(&condition_url)
        .header("content-type", "application/json")
        .body("{\"condition\":")
        .send()
        .await
        .unwrap();
    expect_problem(not_json, 400, "invalid-body").await;

    // The rejected requests changed nothing.
    let one: serde_json::Value =
        client.get(emulator.url(&format!("/api/v1/patients/{uuid}"))).send().await.unwrap().json().await.unwrap();
    assert_eq!(one["condition"], "sepsis");

    // Measured by route template and bounded method, with the build's identity.
    let condition = [r#"method="PUT""#, r#"route="/api/v1/patients/{uuid}/condition""#];
    assert_eq!(emulator.metric("icu_http_requests_total", &[&condition[..], &[r#"status="200""#]].concat()).await, 1.0);
    assert_eq!(emulator.metric("icu_http_requests_total", &[&condition[..], &[r#"status="422""#]].concat()).await, 1.0);
    let version = format!(r#"version="{}""#, env!("CARGO_PKG_VERSION"));
    assert_eq!(emulator.metric("icu_build_info", &[r#"service="patient-service""#, &version]).await, 1.0);
    emulator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_outage_is_buffered_and_shows_in_readiness() {
    let broker = broker();
    let emulator = Running::start(&broker, &["--patients", "5", "--metrics-interval", "0.1"]).await;
    emulator.wait_for("ready", async |e| e.ready().await).await;
    // Every drop series exists from the start, at zero, so that a first drop
    // shows in rate() and on the dashboards.
    let text = reqwest::get(emulator.url("/metrics")).await.unwrap().text().await.unwrap();
    for topic in ["icu.vitals", "icu.patients"] {
        for reason in ["queue_full", "delivery_failed"] {
            let series = format!(r#"icu_emulator_messages_dropped_total{{topic="{topic}",reason="{reason}"}} 0"#);
            assert!(text.lines().any(|l| l == series), "{series} missing:\n{text}");
        }
    }

    broker.set_down(true);
    emulator.wait_for("not ready while the broker is down", async |e| !e.ready().await).await;
    let generated_before = emulator.metric("icu_emulator_readings_total", &[]).await;
    emulator
        .wait_for("readings generated during the outage", async |e| {
            e.metric("icu_emulator_readings_total", &[]).await >= generated_before + 20.0
        })
        .await;
    broker.set_down(false);
    emulator.wait_for("ready again", async |e| e.ready().await).await;
    assert_eq!(emulator.metric("icu_emulator_messages_dropped_total", &[]).await, 0.0);
    emulator.stop().await;

    // Everything generated during the outage arrived afterwards, in order.
    let messages = read_back(&broker).await;
    let by_patient = readings_by_patient(&messages);
    assert_eq!(by_patient.len(), 5);
    assert_contiguous(&by_patient, 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_drops_readings_and_counts_them() {
    let broker = broker();
    broker.set_down(true);
    let emulator =
        Running::start(&broker, &["--patients", "5", "--metrics-interval", "0.05", "--kafka-queue-max-messages", "20"])
            .await;
    emulator
        .wait_for("drops counted", async |e| {
            e.metric("icu_emulator_messages_dropped_total", &["queue_full"]).await > 0.0
        })
        .await;
    let queued = emulator.metric("icu_emulator_producer_queue_messages", &[]).await;
    assert!(queued <= 20.0, "queue exceeds its bound: {queued}");
    broker.set_down(false);
    emulator.stop().await;
    // What was queued still arrives: the bound sheds new readings, not old ones.
    let messages = read_back(&broker).await;
    let readings = messages.iter().filter(|m| m.topic == VITALS).count();
    assert!(readings > 0 && readings <= 20, "{readings} readings delivered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_during_admission_exits_cleanly() {
    // With the broker down, admission waits for acknowledgements, so the stop
    // arrives while admitting: the service must still shut down without error.
    let broker = broker();
    broker.set_down(true);
    let emulator = Running::start(&broker, &["--patients", "3"]).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    emulator.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_monitor_stopped_over_the_control_api_sends_nothing_until_started_again() {
    let broker = broker();
    let emulator = Running::start(&broker, &["--patients", "2", "--metrics-interval", "0.1"]).await;
    let client = reqwest::Client::new();
    let list: serde_json::Value =
        client.get(emulator.url("/api/v1/patients")).send().await.unwrap().json().await.unwrap();
    let (quiet, other) = (list["patients"][0]["uuid"].as_str().unwrap(), list["patients"][1]["uuid"].as_str().unwrap());
    assert_eq!(list["patients"][0]["monitor_running"], true);
    let monitor_url = emulator.url(&format!("/api/v1/patients/{quiet}/monitor"));
    let switch = async |running: bool| {
        let response = client.put(&monitor_url).json(&serde_json::json!({"running": running})).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["monitor_running"], running);
        chrono::Utc::now()
    };

    tokio::time::sleep(Duration::from_millis(500)).await;
    let stopped_at = switch(false).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let started_at = switch(true).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let not_a_bool = client.put(&monitor_url).json(&serde_json::json!({"running": "no"})).send().await.unwrap();
    assert_eq!(not_a_bool.status(), 422);
    emulator.stop().await;

    let messages = read_back(&broker).await;
    let times = |uuid: &str| -> Vec<chrono::DateTime<chrono::Utc>> {
        readings_by_patient(&messages)[uuid]
            .iter()
            .map(|m| ReadingMessage::decode(&m.payload).unwrap().measured_at)
            .collect()
    };
    // Readings are stamped when due, so nothing sent after the switch is
    // stamped later than it (a small margin for the millisecond rounding).
    let margin = chrono::TimeDelta::milliseconds(5);
    let silent = |t: &chrono::DateTime<chrono::Utc>| *t > stopped_at + margin && *t < started_at - margin;
    let quiet_times = times(quiet);
    assert!(!quiet_times.iter().any(silent), "readings while stopped: {quiet_times:?}");
    assert!(quiet_times.iter().any(|t| *t < stopped_at) && quiet_times.iter().any(|t| *t > started_at));
    assert!(times(other).iter().filter(|t| silent(t)).count() >= 5, "the other monitor kept sending");
}
