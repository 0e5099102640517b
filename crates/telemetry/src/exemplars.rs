//! Trace-id exemplars on latency histograms (OpenMetrics): a slow bucket in
//! Prometheus leads to a trace that shows why. Only sampled spans give one
//! (an unsampled trace was never exported, so its id leads nowhere), and an
//! exemplar carries nothing but `trace_id`: one per bucket, replaced by the
//! next, so it adds no series and no unbounded label.

use opentelemetry::trace::TraceContextExt as _;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::exemplar::HistogramWithExemplars;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// The exemplar's label set: `{trace_id="<32 hex digits>"}`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TraceExemplar {
    pub trace_id: String,
}

/// A latency histogram whose buckets keep the trace id of their latest sampled observation.
pub type TracedHistogram = HistogramWithExemplars<TraceExemplar>;

impl TraceExemplar {
    /// The trace of `span` (an OpenTelemetry span: one with `otel.kind`),
    /// if tracing is on and the span is sampled.
    pub fn of(span: &tracing::Span) -> Option<TraceExemplar> {
        if !crate::otel::enabled() || span.is_disabled() {
            return None;
        }
        let cx = span.context();
        let context = cx.span().span_context().clone();
        (context.is_valid() && context.is_sampled()).then(|| TraceExemplar { trace_id: context.trace_id().to_string() })
    }

    /// The trace of the current span ([`TraceExemplar::of`]).
    pub fn current() -> Option<TraceExemplar> {
        if !crate::otel::enabled() {
            return None;
        }
        TraceExemplar::of(&tracing::Span::current())
    }
}
