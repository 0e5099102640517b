//! Kafka spans as the OpenTelemetry messaging conventions name them:
//! `send {topic}` (PRODUCER, one per message, its context injected into the
//! message) and `process {topic}` (CONSUMER, a child of the message's
//! context), both made through the OpenTelemetry API directly, not
//! `tracing`: the sampler decides when a span starts, so an unsampled
//! reading costs an id and a header, and no log line is written on these
//! per-message paths. A landing transaction's span (a `tracing` span, so
//! the log lines written while landing carry its ids) links to the messages.

use std::borrow::Cow;
use std::time::SystemTime;

use opentelemetry::trace::SamplingDecision;
use opentelemetry::trace::{SpanContext, SpanKind, Status, TraceContextExt as _, Tracer as _};
use opentelemetry::{KeyValue, trace::Span as _};
use opentelemetry_sdk::trace::{IdGenerator as _, RandomIdGenerator, ShouldSample as _, Span};
use opentelemetry_semantic_conventions::attribute as semconv;

use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::otel;
use crate::propagation::{self, HeaderSet};

/// The operation name (and type) of a producer's span.
const SEND: &str = "send";

fn kafka(operation: &'static str, kind: &'static str) -> [KeyValue; 3] {
    [
        KeyValue::new(semconv::MESSAGING_SYSTEM, "kafka"),
        KeyValue::new(semconv::MESSAGING_OPERATION_NAME, operation),
        KeyValue::new(semconv::MESSAGING_OPERATION_TYPE, kind),
    ]
}

/// The `send` span of one message, ended when the broker acknowledges it
/// (or not). Dropped unfinished, it ends then.
#[derive(Debug, Default)]
pub struct SendSpan(Option<Span>);

impl SendSpan {
    /// Starts the span and returns the headers that carry it; both empty
    /// while tracing is off.
    ///
    /// The sampling decision comes first, from the tracer's own sampler on
    /// fresh ids: an unsampled reading (all but ten a second by default) gets its
    /// `traceparent` (sampled flag off, so downstream honours the decision)
    /// written straight from those ids, and no span, name, attributes or
    /// propagator call at all. A sampled one gets a recording span with the
    /// same ids and decision, and its header written the same way.
    pub fn start(topic: &str, key: &str) -> (SendSpan, HeaderSet) {
        let (Some(tracer), Some(sampler)) = (otel::tracer(), otel::sampler()) else {
            return (SendSpan(None), HeaderSet::default());
        };
        let ids = RandomIdGenerator::default();
        let (trace_id, span_id) = (ids.new_trace_id(), ids.new_span_id());
        // A reading starts its own trace, whatever the emulator was doing:
        // no parent. The samplers `otel` builds do not read the name.
        let decision = sampler.should_sample(None, trace_id, SEND, &SpanKind::Producer, &[], &[]);
        if decision.decision == SamplingDecision::Drop {
            return (SendSpan(None), HeaderSet::unsampled(trace_id, span_id));
        }
        let mut span = tracer
            .span_builder(format!("{SEND} {topic}"))
            .with_kind(SpanKind::Producer)
            .with_trace_id(trace_id)
            .with_span_id(span_id)
            .with_sampling_result(decision)
            .start_with_context(tracer, &opentelemetry::Context::new());
        if span.is_recording() {
            span.set_attributes(kafka(SEND, SEND));
            span.set_attribute(KeyValue::new(semconv::MESSAGING_DESTINATION_NAME, topic.to_owned()));
            span.set_attribute(KeyValue::new(semconv::MESSAGING_KAFKA_MESSAGE_KEY, key.to_owned()));
        }
        let headers = HeaderSet::of(span.span_context());
        (SendSpan(Some(span)), headers)
    }

    /// Whether a span is kept for this message (tracing on, and sampled).
    pub fn is_recording(&self) -> bool {
        self.0.as_ref().is_some_and(|s| s.is_recording())
    }

