//! The landing loop: collect a batch (bounded by size and time), land it in
//! one transaction, and only then commit its offsets. A crash anywhere
//! before the commit means redelivery, which landing absorbs (it is
//! idempotent); a crash after it loses nothing, since the rows are committed.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rdkafka::ClientConfig;
use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::{Offset, TopicPartitionList};
use sqlx::PgPool;
use store::ingest::{Inbound, Landed, Prepared, Topics};
use telemetry::exemplars::TraceExemplar;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::config::Config;
use crate::health::Health;
use crate::metrics::{Metrics, TopicLabel};

pub type IngestConsumer = StreamConsumer<IngestContext>;

/// Logs rebalances and forwards librdkafka's logs.
pub struct IngestContext;

impl ClientContext for IngestContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        telemetry::kafka::forward_log(level, fac, log_message);
    }

    #[tracing::instrument(skip_all)]
    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(error = %error, "kafka client: {reason}");
    }
}

impl ConsumerContext for IngestContext {
    #[tracing::instrument(skip_all)]
    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => tracing::info!(partitions = %describe(tpl), "partitions assigned"),
            Rebalance::Revoke(tpl) => tracing::info!(partitions = %describe(tpl), "partitions revoked"),
            Rebalance::Error(e) => tracing::warn!(error = %e, "rebalance failed"),
        }
    }
}

fn describe(tpl: &TopicPartitionList) -> String {
    tpl.elements().iter().map(|e| format!("{}/{}", e.topic(), e.partition())).collect::<Vec<_>>().join(",")
}

pub fn create_consumer(config: &Config) -> Result<IngestConsumer, KafkaError> {
    let session = config.kafka_session_timeout_ms;
    let consumer: IngestConsumer = ClientConfig::new()
        .set("bootstrap.servers", &config.kafka_bootstrap_servers)
        .set("group.id", &config.kafka_group_id)
        .set("client.id", "data-service")
        // Offsets are committed by hand, after the database commit.
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        // A new group reads the topics from their start: nothing produced
        // before the first data-service started is skipped.
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", session.to_string())
        .set("heartbeat.interval.ms", (session / 3).max(100).to_string())
        .set("fetch.wait.max.ms", config.kafka_fetch_wait_max_ms.to_string())
        .create_with_context(IngestContext)?;
    consumer.subscribe(&[&config.kafka_topic, &config.kafka_patients_topic])?;
    Ok(consumer)
}

/// Backoff of the retries while PostgreSQL is unavailable.
const RETRY_FIRST: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(5);
/// On shutdown, how long the last batch may keep retrying before the service
/// gives up on it (uncommitted, so it is redelivered to whoever comes next).
const LAST_BATCH_PATIENCE: Duration = Duration::from_secs(10);

/// A batch landing in its own task: the batch back, and the outcome.
type InFlight = tokio::task::JoinHandle<(Prepared, store::Result<Landed>)>;

pub struct Ingest {
    /// The consumer group, as spans name it.
    pub group: String,
    pub consumer: Arc<IngestConsumer>,
    pub pool: PgPool,
    pub topics: Topics,
    pub metrics: Metrics,
    pub health: Health,
    pub max_messages: usize,
    pub max_wait: Duration,
}

