//! Links from a request's span to the traces of the readings it returned: a
//! reading's trace is another trace (it began at the bedside monitor), so a
//! link, not a parent, is how a trace backend walks from the one to the others.

use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// At most this many readings' traces are linked from one request span: a
/// page of a thousand readings would otherwise carry a thousand links (the
/// SDK's own limit, `OTEL_SPAN_LINK_COUNT_LIMIT`, is 128). The newest come first.
pub const MAX_READING_LINKS: usize = 32;

/// The span contexts of some readings' `send` spans, at most [`MAX_READING_LINKS`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReadingLinks(Vec<SpanContext>);

impl ReadingLinks {
    /// From stored `(trace_id, span_id)` hex pairs; pairs that are absent or
    /// not W3C ids are skipped. Empty (and free) while tracing is off.
    pub fn from_ids<'a>(ids: impl IntoIterator<Item = (Option<&'a str>, Option<&'a str>)>) -> ReadingLinks {
        if !crate::otel::enabled() {
            return ReadingLinks::default();
        }
        ReadingLinks::parse(ids)
    }

    fn parse<'a>(ids: impl IntoIterator<Item = (Option<&'a str>, Option<&'a str>)>) -> ReadingLinks {
        let links = ids
            .into_iter()
            .filter_map(|(trace, span)| {
                let trace = TraceId::from_hex(trace?).ok().filter(|t| *t != TraceId::INVALID)?;
                let span = SpanId::from_hex(span?).ok().filter(|s| *s != SpanId::INVALID)?;
                // Whether the producer sampled it is not stored; a link needs no flags.
                Some(SpanContext::new(trace, span, TraceFlags::default(), true, TraceState::NONE))
            })
            .take(MAX_READING_LINKS)
            .collect();
        ReadingLinks(links)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Adds the links to the current span (the request's).
    pub fn add_to_current_span(&self) {
        if self.0.is_empty() {
            return;
        }
        let span = tracing::Span::current();
        for link in &self.0 {
            span.add_link(link.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_or_missing_ids_are_skipped_and_the_count_is_capped() {
        let good = ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
        let mut ids = vec![
            (None, None),
            (Some("not hex"), Some(good.1)),
            (Some("00000000000000000000000000000000"), Some(good.1)),
            (Some(good.0), None),
        ];
        ids.extend(std::iter::repeat_n((Some(good.0), Some(good.1)), 100));
        let links = ReadingLinks::parse(ids);
        assert_eq!(links.len(), MAX_READING_LINKS);
        assert_eq!(links.0[0].trace_id().to_string(), good.0);
        assert_eq!(links.0[0].span_id().to_string(), good.1);
    }
}
