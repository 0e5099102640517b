//! Test helpers: a ward filled through the real landing code, the service
//! in-process on port 0, and the committed contract as JSON Schema.

#![allow(dead_code)]

pub mod issuer;
pub mod sse;

use chrono::{DateTime, TimeDelta, Utc};
use clap::Parser as _;
use monitor_service::{Config, Service};
use serde_json::{Value, json};
use store::ingest::{Inbound, Topics, land};
use testkit::TestDatabase;
use uuid::Uuid;

/// Lands messages as the data-service would, with increasing offsets.
pub struct Ward<'a> {
    pub db: &'a TestDatabase,
    offset: i64,
}

impl<'a> Ward<'a> {
    pub fn new(db: &'a TestDatabase) -> Self {
        Ward { db, offset: 0 }
    }

    pub async fn land(&mut self, topic: &str, payloads: Vec<Value>) {
        let batch: Vec<Inbound> = payloads
            .into_iter()
            .map(|p| {
                self.offset += 1;
                Inbound {
                    topic: topic.into(),
                    partition: 0,
                    offset: self.offset,
                    key: None,
                    headers: vec![],
                    payload: p.to_string().into_bytes(),
                    received_at: Utc::now(),
                }
            })
            .collect();
        land(&self.db.pool, &Topics::default(), &batch).await.unwrap();
    }

    pub async fn admit(&mut self, name: &str, bed: &str) -> Uuid {
        let uuid = Uuid::new_v4();
        let admitted = Utc::now() - TimeDelta::hours(2);
        self.land(
            "icu.patients",
            vec![json!({"v": 1, "uuid": uuid, "name": name, "bed": bed, "admitted_at": admitted})],
        )
        .await;
        uuid
    }

    /// Readings at the given times (pulse = 60 + index, so order is checkable).
    pub async fn readings(&mut self, patient: Uuid, times: &[DateTime<Utc>]) {
        let payloads = times
            .iter()
            .enumerate()
            .map(|(i, t)| {
                json!({"uuid": patient, "timestamp": t, "pulse": 60 + i % 200, "resp_rate": 18, "bp": "121/79",
                       "spo2": 95, "temperature": 37.4})
            })
            .collect();
        self.land("icu.vitals", payloads).await;
    }
}

impl Ward<'_> {
    /// Readings of several patients landed in one batch (one transaction),
    /// in the order given; pulse = 60 + index in the batch.
    pub async fn mixed_readings(&mut self, readings: &[(Uuid, DateTime<Utc>)]) {
        let payloads = readings
            .iter()
            .enumerate()
            .map(|(i, (patient, t))| {
                json!({"uuid": patient, "timestamp": t, "pulse": 60 + i % 200, "resp_rate": 18, "bp": "121/79",
                       "spo2": 95, "temperature": 37.4})
            })
            .collect();
        self.land("icu.vitals", payloads).await;
    }

    /// Lands the same messages again, as a redelivery would (same offsets).
    pub async fn redeliver_last(&mut self, readings: &[(Uuid, DateTime<Utc>)]) {
        self.offset -= readings.len() as i64;
        self.mixed_readings(readings).await;
    }
}

/// `n` timestamps one second apart ending `ago` before now.
pub fn seconds_ending(ago: TimeDelta, n: usize) -> Vec<DateTime<Utc>> {
    let end = (Utc::now() - ago).duration_round_ms();
    (0..n).map(|i| end - TimeDelta::seconds((n - 1 - i) as i64)).collect()
}

trait RoundMs {
    fn duration_round_ms(self) -> Self;
}

impl RoundMs for DateTime<Utc> {
    fn duration_round_ms(self) -> Self {
        DateTime::from_timestamp_millis(self.timestamp_millis()).unwrap_or(self)
    }
}

pub use testkit::Running;

