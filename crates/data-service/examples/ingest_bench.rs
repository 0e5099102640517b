//! Durable ingest benchmark: how fast one data-service replica lands readings
//! from the broker in PostgreSQL, against a raw `COPY` of the same rows into
//! the same table (the store's physical limit), in the same run.
//!
//!     scripts/with-postgres.sh cargo run --release -p data-service --example ingest_bench -- [READINGS] [PATIENTS] [POISON_PERMILLE]
//!
//! POISON_PERMILLE (default 0) of the readings are uuid-only readings of
//! patients never admitted, each payload holding a `\u0000` escape: the
//! message class that PostgreSQL refused when parked payloads were `jsonb`
//! (they are parked now).
//!
//! Three rounds, each a fresh consumer group landing everything into emptied
//! tables, then a raw `COPY` of the same rows timed right after it, so that
//! each pair sees the same machine. After them, another group reads the
//! topic again from the start: every reading a duplicate (a redelivery),
//! timed too.
//!
//! Tracing cost: `BENCH_SAMPLED=R` gives every clean reading a `traceparent`,
//! a share `R` of them sampled (what an emulator at ratio `R` sends; unset:
//! no header, as with tracing off everywhere), and the `OTEL_*` variables
//! configure the data-service's tracing as in production (the benchmark
//! holds the same guard its binary does).

use std::time::{Duration, Instant};

use clap::Parser as _;
use futures::StreamExt as _;
use rdkafka::ClientConfig;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::json;
use sqlx::PgPool;
use testkit::{MockBroker, TestDatabase};
use uuid::Uuid;

