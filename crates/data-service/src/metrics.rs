//! The data-service's Prometheus metrics.

use std::sync::Arc;
use std::sync::atomic::AtomicI64;

use chrono::Utc;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use store::ingest::{CONFLICT, Landed, REFUSED_BY_DATABASE};
use telemetry::exemplars::TracedHistogram;
use vitals::DecodeError;
use vitals::plan::UNKNOWN_TOPIC;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TopicLabel {
    pub topic: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PartitionLabel {
    pub topic: String,
    pub partition: i32,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    pub kind: &'static str,
}

#[derive(Debug, Clone)]
pub struct Metrics {
    pub consumed: Family<TopicLabel, Counter>,
    pub admitted: Counter,
    pub stored: Counter,
    pub duplicates: Counter,
    pub queued: Counter,
    pub promoted: Counter,
    pub quarantined: Family<KindLabel, Counter>,
    pub store_errors: Family<KindLabel, Counter>,
    pub commit_errors: Counter,
    pub batch_size: Histogram,
    /// With the trace id of a sampled landing span as exemplar.
    pub store_seconds: TracedHistogram,
    pub freshness: Histogram,
    pub lag: Family<PartitionLabel, Gauge>,
    pub group_lag: Family<TopicLabel, Gauge>,
    pub assigned_partitions: Family<TopicLabel, Gauge>,
    pub last_consumed_age_seconds: Gauge<f64, std::sync::atomic::AtomicU64>,
    /// When the last message was consumed (ms since the Unix epoch; the
    /// service's start until one is), for `last_consumed_age_seconds`.
    pub last_consumed_at: Arc<AtomicI64>,
    pub queue_depth: Gauge,
    pub queue_oldest_age_seconds: Gauge<f64, std::sync::atomic::AtomicU64>,
}

impl Metrics {
    pub fn register(registry: &mut Registry) -> Metrics {
        let m = Metrics {
            consumed: Family::default(),
            admitted: Counter::default(),
            stored: Counter::default(),
            duplicates: Counter::default(),
            queued: Counter::default(),
            promoted: Counter::default(),
            quarantined: Family::default(),
            store_errors: Family::default(),
            commit_errors: Counter::default(),
            batch_size: Histogram::new(exponential_buckets(1.0, 4.0, 9)),
            store_seconds: TracedHistogram::new(exponential_buckets(0.001, 2.0, 14)),
            // 5 ms to about 5.5 min: a reading landed in its own batch, or
            // promoted long after it was parked.
            freshness: Histogram::new(exponential_buckets(0.005, 2.0, 17)),
            lag: Family::default(),
            group_lag: Family::default(),
            assigned_partitions: Family::default(),
            last_consumed_age_seconds: Gauge::default(),
            last_consumed_at: Arc::new(AtomicI64::new(Utc::now().timestamp_millis())),
            queue_depth: Gauge::default(),
            queue_oldest_age_seconds: Gauge::default(),
        };
        let r = registry;
        r.register("icu_ingest_consumed", "Messages consumed from Kafka", m.consumed.clone());
        r.register("icu_ingest_admitted", "Patients admitted or updated by admission events", m.admitted.clone());
        r.register("icu_ingest_stored", "Readings stored", m.stored.clone());
        r.register("icu_ingest_duplicates", "Readings already stored (redelivered), skipped", m.duplicates.clone());
        r.register("icu_ingest_queued", "Readings parked until their patient is known", m.queued.clone());
        r.register("icu_ingest_promoted", "Parked readings stored once their patient arrived", m.promoted.clone());
        r.register("icu_ingest_quarantined", "Messages that can never be stored, by kind", m.quarantined.clone());
        r.register(
            "icu_ingest_store_errors",
            "Batches whose transaction failed (retried), by kind of error",
            m.store_errors.clone(),
        );
        r.register(
            "icu_ingest_commit_errors",
            "Offset commits that failed (the batch is redelivered)",
            m.commit_errors.clone(),
        );
        r.register("icu_ingest_batch_messages", "Messages per landed batch", m.batch_size.clone());
        r.register("icu_ingest_store_seconds", "Time to land one batch in PostgreSQL", m.store_seconds.clone());
        r.register(
            "icu_ingest_consumer_lag_messages",
            "High watermark minus committed offset, per partition assigned to this replica",
            m.lag.clone(),
        );
        r.register(
            "icu_ingest_group_lag_messages",
            "High watermark minus the group's committed offset, summed over every partition of the topic \
             (the whole group's lag, as seen by this replica: also by one that holds no partition)",
            m.group_lag.clone(),
        );
        r.register(
            "icu_ingest_assigned_partitions",
            "Partitions of the topic assigned to this replica",
            m.assigned_partitions.clone(),
        );
        r.register(
            "icu_ingest_last_consumed_age_seconds",
            "Seconds since this replica last consumed a message (since its start, before the first)",
            m.last_consumed_age_seconds.clone(),
        );
        r.register(
            "icu_ingest_freshness_seconds",
            "A reading's age when the transaction that stores it commits (commit time minus measured_at)",
            m.freshness.clone(),
        );
        r.register("icu_ingest_queue_depth", "Readings waiting in ingest_queue", m.queue_depth.clone());
        r.register(
            "icu_ingest_queue_oldest_age_seconds",
            "Age of the oldest reading in ingest_queue",
            m.queue_oldest_age_seconds.clone(),
        );
        // Every quarantine kind from the start, at zero: a kind's first
        // message then shows in rate() and increase() (and on dashboards).
        for kind in DecodeError::KINDS.into_iter().chain([UNKNOWN_TOPIC, CONFLICT, REFUSED_BY_DATABASE]) {
            drop(m.quarantined.get_or_create(&KindLabel { kind }));
        }
        for kind in store::Error::METRIC_LABELS {
            drop(m.store_errors.get_or_create(&KindLabel { kind }));
        }
        m
    }

    /// Counts a failed landing attempt by the store error's kind.
    pub fn store_error(&self, error: &store::Error) {
        self.store_errors.get_or_create(&KindLabel { kind: error.metric_label() }).inc();
    }

    /// Counts what became of a batch (or a sweep); called as soon as its
    /// transaction has committed, so that now is its commit time.
    pub fn record(&self, landed: &Landed) {
        let committed = Utc::now();
        for measured in &landed.measured {
            self.freshness.observe((committed - *measured).as_seconds_f64());
        }
        self.admitted.inc_by(landed.admitted);
        self.stored.inc_by(landed.stored);
        self.duplicates.inc_by(landed.duplicates);
        self.queued.inc_by(landed.queued);
        self.promoted.inc_by(landed.promoted);
        for (&kind, &n) in &landed.quarantined {
            self.quarantined.get_or_create(&KindLabel { kind }).inc_by(n);
        }
    }
}
