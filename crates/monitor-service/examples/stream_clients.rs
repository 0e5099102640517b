//! Stream clients for the benchmarks (scripts/bench-stream.sh): opens N
//! connections to `GET {API_PREFIX}/stream`, reads every frame, and reports
//! the freshness of the readings it receives (arrival time minus the
//! reading's `timestamp`, i.e. measured_at: the whole pipeline, emulator to
//! screen) as percentiles, and the events each client received.
//!
//!   stream_clients URL CLIENTS SECONDS [WARMUP_SECONDS]

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let url = args.get(1).cloned().unwrap_or_else(|| "http://127.0.0.1:8002/api/v1/stream".into());
    let clients: usize = args.get(2).map_or(Ok(50), |a| a.parse())?;
    let seconds: u64 = args.get(3).map_or(Ok(30), |a| a.parse())?;
    let warmup: u64 = args.get(4).map_or(Ok(5), |a| a.parse())?;
    let http = reqwest::Client::new();
    let start = Instant::now();
    let measure_from = start + Duration::from_secs(warmup);
    let end = measure_from + Duration::from_secs(seconds);
    let mut tasks = Vec::with_capacity(clients);
    for _ in 0..clients {
        let (http, url) = (http.clone(), url.clone());
        tasks.push(tokio::spawn(async move { client(http, url, measure_from, end).await }));
    }
    let mut latencies_ms: Vec<f64> = Vec::new();
    let mut per_client: Vec<usize> = Vec::new();
    let mut failed = 0;
    for task in tasks {
        match task.await? {
            Ok(latencies) => {
                per_client.push(latencies.len());
                latencies_ms.extend(latencies);
            }
            Err(e) => {
                failed += 1;
                eprintln!("client failed: {e}");
            }
        }
    }
    latencies_ms.sort_by(f64::total_cmp);
    let pct = |p: f64| latencies_ms.get(((latencies_ms.len() as f64 - 1.0) * p) as usize).copied().unwrap_or(f64::NAN);
    per_client.sort_unstable();
    println!(
        "clients {clients} (failed {failed}), {seconds} s measured: {} readings received, per client min {} max {}; \
         freshness ms p50 {:.0} p90 {:.0} p99 {:.0} max {:.0}",
        latencies_ms.len(),
        per_client.first().unwrap_or(&0),
        per_client.last().unwrap_or(&0),
        pct(0.5),
        pct(0.9),
        pct(0.99),
        latencies_ms.last().copied().unwrap_or(f64::NAN)
    );
    Ok(())
}

/// Reads one stream until `end`; the freshness of each reading received after `from`.
async fn client(http: reqwest::Client, url: String, from: Instant, end: Instant) -> anyhow::Result<Vec<f64>> {
    let mut response = http.get(&url).send().await?.error_for_status()?;
    let mut buffer = String::new();
    let mut latencies = Vec::new();
    const MARK: &str = "\"timestamp\":\"";
    while let Ok(chunk) = tokio::time::timeout_at(end.into(), response.chunk()).await {
        let Some(chunk) = chunk? else { anyhow::bail!("the stream ended") };
        let arrived = Utc::now();
        buffer.push_str(std::str::from_utf8(&chunk)?);
        while let Some(frame_end) = buffer.find("\n\n") {
            let frame: String = buffer.drain(..frame_end + 2).collect();
            if Instant::now() < from || !frame.contains("event: reading") {
                continue;
            }
            if let Some(at) = frame.find(MARK) {
                let rest = &frame[at + MARK.len()..];
                let stamp = &rest[..rest.find('"').unwrap_or(0)];
                let measured: DateTime<Utc> = stamp.parse()?;
                latencies.push((arrived - measured).num_microseconds().unwrap_or(i64::MAX) as f64 / 1000.0);
            }
        }
    }
    Ok(latencies)
}