const VITALS: &str = "icu.vitals";
/// Ingest rounds, each followed by a raw COPY of the same rows.
const ROUNDS: usize = 3;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let readings: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(300_000);
    let patients: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(1_000);
    let poison_permille: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(0);
    let poisoned = readings * poison_permille / 1000;
    let clean = readings - poisoned;
    let sampled: Option<f64> = std::env::var("BENCH_SAMPLED").ok().map(|r| r.parse()).transpose()?;
    let _telemetry = telemetry::init("data-service", false)?;
    println!(
        "tracing: {}, messages: {}",
        if telemetry::otel::enabled() { "on" } else { "off" },
        sampled.map_or("no traceparent".to_owned(), |r| format!("traceparent, {r} of them sampled"))
    );

    let broker = MockBroker::start();
    broker.create_topic(VITALS, 12);
    broker.create_topic("icu.patients", 3);
    let db = TestDatabase::fresh().await;
    preload(&broker.bootstrap, clean, patients, poisoned, sampled).await?;
    println!("preloaded {clean} readings of {patients} patients and {poisoned} poisoned ones");

    let config = |group: &str| {
        data_service::Config::try_parse_from([
            "data-service",
            "--kafka-bootstrap-servers",
            &broker.bootstrap,
            "--database-url",
            &db.url,
            "--port",
            "0",
            "--host",
            "127.0.0.1",
            "--kafka-group-id",
            group,
        ])
    };
    let client = reqwest::Client::new();
    let mut rounds: Vec<(Ingest, Duration)> = Vec::with_capacity(ROUNDS);
    let mut rows = Vec::new();
    for round in 1..=ROUNDS {
        if round > 1 {
            sqlx::query("TRUNCATE vital_signs, ingest_queue, ingest_quarantine, patients CASCADE")
                .execute(&db.pool)
                .await?;
        }
        let ingest = ingest(&client, config(&format!("ingest-{round}"))?, &db.pool, clean, poisoned).await?;
        if rows.is_empty() {
            rows = export(&db.pool).await?;
        }
        let copy = raw_copy(&db.pool, &rows).await?;
        let (ingest_rate, copy_rate) = (readings as f64 / ingest.wall.as_secs_f64(), clean as f64 / copy.as_secs_f64());
        println!(
            "round {round}: ingest {:.2} s = {ingest_rate:.0}/s ({} batches, {:.2} s inside landing transactions; \
             first batch stored after {:.2} s, {:.0}/s after it), raw COPY {:.2} s = {copy_rate:.0}/s: {:.2} of COPY",
            ingest.wall.as_secs_f64(),
            ingest.batches,
            ingest.in_transactions,
            ingest.first_batch.as_secs_f64(),
            ingest.after_first_batch,
            copy.as_secs_f64(),
            ingest_rate / copy_rate,
        );
        rounds.push((ingest, copy));
    }
    let best_ingest = rounds.iter().map(|(i, _)| i.wall).min().unwrap_or_default();
    let best_copy = rounds.iter().map(|(_, c)| *c).min().unwrap_or_default();
    let mut ratios: Vec<f64> =
        rounds.iter().map(|(i, c)| c.as_secs_f64() / i.wall.as_secs_f64() * readings as f64 / clean as f64).collect();
    ratios.sort_by(f64::total_cmp);
    println!(
        "ingest: {readings} readings in {:.2} s = {:.0}/s (the best round, from service start: consumer join included)",
        best_ingest.as_secs_f64(),
        readings as f64 / best_ingest.as_secs_f64()
    );
    println!(
        "COPY:   {clean} rows in {:.2} s = {:.0}/s (the best round)",
        best_copy.as_secs_f64(),
        clean as f64 / best_copy.as_secs_f64()
    );
    println!(
        "ratio:  {:.2} of COPY (best against best); per round {}, median {:.2}",
        best_copy.as_secs_f64() / best_ingest.as_secs_f64() * readings as f64 / clean as f64,
        ratios.iter().map(|r| format!("{r:.2}")).collect::<Vec<_>>().join(", "),
        ratios[ratios.len() / 2],
    );

    // A redelivery of everything: another group reads the topic from the
    // start, and finds every reading stored (the last raw COPY put back the
    // same rows, sources included) or parked.
    let started = Instant::now();
    let again = data_service::Service::start(config("redelivery")?).await?;
    let again_url = format!("http://{}/metrics", again.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(again.run_until(async {
        let _ = stopped.await;
    }));
    loop {
        let text = client.get(&again_url).send().await?.text().await?;
        let duplicates = counter(&text, "icu_ingest_duplicates_total");
        if duplicates as usize >= readings {
            break;
        }
        anyhow::ensure!(started.elapsed() < Duration::from_secs(600), "only {duplicates} duplicates in 10 min");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let redelivery = started.elapsed();
    let _ = stop.send(());
    task.await??;
    println!(
        "redelivery: {readings} duplicates in {:.2} s = {:.0}/s (from service start)",
        redelivery.as_secs_f64(),
        readings as f64 / redelivery.as_secs_f64()
    );
    Ok(())
}

/// Produces the readings (lz4, so the mock broker's ~5 MiB per partition
/// holds them), the poisoned ones spread evenly among them.
async fn preload(
    bootstrap: &str,
    readings: usize,
    patients: usize,
    poisoned: usize,
    sampled: Option<f64>,
) -> anyhow::Result<()> {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("compression.type", "lz4")
        .set("linger.ms", "50")
        .set("batch.num.messages", "10000")
        .set("queue.buffering.max.messages", "1000000")
        .create()?;
    let ids: Vec<Uuid> = (0..patients).map(|_| Uuid::new_v4()).collect();
    let base = chrono::Utc::now() - chrono::TimeDelta::days(30);
    let mut payloads: Vec<(String, Vec<u8>)> = (0..readings)
        .map(|i| {
            let p = ids[i % patients];
            let at = base + chrono::TimeDelta::seconds((i / patients) as i64 * 5);
            let body = json!({"uuid": p, "name": format!("Bench {}", i % patients), "timestamp": at,
                "pulse": 60 + i % 60, "resp_rate": 12 + i % 10, "bp": "120/80", "spo2": 90 + i % 10,
                "temperature": 36.5 + (i % 20) as f64 / 10.0});
            (p.to_string(), body.to_string().into_bytes())
        })
        .collect();
    for k in 0..poisoned {
        let p = Uuid::new_v4();
        let body = json!({"uuid": p, "timestamp": base, "pulse": 70, "resp_rate": 16, "bp": "120/80",
            "spo2": 97, "temperature": 36.9, "note": "a\u{0}b"});
        let at = (k * payloads.len() / poisoned.max(1)).min(payloads.len());
        payloads.insert(at, (p.to_string(), body.to_string().into_bytes()));
    }
    let traceparents: Vec<Option<String>> = (0..payloads.len())
        .map(|i| {
            let ratio = sampled?;
            // Every 1/ratio-th reading sampled, as a ratio sampler would on average.
            let flag = if ratio > 0.0 && (i as f64 * ratio).fract() + ratio >= 1.0 { "01" } else { "00" };
            Some(format!("00-{}-{:016x}-{flag}", Uuid::new_v4().simple(), i as u64 + 1))
        })
        .collect();
    let sends = payloads.iter().zip(&traceparents).map(|((key, payload), traceparent)| {
        let mut record = FutureRecord::to(VITALS).key(key).payload(payload);
        if let Some(value) = traceparent {
            record = record.headers(OwnedHeaders::new().insert(Header { key: "traceparent", value: Some(value) }));
        }
        producer.send(record, Duration::from_secs(60))
    });
    let results = futures::stream::iter(sends).buffer_unordered(50_000).collect::<Vec<_>>().await;
    for r in results {
        r.map_err(|(e, _)| e)?;
    }
    Ok(())
}

/// One ingest round, timed from the service's start.
struct Ingest {
    wall: Duration,
    /// When the first batch was seen stored: the consumer's start-up (group
    /// join, first fetch, first landing) is in it.
    first_batch: Duration,
    /// The rate after the first batch: the steady state.
    after_first_batch: f64,
    batches: f64,
    /// `icu_ingest_store_seconds_sum`: time inside landing transactions.
    in_transactions: f64,
}

/// Starts a data-service (a group of its own, so it reads the topic from
/// its start) and times it until it has landed every message.
async fn ingest(
    client: &reqwest::Client,
    config: data_service::Config,
    pool: &PgPool,
    clean: usize,
    poisoned: usize,
) -> anyhow::Result<Ingest> {
    let started = Instant::now();
    let service = data_service::Service::start(config).await?;
    let metrics_url = format!("http://{}/metrics", service.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(service.run_until(async {
        let _ = stopped.await;
    }));
    // Done when the service's own counters (recorded as each transaction
    // commits) account for every message: read from its /metrics, which
    // costs the database nothing. Polling `count(*)` of the growing table
    // instead cost PostgreSQL a sequential scan every round, on the cores
    // the landing needs: a measurement that slowed what it measured.
    let mut first: Option<(Duration, f64)> = None;
    loop {
        let text = client.get(&metrics_url).send().await?.text().await?;
        let stored = counter(&text, "icu_ingest_stored_total");
        if first.is_none() && stored > 0.0 {
            first = Some((started.elapsed(), stored));
        }
        // Poisoned readings are parked (or, before the queue kept bytes, quarantined).
        let set_aside = counter(&text, "icu_ingest_queued_total") + counter(&text, "icu_ingest_quarantined_total");
        if stored as usize >= clean && set_aside as usize >= poisoned {
            break;
        }
        anyhow::ensure!(started.elapsed() < Duration::from_secs(600), "only {stored} of {clean} stored in 10 min");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let wall = started.elapsed();
    let metrics = client.get(&metrics_url).send().await?.text().await?;
    let _ = stop.send(());
    task.await??;
    let (stored, set_aside): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM vital_signs), \
                (SELECT count(*) FROM ingest_queue) + (SELECT count(*) FROM ingest_quarantine)",
    )
    .fetch_one(pool)
    .await?;
    anyhow::ensure!(
        stored as usize == clean && set_aside as usize == poisoned,
        "the tables hold {stored} readings and {set_aside} set aside, the counters said {clean} and {poisoned}"
    );
    let (first_batch, first_stored) = first.unwrap_or((wall, 0.0));
    Ok(Ingest {
        wall,
        first_batch,
        after_first_batch: (clean as f64 - first_stored) / (wall - first_batch).as_secs_f64(),
        batches: counter(&metrics, "icu_ingest_store_seconds_count"),
        in_transactions: counter(&metrics, "icu_ingest_store_seconds_sum"),
    })
}

/// The sum of a metric's samples (all label sets) in a text exposition.
fn counter(text: &str, name: &str) -> f64 {
    text.lines().filter(|l| l.starts_with(name)).filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).sum()
}

/// The stored rows, as `COPY … TO STDOUT` writes them.
async fn export(pool: &PgPool) -> anyhow::Result<Vec<u8>> {
    let mut conn = pool.acquire().await?;
    let mut rows = Vec::new();
    let mut out = conn.copy_out_raw("COPY vital_signs TO STDOUT").await?;
    while let Some(chunk) = out.next().await {
        rows.extend_from_slice(&chunk?);
    }
    Ok(rows)
}

/// Times a raw `COPY` of `rows` into the emptied table: PostgreSQL's own
/// speed for these rows, which the landing is held to. Each round's follows
/// its ingest, so that both see the same machine: on a shared VM, one
/// `COPY` of 300,000 rows varied 2× between neighbouring runs.
async fn raw_copy(pool: &PgPool, rows: &[u8]) -> anyhow::Result<Duration> {
    let mut conn = pool.acquire().await?;
    sqlx::query("TRUNCATE vital_signs").execute(&mut *conn).await?;
    let started = Instant::now();
    let mut copy = conn.copy_in_raw("COPY vital_signs FROM STDIN").await?;
    for chunk in rows.chunks(1 << 20) {
        copy.send(chunk).await?;
    }
    copy.finish().await?;
    Ok(started.elapsed())
}