impl Ingest {
    /// Lands batches until `stop` turns true, then lands and commits what it
    /// holds and returns.
    ///
    /// The next batch is consumed and prepared (judged and encoded, pure
    /// CPU) while the previous one lands (in its own task), so the service's
    /// own work runs beside the database's instead of in series with it. But
    /// landing stays one batch at a time and offsets are committed in landing
    /// order, so a committed offset is always one past a reading already
    /// stored. Messages consumed meanwhile are later, per partition, than
    /// everything in the batch in flight.
    #[tracing::instrument(skip_all)]
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut carry: Vec<Inbound> = Vec::new();
        let mut in_flight: Option<InFlight> = None;
        loop {
            // With a batch in flight, collecting must return soon even when
            // nothing more arrives, so that its offsets get committed.
            let (batch, stopping) = self.collect(&mut carry, &mut stop, in_flight.is_some()).await;
            let batch = self.prepare(batch).await;
            let patience = stopping.then(|| Instant::now() + LAST_BATCH_PATIENCE);
            let landed = match in_flight.take() {
                Some(previous) => match self.finish(previous, &mut carry, &mut stop, patience).await {
                    Some(landed) => Some(landed),
                    None => return,
                },
                None => None,
            };
            if stopping {
                if let Some(landed) = landed {
                    self.commit(landed.messages()).await;
                }
                // The last batch: landed here, with the shutdown's patience.
                if let Some(batch) = batch {
                    if self.land(&batch, &mut carry, &mut stop, patience).await.is_some() {
                        self.commit(batch.messages()).await;
                    } else {
                        tracing::warn!(messages = batch.messages().len(), "batch not stored; it will be redelivered");
                    }
                }
                return;
            }
            // The next batch starts landing before the previous one's offsets
            // are committed: the commit is a broker round trip the database
            // need not wait for. Commits stay in landing order (this loop).
            if let Some(batch) = batch {
                in_flight = Some(self.start_landing(batch));
            }
            if let Some(landed) = landed {
                self.commit(landed.messages()).await;
            }
        }
    }

    /// Judges and encodes a batch ([`Prepared::of`]) off the async threads.
    /// `None` for an empty batch.
    async fn prepare(&self, batch: Vec<Inbound>) -> Option<Prepared> {
        if batch.is_empty() {
            return None;
        }
        let (topics, messages) = (self.topics.clone(), batch.len());
        match tokio::task::spawn_blocking(move || Prepared::of(&topics, batch)).await {
            Ok(prepared) => Some(prepared),
            // A panic ends the process (telemetry::panic): passed on.
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            // Cancelled: only when the runtime shuts down under us.
            Err(_) => {
                tracing::warn!(messages, "batch not prepared (shutting down); it will be redelivered");
                None
            }
        }
    }

    /// Lands `batch` in a task of its own: one attempt, timed. A success is
    /// recorded in the metrics as soon as its transaction commits, so the
    /// metrics never lag the table by a collecting round.
    fn start_landing(&self, batch: Prepared) -> InFlight {
        let (pool, group) = (self.pool.clone(), self.group.clone());
        let (metrics, health) = (self.metrics.clone(), self.health.clone());
        tokio::spawn(async move {
            let started = Instant::now();
            let (outcome, exemplar) = crate::traces::land(&pool, &batch, &group).await;
            if let Ok(landed) = &outcome {
                record(&metrics, &health, batch.messages(), landed, started.elapsed(), exemplar);
            }
            (batch, outcome)
        })
    }

    /// Waits for the batch in flight and retries it here if its attempt
    /// failed: the batch once stored (its offsets for the caller to commit),
    /// `None` when it could not be (stop).
    #[tracing::instrument(skip_all)]
    async fn finish(
        &self,
        in_flight: InFlight,
        carry: &mut Vec<Inbound>,
        stop: &mut watch::Receiver<bool>,
        patience: Option<Instant>,
    ) -> Option<Prepared> {
        let (batch, outcome) = match in_flight.await {
            Ok((batch, Ok(landed))) => (batch, Some(landed)),
            Ok((batch, Err(e))) => {
                self.metrics.store_error(&e);
                self.health.landing(false);
                tracing::warn!(error = %e, messages = batch.messages().len(), "storing the batch failed; retrying");
                let landed = self.land(&batch, carry, stop, patience).await;
                (batch, landed)
            }
            // A panic ends the process (telemetry::panic): passed on, never
            // taken for a normal stop. The batch's offsets stay uncommitted.
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            // Cancelled: only when the runtime shuts down under us.
            Err(_) => return None,
        };
        if outcome.is_none() {
            tracing::warn!(messages = batch.messages().len(), "batch not stored; it will be redelivered");
            return None;
        }
        Some(batch)
    }

    fn record(&self, batch: &[Inbound], landed: &Landed, took: Duration, exemplar: Option<TraceExemplar>) {
        record(&self.metrics, &self.health, batch, landed, took, exemplar);
    }

    /// Waits for a first message, then gathers more until the batch is full
    /// or the first one has waited `max_wait` (or, when `soon`, until
    /// `max_wait` from now, even with nothing gathered).
    #[tracing::instrument(skip_all)]
    async fn collect(
        &self,
        carry: &mut Vec<Inbound>,
        stop: &mut watch::Receiver<bool>,
        soon: bool,
    ) -> (Vec<Inbound>, bool) {
        let mut batch = std::mem::take(carry);
        let mut deadline = (soon || !batch.is_empty()).then(|| Instant::now() + self.max_wait);
        while batch.len() < self.max_messages {
            let next = async {
                match deadline {
                    Some(d) => tokio::time::timeout_at(d, self.consumer.recv()).await.ok(),
                    None => Some(self.consumer.recv().await),
                }
            };
            tokio::select! {
                biased;
                _ = stop.wait_for(|s| *s) => return (batch, true),
                received = next => match received {
                    None => break,
                    Some(Ok(message)) => {
                        batch.push(self.inbound(&message));
                        deadline.get_or_insert_with(|| Instant::now() + self.max_wait);
                    }
                    // Transport errors are retried inside librdkafka; they are
                    // reported here for the log only.
                    Some(Err(e)) => tracing::warn!(error = %e, "consume error"),
                },
            }
        }
        (batch, false)
    }

    fn inbound(&self, m: &BorrowedMessage<'_>) -> Inbound {
        self.metrics.consumed.get_or_create(&TopicLabel { topic: m.topic().to_owned() }).inc();
        self.metrics.last_consumed_at.store(Utc::now().timestamp_millis(), std::sync::atomic::Ordering::Relaxed);
        let headers = headers_of(m);
        Inbound {
            topic: m.topic().to_owned(),
            partition: m.partition(),
            offset: m.offset(),
            key: m.key().map(<[u8]>::to_vec),
            headers,
            payload: m.payload().map(<[u8]>::to_vec).unwrap_or_default(),
            // The message's Kafka timestamp (the broker's with LogAppendTime,
            // else the producer's): the same at every redelivery, so a reading
            // judged against it gets the same verdict every time. The local
            // clock only when the message carries none.
            received_at: m.timestamp().to_millis().and_then(DateTime::from_timestamp_millis).unwrap_or_else(Utc::now),
        }
    }

    /// Lands the batch, retrying with backoff while the database is away.
    /// Consumption is paused meanwhile, but the consumer keeps being polled
    /// so the group does not evict this replica; anything it still delivers
    /// is carried into the next batch. `None` when it gave up (stop, or the
    /// shutdown's patience ran out).
    #[tracing::instrument(skip_all)]
    async fn land(
        &self,
        batch: &Prepared,
        carry: &mut Vec<Inbound>,
        stop: &mut watch::Receiver<bool>,
        patience: Option<Instant>,
    ) -> Option<Landed> {
        let mut backoff = RETRY_FIRST;
        let mut paused = false;
        loop {
            let started = Instant::now();
            match crate::traces::land(&self.pool, batch, &self.group).await {
                (Ok(landed), exemplar) => {
                    self.record(batch.messages(), &landed, started.elapsed(), exemplar);
                    if paused {
                        self.set_paused(false);
                        tracing::info!("database back: consuming again");
                    }
                    return Some(landed);
                }
                (Err(e), _) => {
                    self.metrics.store_error(&e);
                    self.health.landing(false);
                    tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, messages = batch.messages().len(),
                        "storing the batch failed; consumption paused");
                    // Re-paused every round: a rebalance may have assigned new partitions.
                    self.set_paused(true);
                    paused = true;
                }
            }
            let until = Instant::now() + backoff;
            if patience.is_some_and(|p| until > p) {
                return None;
            }
            loop {
                tokio::select! {
                    biased;
                    _ = stop.wait_for(|s| *s), if patience.is_none() => return None,
                    () = tokio::time::sleep_until(until) => break,
                    received = self.consumer.recv() => if let Ok(m) = received { carry.push(self.inbound(&m)) },
                }
            }
            backoff = (backoff * 2).min(RETRY_MAX);
        }
    }

    #[tracing::instrument(skip_all)]
    fn set_paused(&self, pause: bool) {
        let Ok(assignment) = self.consumer.assignment() else { return };
        let result = if pause { self.consumer.pause(&assignment) } else { self.consumer.resume(&assignment) };
        if let Err(e) = result {
            tracing::warn!(error = %e, pause, "pausing or resuming partitions failed");
        }
    }

    /// Commits the next offset of every partition in the batch (synchronously,
    /// off the async threads). A failed commit only means redelivery.
    ///
    /// Partitions a rebalance took away while the batch was landing are left
    /// out: their new owner may already have stored and committed further,
    /// and this stale offset would only move it back (redelivery, harmless
    /// but wasted). Committing is never what makes a reading safe; the
    /// database commit before it is, so any offset committed here is at most
    /// one past a reading already stored.
    #[tracing::instrument(skip_all)]
    async fn commit(&self, batch: &[Inbound]) {
        let mut next: HashMap<(&str, i32), i64> = HashMap::new();
        for m in batch {
            let offset = next.entry((m.topic.as_str(), m.partition)).or_insert(m.offset + 1);
            *offset = (*offset).max(m.offset + 1);
        }
        if let Ok(assignment) = self.consumer.assignment() {
            let owned = assignment.elements();
            next.retain(|(topic, partition), _| {
                owned.iter().any(|e| e.topic() == *topic && e.partition() == *partition)
            });
        }
        if next.is_empty() {
            return;
        }
        let mut tpl = TopicPartitionList::new();
        for ((topic, partition), offset) in next {
            if let Err(e) = tpl.add_partition_offset(topic, partition, Offset::Offset(offset)) {
                tracing::warn!(error = %e, topic, partition, "offset not committable");
            }
        }
        let consumer = self.consumer.clone();
        let outcome = tokio::task::spawn_blocking(move || consumer.commit(&tpl, CommitMode::Sync)).await;
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                self.metrics.commit_errors.inc();
                tracing::warn!(error = %e, "offset commit failed; the batch may be redelivered (harmless)");
            }
            Err(e) => tracing::error!(error = %e, "offset commit task failed"),
        }
    }
}

