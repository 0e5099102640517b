//! Nothing is lost when things die: the data-service process killed with
//! SIGKILL at random moments while readings flow, and PostgreSQL restarted
//! under a running data-service.

mod common;

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use rand::Rng;
use testkit::TestDatabase;
use testkit::cluster::PrivateCluster;
use uuid::Uuid;

fn spawn_data_service(bootstrap: &str, database_url: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_data-service"))
        .args(["--kafka-bootstrap-servers", bootstrap, "--database-url", database_url])
        .args(["--port", "0", "--host", "127.0.0.1", "--kafka-session-timeout-ms", "1500"])
        // Small, quick batches: more commits, so more moments to die between them.
        .args(["--batch-max-messages", "50", "--batch-max-wait-ms", "20", "--sweep-interval", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the data-service binary")
}

/// Readings of a small ward, `per_chunk` per patient at a time, each with a
/// distinct timestamp, so "distinct readings produced" is exact.
struct Ward {
    patients: Vec<Uuid>,
    next: i64,
    produced: BTreeSet<(Uuid, i64)>,
}

impl Ward {
    fn new(n: usize) -> Ward {
        Ward { patients: (0..n).map(|_| Uuid::new_v4()).collect(), next: 0, produced: BTreeSet::new() }
    }

    fn chunk(&mut self, per_patient: i64) -> Vec<(&'static str, Option<Uuid>, Vec<u8>)> {
        let mut out = Vec::new();
        for _ in 0..per_patient {
            self.next += 1000;
            for (i, &p) in self.patients.iter().enumerate() {
                self.produced.insert((p, self.next));
                out.push((VITALS, Some(p), reading(p, Some(&format!("Crash {i}")), self.next)));
            }
        }
        out
    }
}

async fn assert_stored_exactly(db: &TestDatabase, ward: &Ward) {
    let stored: BTreeSet<(Uuid, i64)> =
        stored_keys(&db.pool).await.into_iter().map(|(p, t)| (p, (t - at(0)).num_milliseconds())).collect();
    let missing: Vec<_> = ward.produced.difference(&stored).take(5).collect();
    let extra: Vec<_> = stored.difference(&ward.produced).take(5).collect();
    assert!(missing.is_empty() && extra.is_empty(), "missing {missing:?}, unexpected {extra:?}");
    assert_eq!(count(&db.pool, "vital_signs").await as usize, ward.produced.len());
    assert_eq!(count(&db.pool, "ingest_quarantine").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_moments_loses_nothing_and_duplicates_nothing() {
    let broker = broker();
    let db = TestDatabase::fresh().await;
    let producer = broker.producer();
    let mut rng = rand::rng();

    // Readings flow all along, from their own task.
    let (stop_producing, mut stopped) = tokio::sync::watch::channel(false);
    let feeder = tokio::spawn(async move {
        let mut ward = Ward::new(12);
        while !*stopped.borrow() {
            send_all(&producer, &ward.chunk(1)).await;
            let _ = tokio::time::timeout(Duration::from_millis(25), stopped.changed()).await;
        }
        ward
    });

    const KILLS: usize = 12;
    for kill in 0..KILLS {
        let before = count(&db.pool, "vital_signs").await;
        let mut child = spawn_data_service(&broker.bootstrap, &db.url);
        // Kill while it is working: once it has stored something, at a random
        // moment of the next second (mid-batch, mid-commit, between the two).
        eventually("the new process stores readings", 30, async || count(&db.pool, "vital_signs").await > before).await;
        let moment = Duration::from_millis(rng.random_range(0..1_000));
        tokio::time::sleep(moment).await;
        child.kill().expect("SIGKILL"); // std's kill is SIGKILL on Unix
        child.wait().expect("reap");
        eprintln!("kill {kill}: {moment:?} into storing, {} rows", count(&db.pool, "vital_signs").await);
    }
    let _ = stop_producing.send(true);
    let ward = feeder.await.unwrap();

    let mut child = spawn_data_service(&broker.bootstrap, &db.url);
    let expected = ward.produced.len() as i64;
    eventually("every produced reading stored", 60, async || count(&db.pool, "vital_signs").await >= expected).await;
    child.kill().ok();
    child.wait().ok();
    assert_stored_exactly(&db, &ward).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgresql_restart_mid_run_loses_nothing() {
    let broker = broker();
    let cluster = PrivateCluster::start();
    let db = TestDatabase::on(&cluster.url).await;
    let service = Running::start(config(&broker.bootstrap, &db.url, &[])).await;
    let producer = broker.producer();
    let mut ward = Ward::new(8);

    send_all(&producer, &ward.chunk(10)).await;
    eventually("first readings stored", 30, async || count(&db.pool, "vital_signs").await == 80).await;
    db.pool.close().await;

    cluster.down();
    send_all(&producer, &ward.chunk(10)).await;
    eventually("not ready while PostgreSQL is down", 30, async || !service.ready().await).await;
    send_all(&producer, &ward.chunk(10)).await;
    cluster.up();

    let db = TestDatabase::reconnect(&db).await;
    let expected = ward.produced.len() as i64;
    eventually("everything stored after the restart", 60, async || count(&db.pool, "vital_signs").await == expected)
        .await;
    eventually("ready again", 30, async || service.ready().await).await;
    assert!(service.metric("icu_ingest_store_errors_total").await >= 1.0, "the outage was noticed");
    assert_stored_exactly(&db, &ward).await;
    service.stop().await;
}
