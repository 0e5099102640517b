//! A replica that consumes nothing must be visible, and consumption must
//! come back by itself after the broker was away for longer than a session.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use clap::Parser as _;
use common::*;
use testkit::{MockBroker, TestDatabase};
use uuid::Uuid;

/// Samples of `name` on `addr` whose line contains `label`, summed.
async fn metric_with(running: &Running, name: &str, label: &str) -> f64 {
    let text = reqwest::get(format!("http://{}/metrics", running.addr)).await.unwrap().text().await.unwrap();
    text.lines()
        .filter(|l| l.starts_with(name) && l.contains(label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_holding_no_partition_says_so_and_shows_the_lag_of_the_group() {
    // One partition per topic: of two replicas, one holds both, one none.
    let broker = MockBroker::start();
    broker.create_topic(VITALS, 1);
    broker.create_topic(PATIENTS, 1);
    let db = TestDatabase::fresh().await;
    let a = Running::start(config(&broker.bootstrap, &db.url, &[])).await;
    let b = Running::start(config(&broker.bootstrap, &db.url, &[])).await;
    eventually("the two partitions assigned, both to one replica", 30, async || {
        let (pa, pb) =
            (a.metric("icu_ingest_assigned_partitions").await, b.metric("icu_ingest_assigned_partitions").await);
        pa + pb == 2.0 && pa * pb == 0.0
    })
    .await;
    let (holder, idle) = if a.metric("icu_ingest_assigned_partitions").await == 2.0 { (&a, &b) } else { (&b, &a) };

    // The holder cannot land (the table is locked), so readings pile up.
    let mut lock = db.pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE vital_signs IN ACCESS EXCLUSIVE MODE").execute(&mut *lock).await.unwrap();
    let p = Uuid::new_v4();
    let messages: Vec<_> = (0..30).map(|k| (VITALS, Some(p), reading(p, Some("Waiting"), k * 1000))).collect();
    send_all(&broker.producer(), &messages).await;
    let vitals = format!("topic=\"{VITALS}\"");
    eventually("the idle replica shows the group's lag", 30, async || {
        metric_with(idle, "icu_ingest_group_lag_messages", &vitals).await == 30.0
    })
    .await;
    assert_eq!(idle.metric("icu_ingest_assigned_partitions").await, 0.0);
    assert_eq!(metric_with(idle, "icu_ingest_consumer_lag_messages", "").await, 0.0, "no partition, no own lag");
    eventually("the idle replica has consumed for longer ago than the holder", 30, async || {
        idle.metric("icu_ingest_last_consumed_age_seconds").await
            > holder.metric("icu_ingest_last_consumed_age_seconds").await
    })
    .await;

    lock.rollback().await.unwrap();
    eventually("stored, and no lag left", 30, async || {
        count(&db.pool, "vital_signs").await == 30
            && metric_with(idle, "icu_ingest_group_lag_messages", &vitals).await == 0.0
    })
    .await;
    a.stop().await;
    b.stop().await;
}

struct Emulator {
    addr: std::net::SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Emulator {
    async fn start(bootstrap: &str) -> Emulator {
        let config = patient_service::Config::try_parse_from([
            "patient-service",
            "--kafka-bootstrap-servers",
            bootstrap,
            "--port",
            "0",
            "--host",
            "127.0.0.1",
            "--patients",
            "5",
            "--metrics-interval",
            "0.1",
        ])
        .unwrap();
        let service = patient_service::Service::start(config).await.unwrap();
        let addr = service.local_addr();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(service.run_until(async {
            let _ = stopped.await;
        }));
        Emulator { addr, stop, task }
    }

    async fn metric(&self, name: &str) -> f64 {
        metric(self.addr, name).await
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumption_resumes_after_the_broker_was_down_longer_than_a_session_and_nothing_is_lost() {
    let broker = broker();
    let db = TestDatabase::fresh().await;
    // Session timeout 3 s (the test config): the outage below outlasts it,
    // so the group forgets the replica and it has to join again.
    let service = Running::start(config(&broker.bootstrap, &db.url, &[])).await;
    let emulator = Emulator::start(&broker.bootstrap).await;
    eventually("readings stored", 30, async || count(&db.pool, "vital_signs").await >= 20).await;

    broker.set_down(true);
    let generated_before = emulator.metric("icu_emulator_readings_total").await;
    tokio::time::sleep(Duration::from_secs(8)).await;
    let generated_during = emulator.metric("icu_emulator_readings_total").await - generated_before;
    assert!(generated_during > 0.0, "the emulator kept generating while the broker was away");
    let stored_during_outage = count(&db.pool, "vital_signs").await;
    broker.set_down(false);

    eventually("consuming again after the outage", 60, async || {
        count(&db.pool, "vital_signs").await > stored_during_outage + generated_during as i64
    })
    .await;
    // Nothing it queued during the outage was lost before the broker took it.
    assert_eq!(emulator.metric("icu_emulator_messages_dropped_total").await, 0.0);
    emulator.stop().await;

    // Everything on the topic, read by an independent consumer, is stored
    // exactly once: nothing lost, nothing twice, nothing left parked.
    let bootstrap = broker.bootstrap.clone();
    let on_topic =
        tokio::task::spawn_blocking(move || testkit::kafka::read_all(&bootstrap, &[VITALS], Duration::from_secs(3)))
            .await
            .unwrap();
    let produced: Vec<(Uuid, chrono::DateTime<chrono::Utc>)> = on_topic
        .iter()
        .map(|m| {
            let json = m.json();
            (json["uuid"].as_str().unwrap().parse().unwrap(), json["timestamp"].as_str().unwrap().parse().unwrap())
        })
        .collect();
    let distinct: BTreeSet<_> = produced.iter().copied().collect();
    assert_eq!(distinct.len(), produced.len(), "no reading is on the topic twice");
    eventually("every reading on the topic stored", 30, async || {
        stored_keys(&db.pool).await.into_iter().collect::<BTreeSet<_>>() == distinct
    })
    .await;
    assert_eq!(count(&db.pool, "ingest_queue").await, 0);
    assert_eq!(count(&db.pool, "ingest_quarantine").await, 0);
    // The group may still be settling a rebalance it began when the broker
    // came back (the replica consumed on its old assignment meanwhile), so
    // the gauge is read until it shows the assignment the group converges to.
    eventually("holds every partition again", 30, async || {
        service.metric("icu_ingest_assigned_partitions").await == 6.0
    })
    .await;
    service.stop().await;
}
