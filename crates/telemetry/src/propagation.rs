//! W3C trace context (`traceparent`, `tracestate`) in and out of message
//! headers, through the globally installed propagator (a no-op while
//! tracing is off). Kafka headers are plain `(name, bytes)` lists here, so
//! this crate needs no Kafka client.

use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt as _, TraceId, TraceState};
use opentelemetry::{Context, global};

/// Headers a propagator writes. Setting a name again replaces its value:
/// a message never carries two `traceparent`s.
#[derive(Debug, Default, Clone)]
pub struct HeaderSet(Headers);

#[derive(Debug, Clone)]
enum Headers {
    /// A `traceparent` with no `tracestate` (every new reading's), inline:
    /// its allocations were a quarter of what tracing cost the emulator
    /// (BENCHMARKS.md, tracing cost).
    Root([u8; TRACEPARENT_LEN]),
    /// What a propagator wrote.
    Written(Vec<(String, String)>),
}

impl Default for Headers {
    fn default() -> Self {
        Headers::Written(Vec::new())
    }
}

/// `00-` 32 hex digits `-` 16 hex digits `-` 2 hex digits of flags.
const TRACEPARENT_LEN: usize = 55;

impl HeaderSet {
    /// Each header's name and value, as a message or response carries them.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        let (inline, written) = match &self.0 {
            Headers::Root(value) => (Some((TRACEPARENT, value.as_slice())), [].as_slice()),
            Headers::Written(list) => (None, list.as_slice()),
        };
        inline.into_iter().chain(written.iter().map(|(k, v)| (k.as_str(), v.as_bytes())))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        let (_, value) = self.iter().find(|(k, _)| k.eq_ignore_ascii_case(name))?;
        std::str::from_utf8(value).ok()
    }

    pub fn is_empty(&self) -> bool {
        matches!(&self.0, Headers::Written(list) if list.is_empty())
    }

    /// The `traceparent` of an unsampled span (flags `00`), written as the
    /// W3C propagator writes it, without going through it: for a message
    /// whose sampler said no before any span was made. Such a root carries
    /// no `tracestate`.
    pub fn unsampled(trace_id: TraceId, span_id: SpanId) -> HeaderSet {
        HeaderSet::root(trace_id, span_id, false)
    }

    /// The headers that carry `span` to the next service, as the W3C
    /// propagator (the only one the ward installs) writes them: a context
    /// with no `tracestate` (every new root) is written here, inline, the
    /// rest by the propagator. Empty while tracing is off.
    pub fn of(span: &SpanContext) -> HeaderSet {
        if span.is_valid() && *span.trace_state() == TraceState::NONE && crate::otel::enabled() {
            HeaderSet::root(span.trace_id(), span.span_id(), span.is_sampled())
        } else {
            inject(span)
        }
    }

    fn root(trace_id: TraceId, span_id: SpanId, sampled: bool) -> HeaderSet {
        // Digit by digit into a fixed buffer: `format!` of the two ids, then
        // the allocations, were most of what a reading's header cost (the
        // propagator: ~3,000 instructions; this: ~200).
        let mut value = [0_u8; TRACEPARENT_LEN];
        value[..3].copy_from_slice(b"00-");
        write_hex(&mut value[3..35], &trace_id.to_bytes());
        value[35] = b'-';
        write_hex(&mut value[36..52], &span_id.to_bytes());
        value[52..].copy_from_slice(if sampled { b"-01" } else { b"-00" });
        HeaderSet(Headers::Root(value))
    }
}

