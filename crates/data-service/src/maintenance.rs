//! Periodic work beside the landing loop: sweep the queue (readings whose
//! patient arrived through another replica), publish queue depth and age,
//! consumer lag per partition, and readiness from the database's answers.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::Offset;
use rdkafka::consumer::Consumer;
use sqlx::PgPool;

use crate::consumer::IngestConsumer;
use crate::health::Health;
use crate::metrics::{Metrics, PartitionLabel};

/// Readings promoted per sweep, at most: a sweep is one transaction.
const SWEEP_LIMIT: i64 = 10_000;

pub struct Maintenance {
    pub consumer: Arc<IngestConsumer>,
    pub pool: PgPool,
    pub metrics: Metrics,
    pub health: Health,
    pub every: Duration,
}

impl Maintenance {
    pub async fn run(self, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        let mut every = tokio::time::interval(self.every);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = &mut stop => return,
                _ = every.tick() => {}
            }
            self.database().await;
            self.lag().await;
        }
    }

    #[tracing::instrument(skip_all)]
    async fn database(&self) {
        let swept = store::ingest::sweep(&self.pool, SWEEP_LIMIT).await;
        // A committed sweep is counted even if the statistics then fail.
        if let Ok(swept) = &swept {
            self.metrics.record(swept);
            if swept.promoted > 0 {
                tracing::info!(promoted = swept.promoted, "sweep stored readings whose patient arrived late");
            }
        }
        let stats = store::ingest::queue_stats(&self.pool).await;
        match (swept, stats) {
            (Ok(_), Ok(stats)) => {
                self.metrics.queue_depth.set(stats.depth);
                self.metrics.queue_oldest_age_seconds.set(stats.oldest_age_seconds);
                self.health.database(true);
            }
            (Err(e), _) | (_, Err(e)) => {
                self.health.database(false);
                tracing::warn!(error = %e, "database unavailable for the sweep");
            }
        }
    }

    /// Lag = high watermark − committed offset, per assigned partition.
    async fn lag(&self) {
        let consumer = self.consumer.clone();
        let lags = tokio::task::spawn_blocking(move || -> Vec<(String, i32, i64)> {
            let timeout = Duration::from_secs(2);
            let Ok(assignment) = consumer.assignment() else { return Vec::new() };
            let Ok(committed) = consumer.committed_offsets(assignment, timeout) else { return Vec::new() };
            committed
                .elements()
                .iter()
                .filter_map(|e| {
                    let (low, high) = consumer.fetch_watermarks(e.topic(), e.partition(), timeout).ok()?;
                    let from = match e.offset() {
                        Offset::Offset(o) => o,
                        _ => low,
                    };
                    Some((e.topic().to_owned(), e.partition(), (high - from).max(0)))
                })
                .collect()
        })
        .await
        .unwrap_or_default();
        for (topic, partition, lag) in lags {
            self.metrics.lag.get_or_create(&PartitionLabel { topic, partition }).set(lag);
        }
    }
}