#[tracing::instrument(skip_all)]
fn record(
    metrics: &Metrics,
    health: &Health,
    batch: &[Inbound],
    landed: &Landed,
    took: Duration,
    exemplar: Option<TraceExemplar>,
) {
    metrics.store_seconds.observe(took.as_secs_f64(), exemplar, None);
    metrics.batch_size.observe(batch.len() as f64);
    metrics.record(landed);
    health.landing(true);
    tracing::debug!(messages = batch.len(), ?landed, "batch landed");
}

/// A message's headers, read through librdkafka directly: rdkafka's own
/// header accessor unwraps the name as UTF-8 and panics on any other bytes,
/// so one message with such a header would crash the service, again at every
/// redelivery. A name that is not UTF-8 is kept lossily; values exactly.
fn headers_of(m: &BorrowedMessage<'_>) -> Vec<(String, Vec<u8>)> {
    use rdkafka::bindings as rd;
    let mut headers: *mut rd::rd_kafka_headers_t = std::ptr::null_mut();
    // SAFETY: `m.ptr()` is a live message for the whole borrow, and the
    // headers librdkafka hands out belong to that message.
    let err = unsafe { rd::rd_kafka_message_headers(m.ptr(), &mut headers) };
    if err == rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR__NOENT || headers.is_null() {
        return Vec::new();
    }
    if err != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
        unreadable_headers(err, m);
        return Vec::new();
    }
    // SAFETY: `headers` is the message's header list, checked non-null above.
    let count = unsafe { rd::rd_kafka_header_cnt(headers) };
    (0..count)
        .filter_map(|index| {
            let (mut name, mut value, mut size) = (std::ptr::null(), std::ptr::null(), 0_usize);
            // SAFETY: `index` is below the count; librdkafka fills the three
            // out-pointers with data owned by the message.
            let err = unsafe { rd::rd_kafka_header_get_all(headers, index, &mut name, &mut value, &mut size) };
            if err != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR || name.is_null() {
                return None;
            }
            // SAFETY: librdkafka's header names are NUL-terminated C strings.
            let name = unsafe { std::ffi::CStr::from_ptr(name) }.to_string_lossy().into_owned();
            let value = if value.is_null() {
                Vec::new()
            } else {
                // SAFETY: `value` points at `size` bytes owned by the message.
                unsafe { std::slice::from_raw_parts(value.cast::<u8>(), size) }.to_vec()
            };
            Some((name, value))
        })
        .collect()
}

/// Off the per-message path, so that only this rare case pays for its span.
#[cold]
#[tracing::instrument(skip_all)]
fn unreadable_headers(err: rdkafka::bindings::rd_kafka_resp_err_t, m: &BorrowedMessage<'_>) {
    tracing::warn!(error = ?err, topic = m.topic(), partition = m.partition(), offset = m.offset(),
        "the headers of a message could not be read; it is kept without them");
}