/// Equal when they carry the same headers in the same order, however kept.
impl PartialEq for HeaderSet {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for HeaderSet {}

const TRACEPARENT: &str = "traceparent";

/// `bytes` as lowercase hex digits, as W3C trace context writes ids, into
/// `out` (twice as long).
fn write_hex(out: &mut [u8], bytes: &[u8]) {
    for (pair, byte) in out.chunks_exact_mut(2).zip(bytes) {
        pair.copy_from_slice(&HEX_PAIRS[usize::from(*byte)]);
    }
}

/// Each byte's two lowercase hex digits, one lookup per byte.
const HEX_PAIRS: [[u8; 2]; 256] = {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut pairs = [[0_u8; 2]; 256];
    let mut byte = 0;
    while byte < 256 {
        pairs[byte] = [DIGITS[byte >> 4], DIGITS[byte & 15]];
        byte += 1;
    }
    pairs
};

/// The inline header's text: hex digits and dashes only, always ASCII.
fn ascii(value: &[u8]) -> &str {
    std::str::from_utf8(value).unwrap_or_default()
}

impl Injector for HeaderSet {
    fn set(&mut self, key: &str, value: String) {
        let mut list = match std::mem::take(&mut self.0) {
            Headers::Root(inline) => vec![(TRACEPARENT.to_owned(), ascii(&inline).to_owned())],
            Headers::Written(list) => list,
        };
        // An empty `tracestate` says nothing; the W3C text allows leaving it out.
        if value.is_empty() {
            list.retain(|(k, _)| !k.eq_ignore_ascii_case(key));
        } else {
            match list.iter_mut().find(|(k, _)| k.eq_ignore_ascii_case(key)) {
                Some(slot) => slot.1 = value,
                None => list.push((key.to_owned(), value)),
            }
        }
        self.0 = Headers::Written(list);
    }
}

/// A consumed message's headers. The first header of a name counts (Kafka
/// allows repeats); a value that is not UTF-8 is absent.
pub struct MessageHeaders<'a>(pub &'a [(String, Vec<u8>)]);

impl Extractor for MessageHeaders<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        let (_, value) = self.0.iter().find(|(k, _)| k.eq_ignore_ascii_case(key))?;
        std::str::from_utf8(value).ok()
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(k, _)| k.as_str()).collect()
    }
}

/// The headers that carry `span` to the next service (empty while tracing is off).
pub fn inject(span: &SpanContext) -> HeaderSet {
    let mut headers = HeaderSet::default();
    let cx = Context::new().with_remote_span_context(span.clone());
    global::get_text_map_propagator(|p| p.inject_context(&cx, &mut headers));
    headers
}

/// The remote context a message carries (an empty one if none, or while tracing is off).
///
/// Extracted onto an empty context, never the thread's current one: what a
/// thread last had current (another reading's span, an exporter's
/// suppressed scope) must not become part of this message's context.
pub fn extract(headers: &[(String, Vec<u8>)]) -> Context {
    global::get_text_map_propagator(|p| p.extract_with_context(&Context::new(), &MessageHeaders(headers)))
}

/// The context of an HTTP request's `traceparent`/`tracestate` (empty if
/// none), onto an empty context like [`extract`].
pub fn extract_http(headers: &axum::http::HeaderMap) -> Context {
    global::get_text_map_propagator(|p| {
        p.extract_with_context(&Context::new(), &opentelemetry_http::HeaderExtractor(headers))
    })
}

/// The `traceparent` (and `tracestate`) a response names, kept with the
/// request's span from the moment the span is made.
#[derive(Debug, Clone)]
struct ResponseTrace(HeaderSet);

/// Starts `span` (an OpenTelemetry request span whose parent is set) and
/// keeps the headers that name it for [`answer_with_traceparent`], so the
/// response's header does not depend on what the span's extensions hold by then.
pub fn remember_for_response(span: &tracing::Span) {
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    let cx = span.context();
    let context = cx.span().span_context().clone();
    if !context.is_valid() {
        return;
    }
    let headers = HeaderSet::of(&context);
    span.with_subscriber(|(id, dispatch)| {
        use tracing_subscriber::registry::LookupSpan as _;
        if let Some(span) = dispatch.downcast_ref::<tracing_subscriber::Registry>().and_then(|r| r.span(id)) {
            span.extensions_mut().insert(ResponseTrace(headers));
        }
    });
}

