//! The data-service's part of a reading's trace. Each landing attempt:
//!
//! - one `process {topic}` CONSUMER span per sampled message, a child of the
//!   context its headers carry (never of another message's or the batch's),
//!   from the attempt's start until its transaction is done, with the
//!   message's fate (`icu.ingest.fate`: stored, queued, duplicate, …);
//! - the transaction's own span, `INSERT vital_signs`, a trace of its own
//!   that links to each sampled message (log lines written while landing
//!   carry its ids);
//! - for each parked reading the transaction promoted, a `process` span in
//!   that reading's original trace (its context was kept with it), fate
//!   `promoted`. Sweeps do the same.
//!
//! A failed attempt ends its spans with the error; the retry makes new ones.
//! With tracing off, landing is called as it is.

use std::time::SystemTime;

use sqlx::PgPool;
use store::ingest::{Inbound, Landed, Prepared};
use telemetry::exemplars::TraceExemplar;
use telemetry::messaging::{
    Consumed, MessageParent, ProcessSpan, landing_failed, landing_span, remote_origin, sampled_parent,
};
use tracing::Instrument as _;

/// [`store::ingest::land_prepared`], traced; with the landing span's trace
/// when it is sampled, the exemplar of the batch's `icu_ingest_store_seconds`.
pub async fn land(pool: &PgPool, prepared: &Prepared, group: &str) -> (store::Result<Landed>, Option<TraceExemplar>) {
    if !telemetry::otel::enabled() {
        return (store::ingest::land_prepared(pool, prepared).await, None);
    }
    let (batch, topics) = (prepared.messages(), prepared.topics());
    let started = SystemTime::now();
    // Each message's headers are read once, here; only sampled ones cost more.
    let parents: Vec<Option<MessageParent>> = batch.iter().map(|m| sampled_parent(&m.headers)).collect();
    let process: Vec<Option<ProcessSpan>> = batch
        .iter()
        .zip(&parents)
        .map(|(m, parent)| ProcessSpan::start(consumed(m), parent.as_ref()?, group))
        .collect();
    let origins = parents.iter().flatten().map(MessageParent::span_context);
    let span = landing_span(batch.len(), origins);
    let exemplar = TraceExemplar::of(&span);
    let outcome = store::ingest::land_prepared(pool, prepared).instrument(span.clone()).await;
    match &outcome {
        Ok(landed) => {
            let fates = landed.fates.iter().map(|f| f.label()).chain(std::iter::repeat("unknown"));
            for (span, fate) in process.into_iter().zip(fates) {
                if let Some(span) = span {
                    span.finish(fate);
                }
            }
            promoted(landed, &topics.vitals, group, started);
        }
        Err(e) => {
            landing_failed(&span, e.metric_label());
            for span in process.into_iter().flatten() {
                span.failed(e.metric_label(), e.to_string());
            }
        }
    }
    (outcome, exemplar)
}

/// A `process` span in each promoted reading's own trace, from `started`
/// (when the promoting transaction began) until now.
pub fn promoted(landed: &Landed, topic: &str, group: &str, started: SystemTime) {
    for trace in &landed.promoted_traces {
        let origin = remote_origin(trace.trace_id, trace.span_id, trace.flags);
        if let Some(span) = ProcessSpan::promoted(origin, topic, group, started) {
            span.finish("promoted");
        }
    }
}

fn consumed(m: &Inbound) -> Consumed<'_> {
    Consumed { topic: &m.topic, partition: m.partition, offset: m.offset, key: m.key.as_deref(), headers: &m.headers }
}
