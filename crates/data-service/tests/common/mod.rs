//! Shared helpers of the data-service tests: a broker with the ward's
//! topics, messages in the wire format, the service in-process, polling.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use clap::Parser as _;
use data_service::{Config, Service};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::json;
use sqlx::PgPool;
use testkit::MockBroker;
use uuid::Uuid;

pub const VITALS: &str = "icu.vitals";
pub const PATIENTS: &str = "icu.patients";

pub fn broker() -> MockBroker {
    let broker = MockBroker::start();
    broker.create_topic(VITALS, 4);
    broker.create_topic(PATIENTS, 2);
    broker
}

pub fn at(millis: i64) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-24T08:00:00Z").unwrap().to_utc() + TimeDelta::milliseconds(millis)
}

/// A reading in the original format (with `name`, it registers its patient).
pub fn reading(patient: Uuid, name: Option<&str>, millis: i64) -> Vec<u8> {
    let mut body = json!({
        "uuid": patient, "timestamp": at(millis), "pulse": 60 + millis % 50, "resp_rate": 16,
        "bp": "120/80", "spo2": 97, "temperature": 36.9
    });
    if let Some(name) = name {
        body["name"] = json!(name);
    }
    body.to_string().into_bytes()
}

pub fn admission(patient: Uuid, name: &str) -> Vec<u8> {
    json!({"v": 1, "uuid": patient, "name": name, "bed": "01", "admitted_at": at(-60_000)}).to_string().into_bytes()
}

/// Sends messages concurrently and waits until the broker has them all.
pub async fn send_all(producer: &FutureProducer, messages: &[(&str, Option<Uuid>, Vec<u8>)]) {
    let keys: Vec<Option<String>> = messages.iter().map(|(_, k, _)| k.map(|k| k.to_string())).collect();
    let sends = messages.iter().zip(&keys).map(|((topic, _, payload), key)| {
        let mut record = FutureRecord::<String, Vec<u8>>::to(topic).payload(payload);
        if let Some(key) = key {
            record = record.key(key);
        }
        producer.send(record, Duration::from_secs(30))
    });
    for outcome in futures::future::join_all(sends).await {
        outcome.expect("the broker acknowledges");
    }
}

pub fn config(bootstrap: &str, database_url: &str, extra: &[&str]) -> Config {
    let mut args = vec![
        "data-service",
        "--kafka-bootstrap-servers",
        bootstrap,
        "--database-url",
        database_url,
        "--port",
        "0",
        "--host",
        "127.0.0.1",
        "--kafka-session-timeout-ms",
        "3000",
        "--batch-max-wait-ms",
        "50",
        "--sweep-interval",
        "1",
    ];
    args.extend_from_slice(extra);
    Config::try_parse_from(args).unwrap()
}

pub use testkit::Running;

/// The data-service in-process (the harness itself is `testkit::Running`).
#[allow(async_fn_in_trait)]
pub trait DataService {
    async fn start(config: Config) -> Running;
    async fn metric(&self, name: &str) -> f64;
    /// Every line of `/metrics`.
    async fn metric_lines(&self) -> Vec<String>;
}

impl DataService for Running {
    async fn start(config: Config) -> Running {
        let service = Service::start(config).await.unwrap();
        Running::spawn(service.local_addr(), |stop| service.run_until(stop))
    }

    async fn metric(&self, name: &str) -> f64 {
        metric(self.addr, name).await
    }

    async fn metric_lines(&self) -> Vec<String> {
        let text = reqwest::get(format!("http://{}/metrics", self.addr)).await.unwrap().text().await.unwrap();
        text.lines().map(str::to_owned).collect()
    }
}

/// The sum of a metric's samples whose line starts with `name`.
pub async fn metric(addr: SocketAddr, name: &str) -> f64 {
    let text = reqwest::get(format!("http://{addr}/metrics")).await.unwrap().text().await.unwrap();
    text.lines().filter(|l| l.starts_with(name)).filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).sum()
}

pub async fn count(pool: &PgPool, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT count(*) FROM {table}")).fetch_one(pool).await.unwrap()
}

/// Polls `condition` every 100 ms until it holds, failing after `secs`.
pub async fn eventually(what: &str, secs: u64, mut condition: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !condition().await {
        assert!(Instant::now() < deadline, "timed out after {secs} s waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The (patient, measured_at) of every stored reading, sorted.
pub async fn stored_keys(pool: &PgPool) -> Vec<(Uuid, DateTime<Utc>)> {
    sqlx::query_as("SELECT patient_id, measured_at FROM vital_signs ORDER BY 1, 2").fetch_all(pool).await.unwrap()
}