    /// The broker stored the message at `partition`/`offset`.
    pub fn delivered(self, partition: i32, offset: i64) {
        if let Some(mut span) = self.0 {
            if span.is_recording() {
                span.set_attribute(KeyValue::new(semconv::MESSAGING_DESTINATION_PARTITION_ID, partition.to_string()));
                span.set_attribute(KeyValue::new(semconv::MESSAGING_KAFKA_OFFSET, offset));
            }
            span.end();
        }
    }

    /// The message was not delivered; `error_type` is a short stable label.
    pub fn failed(self, error_type: &'static str, description: impl Into<Cow<'static, str>>) {
        if let Some(mut span) = self.0 {
            if span.is_recording() {
                span.set_attribute(KeyValue::new(semconv::ERROR_TYPE, error_type));
                span.set_status(Status::error(description));
            }
            span.end();
        }
    }
}

/// Where a consumed message came from.
#[derive(Debug, Clone, Copy)]
pub struct Consumed<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<&'a [u8]>,
    pub headers: &'a [(String, Vec<u8>)],
}

/// The `process` span of one consumed message: a child of the context the
/// message carries, ended when the message's fate is known (dropped
/// unfinished, it ends then).
#[derive(Debug)]
pub struct ProcessSpan(Span);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sampled_flag_is_read_where_every_version_keeps_it() {
        let header = |flags: &str| format!("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-{flags}");
        assert!(flagged_sampled(header("01").as_bytes()));
        assert!(flagged_sampled(header("03").as_bytes()));
        assert!(!flagged_sampled(header("00").as_bytes()));
        assert!(!flagged_sampled(header("02").as_bytes()));
        assert!(!flagged_sampled(header("0z").as_bytes()));
        assert!(!flagged_sampled(header("0").as_bytes()));
        assert!(flagged_sampled(format!("cc{}-later", &header("01")[2..]).as_bytes()));
        assert!(!flagged_sampled(&[0xff; 55]));
    }
}

impl ProcessSpan {
    /// The span of `message`, a child of `parent` (what [`sampled_parent`]
    /// found in its headers). The parent is given explicitly, so no span
    /// current on this thread (another reading's, a batch's) can become it.
    pub fn start(message: Consumed<'_>, parent: &MessageParent, consumer_group: &str) -> Option<ProcessSpan> {
        ProcessSpan::child_of(&parent.0, message.topic, Some(message), consumer_group, None)
    }

    /// The span of a parked reading's promotion: in the trace of the message
    /// that carried `origin`, started when the promoting transaction began.
    pub fn promoted(
        origin: SpanContext,
        topic: &str,
        consumer_group: &str,
        started: SystemTime,
    ) -> Option<ProcessSpan> {
        if !origin.is_sampled() {
            return None;
        }
        let parent = opentelemetry::Context::new().with_remote_span_context(origin);
        ProcessSpan::child_of(&parent, topic, None, consumer_group, Some(started))
    }

    fn child_of(
        parent: &opentelemetry::Context,
        topic: &str,
        message: Option<Consumed<'_>>,
        consumer_group: &str,
        started: Option<SystemTime>,
    ) -> Option<ProcessSpan> {
        let tracer = otel::tracer()?;
        let mut builder = tracer.span_builder(format!("process {topic}")).with_kind(SpanKind::Consumer);
        if let Some(started) = started {
            builder = builder.with_start_time(started);
        }
        let mut span = builder.start_with_context(tracer, parent);
        if span.is_recording() {
            span.set_attributes(kafka("process", "process"));
            span.set_attributes([
                KeyValue::new(semconv::MESSAGING_DESTINATION_NAME, topic.to_owned()),
                KeyValue::new(semconv::MESSAGING_CONSUMER_GROUP_NAME, consumer_group.to_owned()),
            ]);
            if let Some(message) = message {
                span.set_attributes([
                    KeyValue::new(semconv::MESSAGING_DESTINATION_PARTITION_ID, message.partition.to_string()),
                    KeyValue::new(semconv::MESSAGING_KAFKA_OFFSET, message.offset),
                ]);
                if let Some(key) = message.key {
                    span.set_attribute(KeyValue::new(
                        semconv::MESSAGING_KAFKA_MESSAGE_KEY,
                        String::from_utf8_lossy(key).into_owned(),
                    ));
                }
            }
        }
        Some(ProcessSpan(span))
    }