/// Middleware (`axum::middleware::map_response`) inside a request's span:
/// the response names that span in a `traceparent` header, so a caller can
/// find the request's trace. Nothing while tracing is off.
pub async fn answer_with_traceparent(mut response: axum::response::Response) -> axum::response::Response {
    if !crate::otel::enabled() {
        return response;
    }
    let remembered = tracing::Span::current().with_subscriber(|(id, dispatch)| {
        use tracing_subscriber::registry::LookupSpan as _;
        let registry = dispatch.downcast_ref::<tracing_subscriber::Registry>()?;
        registry.span(id)?.scope().find_map(|span| span.extensions().get::<ResponseTrace>().cloned())
    });
    if let Some(Some(ResponseTrace(headers))) = remembered {
        for (name, value) in headers.iter() {
            if let (Ok(name), Ok(value)) =
                (axum::http::HeaderName::try_from(name), axum::http::HeaderValue::from_bytes(value))
            {
                response.headers_mut().insert(name, value);
            }
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::propagation::TextMapPropagator as _;
    use opentelemetry::trace::{TraceFlags, TraceState};
    use opentelemetry_sdk::propagation::TraceContextPropagator;

    fn span(sampled: bool) -> SpanContext {
        let flags = if sampled { TraceFlags::SAMPLED } else { TraceFlags::default() };
        SpanContext::new(
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
            SpanId::from_hex("00f067aa0ba902b7").unwrap(),
            flags,
            true,
            TraceState::from_key_value([("ward", "7")]).unwrap(),
        )
    }

    #[test]
    fn injecting_twice_replaces_never_duplicates() {
        let propagator = TraceContextPropagator::new();
        let mut headers = HeaderSet::default();
        propagator.inject_context(&Context::new().with_remote_span_context(span(true)), &mut headers);
        propagator.inject_context(&Context::new().with_remote_span_context(span(false)), &mut headers);
        assert_eq!(headers.iter().filter(|(k, _)| *k == "traceparent").count(), 1);
        // The unsampled context went last: its flags are what travels.
        assert_eq!(headers.get("traceparent"), Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"));
        assert_eq!(headers.get("tracestate"), Some("ward=7"));
    }

    #[test]
    fn an_inline_unsampled_header_set_again_is_replaced_never_duplicated() {
        let (trace, span) = (TraceId::from(7_u128), SpanId::from(9_u64));
        let mut headers = HeaderSet::unsampled(trace, span);
        assert!(!headers.is_empty());
        assert_eq!(headers.iter().count(), 1);
        TraceContextPropagator::new()
            .inject_context(&Context::new().with_remote_span_context(self::span(true)), &mut headers);
        assert_eq!(headers.iter().filter(|(k, _)| *k == "traceparent").count(), 1);
        assert_eq!(headers.get("traceparent"), Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
        assert_eq!(headers.get("tracestate"), Some("ward=7"));
        assert!(HeaderSet::default().is_empty());
    }

    #[test]
    fn a_root_header_is_the_one_the_propagator_writes() {
        let propagator = TraceContextPropagator::new();
        for ((trace, span), sampled) in [
            ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"),
            ("0000000000000000000000000000000a", "000000000000000b"),
        ]
        .into_iter()
        .flat_map(|ids| [(ids, false), (ids, true)])
        {
            let (trace, span) = (TraceId::from_hex(trace).unwrap(), SpanId::from_hex(span).unwrap());
            let flags = if sampled { TraceFlags::SAMPLED } else { TraceFlags::default() };
            let context = SpanContext::new(trace, span, flags, false, TraceState::NONE);
            let mut expected = HeaderSet::default();
            propagator.inject_context(&Context::new().with_remote_span_context(context), &mut expected);
            let root = HeaderSet::root(trace, span, sampled);
            assert_eq!(root, expected);
            if !sampled {
                assert_eq!(HeaderSet::unsampled(trace, span), expected);
            }
            let back = propagator.extract(&MessageHeaders(&[(
                "traceparent".to_owned(),
                root.get("traceparent").unwrap().as_bytes().to_vec(),
            )]));
            let back = back.span().span_context().clone();
            assert!(back.is_valid());
            assert_eq!((back.trace_id(), back.span_id(), back.is_sampled()), (trace, span, sampled));
        }
    }

    #[test]
    fn the_first_traceparent_of_a_message_counts() {
        let propagator = TraceContextPropagator::new();
        let headers = vec![
            ("content-type".to_owned(), b"application/json".to_vec()),
            ("TraceParent".to_owned(), b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_vec()),
            ("traceparent".to_owned(), b"00-11111111111111111111111111111111-2222222222222222-01".to_vec()),
        ];
        let cx = propagator.extract(&MessageHeaders(&headers));
        let remote = cx.span().span_context().clone();
        assert_eq!(remote.trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(remote.span_id().to_string(), "00f067aa0ba902b7");
        assert!(remote.is_sampled() && remote.is_remote());
    }

    #[test]
    fn a_header_that_is_not_utf8_is_no_context() {
        let propagator = TraceContextPropagator::new();
        let headers = vec![("traceparent".to_owned(), vec![0xff, 0xfe])];
        assert!(!propagator.extract(&MessageHeaders(&headers)).span().span_context().is_valid());
    }
}
