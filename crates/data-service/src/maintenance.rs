//! Periodic work beside the landing loop: sweep the queue (readings whose
//! patient arrived through another replica), publish queue depth and age,
//! what the consumer holds (assigned partitions, lag, the group's lag, time
//! since the last message), and readiness from the database's answers.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::Utc;
use rdkafka::consumer::Consumer;
use rdkafka::{Offset, TopicPartitionList};
use sqlx::PgPool;

use crate::consumer::IngestConsumer;
use crate::health::Health;
use crate::metrics::{Metrics, PartitionLabel, TopicLabel};

/// Readings promoted per sweep, at most: a sweep is one transaction.
const SWEEP_LIMIT: i64 = 10_000;

pub struct Maintenance {
    pub consumer: Arc<IngestConsumer>,
    pub pool: PgPool,
    pub metrics: Metrics,
    pub health: Health,
    pub every: Duration,
    /// The subscribed topics.
    pub topics: Vec<String>,
    /// What promotion spans name: the readings' topic and the consumer group.
    pub vitals_topic: String,
    pub group: String,
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
            // Apart, so that a broker that does not answer delays no sweep.
            tokio::join!(self.database(), self.consumer_state());
        }
    }

    #[tracing::instrument(skip_all)]
    async fn database(&self) {
        let started = std::time::SystemTime::now();
        let swept = store::ingest::sweep(&self.pool, SWEEP_LIMIT).await;
        // A committed sweep is counted even if the statistics then fail.
        if let Ok(swept) = &swept {
            crate::traces::promoted(swept, &self.vitals_topic, &self.group, started);
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

    /// What the consumer holds and how far behind the group is: assigned
    /// partitions, lag per assigned partition, the group's lag per topic
    /// (over every partition, so that a replica holding none still shows
    /// it), and the time since this replica last consumed a message.
    async fn consumer_state(&self) {
        let age = Utc::now().timestamp_millis() - self.metrics.last_consumed_at.load(Ordering::Relaxed);
        self.metrics.last_consumed_age_seconds.set(age.max(0) as f64 / 1000.0);
        let consumer = self.consumer.clone();
        let topics = self.topics.clone();
        let state = tokio::task::spawn_blocking(move || ConsumerState::read(&consumer, &topics)).await;
        let Ok(state) = state else { return };
        for topic in &self.topics {
            let label = TopicLabel { topic: topic.clone() };
            let assigned = state.partitions.iter().filter(|p| p.assigned && &p.topic == topic).count();
            self.metrics.assigned_partitions.get_or_create(&label).set(assigned as i64);
        }
        if !state.complete {
            return;
        }
        // Partitions taken away by a rebalance must not keep their last lag.
        self.metrics.lag.clear();
        for p in state.partitions.iter().filter(|p| p.assigned) {
            let label = PartitionLabel { topic: p.topic.clone(), partition: p.partition };
            self.metrics.lag.get_or_create(&label).set(p.lag);
        }
        for topic in &self.topics {
            let lag: i64 = state.partitions.iter().filter(|p| &p.topic == topic).map(|p| p.lag).sum();
            self.metrics.group_lag.get_or_create(&TopicLabel { topic: topic.clone() }).set(lag);
        }
    }
}

/// One partition of a subscribed topic, as the group sees it.
struct PartitionState {
    topic: String,
    partition: i32,
    assigned: bool,
    /// High watermark − the group's committed offset (− low watermark when none).
    lag: i64,
}

struct ConsumerState {
    partitions: Vec<PartitionState>,
    /// Whether every partition's lag could be read (the broker answered).
    complete: bool,
}

impl ConsumerState {
    /// Asks the broker (blocking). A broker that does not answer costs one
    /// timeout, not one per partition: the first failure ends the reading.
    fn read(consumer: &IngestConsumer, topics: &[String]) -> ConsumerState {
        let timeout = Duration::from_secs(2);
        let assignment = consumer.assignment().unwrap_or_default();
        let assigned = |topic: &str, partition: i32| {
            assignment.elements().iter().any(|e| e.topic() == topic && e.partition() == partition)
        };
        let state = ConsumerState {
            partitions: assignment
                .elements()
                .iter()
                .map(|e| PartitionState {
                    topic: e.topic().to_owned(),
                    partition: e.partition(),
                    assigned: true,
                    lag: 0,
                })
                .collect(),
            complete: false,
        };
        let mut all = TopicPartitionList::new();
        for topic in topics {
            let Ok(metadata) = consumer.fetch_metadata(Some(topic), timeout) else { return state };
            for t in metadata.topics() {
                for p in t.partitions() {
                    all.add_partition(t.name(), p.id());
                }
            }
        }
        let Ok(committed) = consumer.committed_offsets(all, timeout) else { return state };
        let mut partitions = Vec::new();
        for e in committed.elements() {
            let Ok((low, high)) = consumer.fetch_watermarks(e.topic(), e.partition(), timeout) else { return state };
            let from = match e.offset() {
                Offset::Offset(o) => o,
                _ => low,
            };
            partitions.push(PartitionState {
                topic: e.topic().to_owned(),
                partition: e.partition(),
                assigned: assigned(e.topic(), e.partition()),
                lag: (high - from).max(0),
            });
        }
        ConsumerState { partitions, complete: true }
    }
}