/// The monitor-service in-process (the harness itself is `testkit::Running`).
#[allow(async_fn_in_trait)]
pub trait MonitorService {
    /// The service with access control off (`AUTH_MODE=none`), for the tests
    /// of everything else; `start_with_auth` trusts a test provider instead.
    async fn start(db: &TestDatabase, extra: &[&str]) -> Running;
    async fn start_with_auth(db: &TestDatabase, issuer: &issuer::Issuer, extra: &[&str]) -> Running;
    /// The service with exactly these extra arguments.
    async fn start_with(db: &TestDatabase, extra: &[&str]) -> Running;
    /// GET with `Authorization: Bearer <token>`.
    async fn get_as(&self, token: &str, path: &str) -> reqwest::Response;
    /// GET with this `Authorization` value.
    async fn get_with(&self, authorization: &str, path: &str) -> reqwest::Response;
    /// The value of one series on `/metrics` (name with labels, as printed).
    async fn metric(&self, series: &str) -> Option<f64>;
    /// Waits (10 s at most) until a series shows `value`.
    async fn wait_for_metric(&self, series: &str, value: f64);
    /// Lands a reading of `patient` now, then asks for `path` until that
    /// reading heads the page (10 s at most; the announcement that refreshes
    /// a cached page follows the commit by a moment) and returns the page.
    async fn page_headed_by_a_new_reading(&self, ward: &mut Ward<'_>, patient: Uuid, path: &str) -> Value;
}

impl MonitorService for Running {
    async fn start(db: &TestDatabase, extra: &[&str]) -> Running {
        let mut args = vec!["--auth-mode", "none"];
        args.extend_from_slice(extra);
        Self::start_with(db, &args).await
    }

    async fn start_with_auth(db: &TestDatabase, issuer: &issuer::Issuer, extra: &[&str]) -> Running {
        let mut args: Vec<String> = issuer.args();
        args.extend(extra.iter().map(|a| a.to_string()));
        Self::start_with(db, &args.iter().map(String::as_str).collect::<Vec<_>>()).await
    }

    async fn start_with(db: &TestDatabase, extra: &[&str]) -> Running {
        let mut args = vec!["monitor-service", "--database-url", &db.url, "--port", "0", "--host", "127.0.0.1"];
        args.extend_from_slice(extra);
        let service = Service::start(Config::try_parse_from(args).unwrap()).await.unwrap();
        Running::spawn(service.local_addr(), |stop| service.run_until(stop))
    }

    async fn metric(&self, series: &str) -> Option<f64> {
        let text = self.metrics().await;
        text.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
    }

    async fn wait_for_metric(&self, series: &str, value: f64) {
        for _ in 0..500 {
            if self.metric(series).await == Some(value) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("{series} never reached {value}: {:?}", self.metric(series).await);
    }

    async fn page_headed_by_a_new_reading(&self, ward: &mut Ward<'_>, patient: Uuid, path: &str) -> Value {
        let now = seconds_ending(TimeDelta::zero(), 1);
        ward.readings(patient, &now).await;
        let expected = serde_json::to_value(now[0]).unwrap();
        let mut page = self.json(path).await;
        for _ in 0..500 {
            if page["readings"][0]["timestamp"] == expected {
                return page;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            page = self.json(path).await;
        }
        panic!("the reading at {expected} never headed {path}: {page}");
    }

    async fn get_as(&self, token: &str, path: &str) -> reqwest::Response {
        self.get_with(&format!("Bearer {token}"), path).await
    }

    async fn get_with(&self, authorization: &str, path: &str) -> reqwest::Response {
        reqwest::Client::new().get(self.url(path)).header("authorization", authorization).send().await.unwrap()
    }
}

/// The committed contract, as JSON.
pub fn spec() -> Value {
    monitor_service::openapi::document("/api/v1").unwrap()
}

/// A validator for one of the contract's component schemas.
pub fn schema(name: &str) -> jsonschema::Validator {
    let spec = spec();
    let root = json!({"$ref": format!("#/components/schemas/{name}"), "components": spec["components"]});
    jsonschema::validator_for(&root).unwrap()
}

pub fn assert_valid(schema_name: &str, body: &Value) {
    let validator = schema(schema_name);
    let errors: Vec<String> = validator.iter_errors(body).map(|e| format!("{e} at {}", e.instance_path)).collect();
    assert!(errors.is_empty(), "{schema_name} breaks the contract: {errors:?}\n{body}");
}

/// Asserts a problem+json answer and returns its body.
pub async fn problem(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    let body: Value = response.json().await.unwrap();
    assert_valid("Problem", &body);
    assert_eq!(body["status"], status);
    body
}
