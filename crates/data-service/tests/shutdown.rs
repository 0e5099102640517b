//! SIGTERM on the real binary: the batch in hand is stored and its offsets
//! are committed before the process exits, so the next replica neither
//! loses nor re-reads it.
//!
//! That the replica also leaves its group is not asserted here: on the mock
//! broker a new member waits out the same rebalance delay whether the old
//! one left or its session expired, so only a timing could tell them apart.

mod common;

use std::net::{SocketAddr, TcpListener};
use std::process::{Command, Stdio};

use common::*;
use testkit::TestDatabase;
use uuid::Uuid;

/// Every line is JSON in the original assignment's format, and each line of
/// our own code names the function it came from.
fn assert_log_lines_have_the_original_fields(log: &str) {
    let lines: Vec<serde_json::Value> =
        log.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))).collect();
    assert!(lines.iter().any(|l| l["message"] == "data-service stopped"), "{log}");
    for line in &lines {
        for field in ["timestamp", "level", "message", "module", "line"] {
            assert!(!line[field].is_null(), "{field} missing: {line}");
        }
        let ours =
            ["data_service", "store", "telemetry"].iter().any(|c| line["module"].as_str().unwrap().starts_with(c));
        if ours {
            assert!(line["function"].is_string(), "no function: {line}");
        }
    }
    let stopped = lines.iter().find(|l| l["message"] == "data-service stopped").unwrap();
    assert_eq!(stopped["function"], "run_until");
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stores_the_batch_in_hand_and_commits_its_offsets() {
    let broker = broker();
    let db = TestDatabase::fresh().await;
    let producer = broker.producer();
    let port = free_port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut child = Command::new(env!("CARGO_BIN_EXE_data-service"))
        .args(["--kafka-bootstrap-servers", &broker.bootstrap, "--database-url", &db.url])
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--kafka-session-timeout-ms", "3000"])
        // A batch that is neither full nor old when the signal comes.
        .args(["--batch-max-messages", "5000", "--batch-max-wait-ms", "60000"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn the data-service binary");
    let stdout = child.stdout.take().expect("piped stdout");
    let log = std::thread::spawn(move || std::io::read_to_string(stdout).expect("read the log"));

    let p = Uuid::new_v4();
    let first: Vec<_> = (0..100).map(|k| (VITALS, Some(p), reading(p, Some("Term"), k * 1000))).collect();
    send_all(&producer, &first).await;
    eventually("the process holds all 100 readings", 30, async || {
        reqwest::get(format!("http://{addr}/metrics")).await.is_ok()
            && metric(addr, "icu_ingest_consumed_total").await == 100.0
    })
    .await;
    assert_eq!(count(&db.pool, "vital_signs").await, 0, "the batch is still in hand");

    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("run kill");
    assert!(status.success());
    let exited = tokio::task::spawn_blocking(move || child.wait()).await.unwrap().expect("reap");
    assert!(exited.success(), "exit status after SIGTERM: {exited}");
    assert_eq!(count(&db.pool, "vital_signs").await, 100, "the batch in hand was stored before exiting");
    assert_log_lines_have_the_original_fields(&log.join().expect("log reader"));

    // A new replica in the same group starts after the committed offsets: it
    // consumes the new readings only, none of the 100 again.
    let next = Running::start(config(&broker.bootstrap, &db.url, &[])).await;
    let later: Vec<_> = (100..110).map(|k| (VITALS, Some(p), reading(p, Some("Term"), k * 1000))).collect();
    send_all(&producer, &later).await;
    eventually("the next replica stores the new readings", 30, async || count(&db.pool, "vital_signs").await == 110)
        .await;
    assert_eq!(next.metric("icu_ingest_consumed_total").await, 10.0, "nothing redelivered");
    assert_eq!(next.metric("icu_ingest_duplicates_total").await, 0.0);
    next.stop().await;
}