    /// What became of the message (`stored`, `queued`, `promoted`, …).
    pub fn finish(mut self, fate: &'static str) {
        self.0.set_attribute(KeyValue::new(FATE, fate));
        self.0.end();
    }

    /// The message could not be landed this time (it will be again).
    pub fn failed(mut self, error_type: &'static str, description: String) {
        self.0.set_attribute(KeyValue::new(semconv::ERROR_TYPE, error_type));
        self.0.set_status(Status::error(description));
        self.0.end();
    }
}

/// The attribute naming a message's fate in the ward's store.
pub const FATE: &str = "icu.ingest.fate";

/// The producer's context a message carries, if it is sampled (its
/// decision holds downstream): the parent of its `process` span and what a
/// batch span links to. `None` while tracing is off.
///
/// The sampled flag is looked at first, in place: an unsampled message (most
/// of them at the default budget) costs a header lookup and two hex digits, and only a
/// sampled one goes through the propagator (which reads `tracestate` too).
pub fn sampled_parent(headers: &[(String, Vec<u8>)]) -> Option<MessageParent> {
    otel::tracer()?;
    let (_, traceparent) = headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("traceparent"))?;
    if !flagged_sampled(traceparent) {
        return None;
    }
    let cx = propagation::extract(headers);
    cx.span().span_context().is_sampled().then_some(MessageParent(cx))
}

/// The remote context a sampled message carries ([`sampled_parent`]).
#[derive(Debug, Clone)]
pub struct MessageParent(opentelemetry::Context);

impl MessageParent {
    /// The producer's span: what a batch span links to.
    pub fn span_context(&self) -> SpanContext {
        self.0.span().span_context().clone()
    }
}

/// Whether a `traceparent`'s flags (`vv-<32>-<16>-ff`, the same place in
/// every version) have the sampled bit set; a header too short to hold
/// them has not (the propagator would ignore it anyway).
fn flagged_sampled(traceparent: &[u8]) -> bool {
    let Some(flags) = traceparent.get(53..55) else { return false };
    std::str::from_utf8(flags).ok().and_then(|f| u8::from_str_radix(f, 16).ok()).is_some_and(|f| f & 1 == 1)
}

/// The span of one landing transaction (database conventions: CLIENT,
/// `INSERT vital_signs`), a trace of its own that links to the `send` span
/// of each sampled message it carries: up to the SDK's link limit
/// (`OTEL_SPAN_LINK_COUNT_LIMIT`, 128 by default), the rest counted as dropped.
/// A disabled span while tracing is off.
pub fn landing_span(messages: usize, origins: impl Iterator<Item = SpanContext>) -> tracing::Span {
    if !otel::enabled() {
        return tracing::Span::none();
    }
    let span = tracing::info_span!(
        "INSERT vital_signs",
        otel.kind = "client",
        db.system.name = "postgresql",
        db.operation.name = "INSERT",
        db.collection.name = "vital_signs",
        db.operation.batch.size = messages,
        otel.status_code = tracing::field::Empty,
        otel.status_description = tracing::field::Empty,
    );
    // A root: not whatever OpenTelemetry context the thread holds.
    if let Err(e) = span.set_parent(opentelemetry::Context::new()) {
        tracing::debug!(error = %e, "landing span without an explicit root");
    }
    for origin in origins {
        span.add_link(origin);
    }
    span
}

/// Records a failed landing on its span (`error_type`: a short stable label).
pub fn landing_failed(span: &tracing::Span, error_type: &'static str) {
    span.record("otel.status_code", "ERROR");
    span.record("otel.status_description", error_type);
}

/// The span context a stored `traceparent` named (trace id, parent span
/// id, flags), as the origin of a promotion.
pub fn remote_origin(trace_id: [u8; 16], span_id: [u8; 8], flags: u8) -> SpanContext {
    use opentelemetry::trace::{SpanId, TraceFlags, TraceId, TraceState};
    SpanContext::new(
        TraceId::from_bytes(trace_id),
        SpanId::from_bytes(span_id),
        TraceFlags::new(flags),
        true,
        TraceState::NONE,
    )
}
