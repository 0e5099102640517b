//! Publishing to Kafka: an idempotent producer (`acks=all`, no duplicates or
//! reordering on retry) with a bounded queue. While the broker is away the
//! queue absorbs readings; when it is full a reading is dropped, counted and
//! reported in the log, never lost silently. Each message carries the W3C
//! context of its `send` span (see `telemetry::messaging`), which ends when
//! the broker acknowledges the message.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use telemetry::messaging::SendSpan;
use uuid::Uuid;

use crate::metrics::{DropLabel, Metrics, TopicLabel};

/// Messages the emulator could not hand over, since the last report.
#[derive(Debug, Default)]
struct Unreported {
    queue_full: AtomicU64,
    delivery_failed: AtomicU64,
}

pub struct DeliveryContext {
    metrics: Metrics,
    unreported: Arc<Unreported>,
}

impl ClientContext for DeliveryContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        telemetry::kafka::forward_log(level, fac, log_message);
    }

    #[tracing::instrument(skip_all)]
    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(error = %error, "kafka client: {reason}");
    }
}

impl ProducerContext for DeliveryContext {
    type DeliveryOpaque = Box<SendSpan>;

    fn delivery(&self, result: &DeliveryResult<'_>, span: Box<SendSpan>) {
        match result {
            Ok(message) => {
                self.metrics.delivered.get_or_create(&TopicLabel { topic: message.topic().to_owned() }).inc();
                span.delivered(message.partition(), message.offset());
            }
            Err((error, message)) => {
                let label = DropLabel { topic: message.topic().to_owned(), reason: "delivery_failed" };
                self.metrics.dropped.get_or_create(&label).inc();
                self.unreported.delivery_failed.fetch_add(1, Ordering::Relaxed);
                span.failed("delivery_failed", error.to_string());
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("the producer queue is full")]
    QueueFull,
    #[error("kafka: {0}")]
    Kafka(#[from] KafkaError),
}

pub struct Publisher {
    producer: ThreadedProducer<DeliveryContext>,
    metrics: Metrics,
    unreported: Arc<Unreported>,
}

/// Settings of the producer, in one place.
pub struct PublisherSettings<'a> {
    pub bootstrap_servers: &'a str,
    pub queue_max_messages: u32,
}

impl Publisher {
    pub fn new(settings: &PublisherSettings<'_>, metrics: Metrics) -> Result<Publisher, KafkaError> {
        let unreported = Arc::new(Unreported::default());
        let context = DeliveryContext { metrics: metrics.clone(), unreported: unreported.clone() };
        let producer = ClientConfig::new()
            .set("bootstrap.servers", settings.bootstrap_servers)
            .set("client.id", "patient-service")
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("compression.type", "lz4")
            // Readings of a whole ward batch well: a short linger fills batches
            // without delaying a reading noticeably on the ward screen.
            .set("linger.ms", "20")
            .set("queue.buffering.max.messages", settings.queue_max_messages.to_string())
            // Readings not delivered in 5 minutes are counted as dropped.
            .set("message.timeout.ms", "300000")
            .create_with_context(context)?;
        Ok(Publisher { producer, metrics, unreported })
    }

    /// Queues one message, keyed by the patient's UUID so that each patient's
    /// messages keep their order in one partition, with its `send` span's
    /// `traceparent` (sampled or not: downstream honours the decision).
    pub fn send(&self, topic: &str, patient: Uuid, payload: &[u8]) -> Result<(), PublishError> {
        let mut key = Uuid::encode_buffer();
        let key = patient.hyphenated().encode_lower(&mut key);
        let (span, trace) = SendSpan::start(topic, key);
        // Built fresh per message, one header per name: never a second traceparent.
        let mut headers =
            OwnedHeaders::new_with_capacity(3).insert(Header { key: "content-type", value: Some("application/json") });
        for (name, value) in trace.iter() {
            headers = headers.insert(Header { key: name, value: Some(value) });
        }
        let record =
            BaseRecord::with_opaque_to(topic, Box::new(span)).key(key.as_bytes()).payload(payload).headers(headers);
        match self.producer.send(record) {
            Ok(()) => Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), record)) => {
                record.delivery_opaque.failed("queue_full", "the producer queue is full");
                Err(PublishError::QueueFull)
            }
            Err((e, record)) => {
                record.delivery_opaque.failed("rejected", e.to_string());
                Err(e.into())
            }
        }
    }

    /// Queues a reading; when the queue is full the reading is counted as
    /// dropped (the emulator keeps time rather than wait for the broker).
    pub fn send_or_count(&self, topic: &str, patient: Uuid, payload: &[u8]) {
        match self.send(topic, patient, payload) {
            Ok(()) => {}
            Err(PublishError::QueueFull) => {
                let label = DropLabel { topic: topic.to_owned(), reason: "queue_full" };
                self.metrics.dropped.get_or_create(&label).inc();
                self.unreported.queue_full.fetch_add(1, Ordering::Relaxed);
            }
            Err(e @ PublishError::Kafka(_)) => self.rejected(&e, topic, patient),
        }
    }

    /// Off the per-reading path, so that only a rejection pays for its span.
    #[cold]
    #[tracing::instrument(skip_all)]
    fn rejected(&self, error: &PublishError, topic: &str, patient: Uuid) {
        let label = DropLabel { topic: topic.to_owned(), reason: "rejected" };
        self.metrics.dropped.get_or_create(&label).inc();
        tracing::error!(%error, %patient, topic, "reading rejected by the producer");
    }

    /// Whether a broker answers a metadata request for `topic` (blocking).
    pub fn broker_reachable(&self, topic: &str, timeout: Duration) -> bool {
        self.producer.client().fetch_metadata(Some(topic), timeout).is_ok()
    }

    /// Updates the queue gauge and logs drops since the last call.
    #[tracing::instrument(skip_all)]
    pub fn report(&self) {
        self.metrics.queued.set(i64::from(self.producer.in_flight_count()));
        let queue_full = self.unreported.queue_full.swap(0, Ordering::Relaxed);
        let delivery_failed = self.unreported.delivery_failed.swap(0, Ordering::Relaxed);
        if queue_full + delivery_failed > 0 {
            tracing::warn!(queue_full, delivery_failed, "messages dropped: the broker is unreachable or too slow");
        }
    }

    pub fn in_flight(&self) -> i32 {
        self.producer.in_flight_count()
    }

    /// Waits until every queued message is acknowledged or `timeout` passes (blocking).
    pub fn flush(&self, timeout: Duration) -> Result<(), KafkaError> {
        self.producer.flush(timeout)
    }
}
