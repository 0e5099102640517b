//! The emulator's Prometheus metrics.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use vitals::RiskBand;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BandLabel {
    pub band: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TopicLabel {
    pub topic: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DropLabel {
    pub topic: String,
    /// `queue_full` (the producer's bounded queue) or `delivery_failed`
    /// (the broker did not acknowledge within the message timeout).
    pub reason: &'static str,
}

#[derive(Debug, Clone)]
pub struct Metrics {
    pub patients: Gauge,
    pub readings: Family<BandLabel, Counter>,
    pub delivered: Family<TopicLabel, Counter>,
    pub dropped: Family<DropLabel, Counter>,
    pub queued: Gauge,
    pub lateness: Histogram,
}

impl Metrics {
    pub fn register(registry: &mut Registry) -> Metrics {
        let m = Metrics {
            patients: Gauge::default(),
            readings: Family::default(),
            delivered: Family::default(),
            dropped: Family::default(),
            queued: Gauge::default(),
            // 1 ms to ~4 s: how late the scheduler runs behind the readings' due times.
            lateness: Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(0.001, 2.0, 13)),
        };
        registry.register("icu_emulator_patients", "Patients emulated by this process", m.patients.clone());
        registry.register("icu_emulator_readings", "Readings generated, by NEWS2 risk band", m.readings.clone());
        registry.register(
            "icu_emulator_messages_delivered",
            "Messages acknowledged by the broker",
            m.delivered.clone(),
        );
        registry.register(
            "icu_emulator_messages_dropped",
            "Messages lost before the broker acknowledged them, by reason",
            m.dropped.clone(),
        );
        registry.register(
            "icu_emulator_producer_queue_messages",
            "Messages waiting in the producer for the broker",
            m.queued.clone(),
        );
        registry.register(
            "icu_emulator_scheduler_lateness_seconds",
            "How long after its due time a reading was generated",
            m.lateness.clone(),
        );
        m
    }

    /// Creates every series whose labels are known in advance, at zero: a
    /// counter that appears only at its first increment hides that first
    /// event from `rate()` and `increase()`, and leaves dashboards blank.
    pub fn start_at_zero(&self, topics: &[&str]) {
        for band in [RiskBand::Low, RiskBand::LowMedium, RiskBand::Medium, RiskBand::High] {
            drop(self.readings.get_or_create(&BandLabel { band: band.as_str() }));
        }
        for topic in topics {
            drop(self.delivered.get_or_create(&TopicLabel { topic: (*topic).to_owned() }));
            for reason in ["queue_full", "delivery_failed"] {
                drop(self.dropped.get_or_create(&DropLabel { topic: (*topic).to_owned(), reason }));
            }
        }
    }
}
