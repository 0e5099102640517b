//! Durable ingest benchmark: how fast one data-service replica lands readings
//! from the broker in PostgreSQL, against a raw `COPY` of the same rows into
//! the same table (the store's physical limit), in the same run.
//!
//!     scripts/with-postgres.sh cargo run --release -p data-service --example ingest_bench -- [READINGS] [PATIENTS] [POISON_PERMILLE]
//!
//! POISON_PERMILLE (default 0) of the readings are uuid-only readings of
//! patients never admitted, each payload holding a `\u0000` escape: the
//! message class that PostgreSQL refused when parked payloads were `jsonb`
//! (they are parked now). After the ingest, a second group reads the topic
//! again from the start: every reading a duplicate (a redelivery), timed too.
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
    let started = Instant::now();
    let service = data_service::Service::start(config("data-service")?).await?;
    let metrics_url = format!("http://{}/metrics", service.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(service.run_until(async {
        let _ = stopped.await;
    }));
    loop {
        // Poisoned readings are parked (or, before the queue kept bytes, quarantined).
        let (stored, set_aside): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM vital_signs), \
                    (SELECT count(*) FROM ingest_queue) + (SELECT count(*) FROM ingest_quarantine)",
        )
        .fetch_one(&db.pool)
        .await?;
        if stored as usize >= clean && set_aside as usize >= poisoned {
            break;
        }
        anyhow::ensure!(started.elapsed() < Duration::from_secs(600), "only {stored} of {clean} stored in 10 min");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ingest = started.elapsed();
    // Where the time went: inside the landing transactions, or around them.
    let metrics = reqwest::get(&metrics_url).await?.text().await?;
    let sample = |name: &str| -> f64 {
        metrics.lines().find(|l| l.starts_with(name)).and_then(|l| l.rsplit(' ').next()?.parse().ok()).unwrap_or(0.0)
    };
    let (in_db, batches) = (sample("icu_ingest_store_seconds_sum"), sample("icu_ingest_store_seconds_count"));
    let _ = stop.send(());
    task.await??;

    // A redelivery of everything: another group reads the topic from the start.
    let started = Instant::now();
    let again = data_service::Service::start(config("redelivery")?).await?;
    let again_url = format!("http://{}/metrics", again.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(again.run_until(async {
        let _ = stopped.await;
    }));
    loop {
        let text = reqwest::get(&again_url).await?.text().await?;
        let duplicates: f64 = text
            .lines()
            .find(|l| l.starts_with("icu_ingest_duplicates_total"))
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
            .unwrap_or(0.0);
        if duplicates as usize >= readings {
            break;
        }
        anyhow::ensure!(started.elapsed() < Duration::from_secs(600), "only {duplicates} duplicates in 10 min");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let redelivery = started.elapsed();
    let _ = stop.send(());
    task.await??;

    let copy = copy_same_rows(&db.pool).await?;
    let ingest_rate = readings as f64 / ingest.as_secs_f64();
    let copy_rate = clean as f64 / copy.as_secs_f64();
    println!(
        "ingest: {readings} readings in {:.2} s = {ingest_rate:.0}/s (from service start: consumer join included)",
        ingest.as_secs_f64()
    );
    println!(
        "        {batches} batches, {in_db:.2} s inside landing transactions ({:.0} % of the wall time; consuming the next batch overlaps them)",
        100.0 * in_db / ingest.as_secs_f64()
    );
    println!("COPY:   {clean} rows in {:.2} s = {copy_rate:.0}/s (the best run)", copy.as_secs_f64());
    println!("ratio:  {:.2} of COPY", ingest_rate / copy_rate);
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

/// Exports the stored rows, then times a `COPY` of them back into the emptied
/// table, `COPY_RUNS` times: the fastest counts. On a shared machine one
/// `COPY` of 300,000 rows varied 2× between neighbouring runs, so a single
/// one flattered or punished the landing by chance; the best of three is the
/// raw speed the landing is held to.
async fn copy_same_rows(pool: &PgPool) -> anyhow::Result<Duration> {
    const COPY_RUNS: usize = 3;
    let mut conn = pool.acquire().await?;
    let mut rows = Vec::new();
    let mut out = conn.copy_out_raw("COPY vital_signs TO STDOUT").await?;
    while let Some(chunk) = out.next().await {
        rows.extend_from_slice(&chunk?);
    }
    drop(out);
    let mut times = Vec::with_capacity(COPY_RUNS);
    for _ in 0..COPY_RUNS {
        sqlx::query("TRUNCATE vital_signs").execute(&mut *conn).await?;
        let started = Instant::now();
        let mut copy = conn.copy_in_raw("COPY vital_signs FROM STDIN").await?;
        for chunk in rows.chunks(1 << 20) {
            copy.send(chunk).await?;
        }
        copy.finish().await?;
        times.push(started.elapsed());
    }
    println!("COPY runs: {:?}", times.iter().map(|t| format!("{:.2} s", t.as_secs_f64())).collect::<Vec<_>>());
    Ok(times.into_iter().min().unwrap_or_default())
}
