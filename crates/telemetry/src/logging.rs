//! JSON lines in the original assignment's format: `timestamp`, `level`,
//! `message`, `module`, `function`, `line`, then the event's own fields.
//! `function` is the innermost span's name (`#[instrument]` names spans after
//! their function), which is as close as Rust gets to Python's `funcName`:
//! every function of ours that logs carries `#[tracing::instrument(skip_all)]`
//! (none on a per-reading path; a rare branch there moves to a `#[cold]`
//! helper), and a test on the real data-service binary checks its lines.
//! Inside an OpenTelemetry span (see `otel`), a line also carries that
//! span's `trace_id` and `span_id`, so a log search finds the trace.

use std::fmt;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_opentelemetry::OtelData;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer as _;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::Context;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;

/// Formats one event as one JSON object per line.
#[derive(Debug, Default, Clone, Copy)]
pub struct JsonLines;

#[derive(Default)]
struct Fields(Map<String, Value>);

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), Value::from(format!("{value:?}")));
    }
}

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let meta = event.metadata();
        let mut fields = Fields::default();
        event.record(&mut fields);
        let message = fields.0.remove("message").unwrap_or(Value::from(""));
        let mut line = Map::new();
        line.insert(
            "timestamp".into(),
            Value::from(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
        );
        line.insert("level".into(), Value::from(meta.level().as_str()));
        line.insert("message".into(), message);
        let module = meta.module_path().unwrap_or(meta.target());
        line.insert("module".into(), Value::from(module));
        // An event logged under a target of its own (the audit trail) says so.
        if meta.target() != module {
            line.insert("target".into(), Value::from(meta.target()));
        }
        line.insert("function".into(), ctx.lookup_current().map_or(Value::Null, |span| Value::from(span.name())));
        line.insert("line".into(), meta.line().map_or(Value::Null, Value::from));
        if let Some((trace_id, span_id)) = trace_of(ctx) {
            line.insert("trace_id".into(), Value::from(trace_id));
            line.insert("span_id".into(), Value::from(span_id));
        }
        for (key, value) in fields.0 {
            line.entry(key).or_insert(value);
        }
        let text = serde_json::to_string(&line).map_err(|_| fmt::Error)?;
        writeln!(writer, "{text}")
    }
}

/// Trace and span id of the innermost OpenTelemetry span around the event
/// (the `#[instrument]` spans in between are not exported and have none).
fn trace_of<S, N>(ctx: &FmtContext<'_, S, N>) -> Option<(String, String)>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    ctx.event_scope()?.find_map(|span| {
        let extensions = span.extensions();
        let otel = extensions.get::<OtelData>()?;
        let (trace, span) = (otel.trace_id()?, otel.span_id()?);
        (trace != opentelemetry::TraceId::INVALID).then(|| (trace.to_string(), span.to_string()))
    })
}

/// Whether a span is one for OpenTelemetry: it says which kind it is.
pub fn is_traced(meta: &tracing::Metadata<'_>) -> bool {
    meta.is_span() && meta.fields().field("otel.kind").is_some()
}

/// The level of every span made for OpenTelemetry (`info_span!` with an
/// `otel.kind`). A more verbose one would reach OpenTelemetry only while
/// the log filter lets its level through.
const TRACED_LEVEL: tracing::level_filters::LevelFilter = tracing::level_filters::LevelFilter::INFO;

/// A layer shown only the spans [`is_traced`] picks (never events: log lines
/// stay log lines). Not a per-layer filter (`with_filter`): with one, the
/// served monitor-service's request spans intermittently lost their
/// OpenTelemetry context (the first requests after start had none), while a
/// decision made from the span's own metadata, here, cannot depend on what
/// else the thread filtered before.
struct TracedOnly<L>(L);

impl<S, L> tracing_subscriber::Layer<S> for TracedOnly<L>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    L: tracing_subscriber::Layer<S>,
{
    fn on_register_dispatch(&self, subscriber: &tracing::Dispatch) {
        self.0.on_register_dispatch(subscriber);
    }

    fn on_layer(&mut self, subscriber: &mut S) {
        self.0.on_layer(subscriber);
    }

    /// The traced spans are `info` spans. Without a hint this layer would
    /// count as wanting every level, which lifts the process's global
    /// maximum level (and the `log` crate's, set from it) to TRACE: every
    /// `debug!`/`trace!` callsite would then be evaluated and dispatched
    /// only for the log filter to drop it, among them rdkafka's `trace!`
    /// for each delivered message (BENCHMARKS.md, tracing cost).
    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(TRACED_LEVEL)
    }

    fn on_new_span(&self, attrs: &tracing::span::Attributes<'_>, id: &tracing::span::Id, ctx: Context<'_, S>) {
        if is_traced(attrs.metadata()) {
            self.0.on_new_span(attrs, id, ctx);
        }
    }

    fn on_record(&self, id: &tracing::span::Id, values: &tracing::span::Record<'_>, ctx: Context<'_, S>) {
        if traced(id, &ctx) {
            self.0.on_record(id, values, ctx);
        }
    }

    fn on_follows_from(&self, id: &tracing::span::Id, follows: &tracing::span::Id, ctx: Context<'_, S>) {
        if traced(id, &ctx) && traced(follows, &ctx) {
            self.0.on_follows_from(id, follows, ctx);
        }
    }

    fn on_enter(&self, id: &tracing::span::Id, ctx: Context<'_, S>) {
        if traced(id, &ctx) {
            self.0.on_enter(id, ctx);
        }
    }

    fn on_exit(&self, id: &tracing::span::Id, ctx: Context<'_, S>) {
        if traced(id, &ctx) {
            self.0.on_exit(id, ctx);
        }
    }

    fn on_close(&self, id: tracing::span::Id, ctx: Context<'_, S>) {
        if traced(&id, &ctx) {
            self.0.on_close(id, ctx);
        }
    }

    unsafe fn downcast_raw(&self, id: std::any::TypeId) -> Option<*const ()> {
        if id == std::any::TypeId::of::<Self>() {
            return Some(self as *const Self as *const ());
        }
        // SAFETY: forwarded as is; the inner layer answers for its own types
        // (tracing-opentelemetry's `WithContext` among them).
        unsafe { self.0.downcast_raw(id) }
    }
}

fn traced<S: Subscriber + for<'a> LookupSpan<'a>>(id: &tracing::span::Id, ctx: &Context<'_, S>) -> bool {
    ctx.metadata(id).is_some_and(is_traced)
}

/// Installs the subscriber: JSON lines, or readable lines at a terminal or
/// with `LOG_FORMAT=pretty` ([`crate::LogFormat`]). `debug` is the original
/// `DEBUG` switch; `RUST_LOG` refines it when set. Safe to call twice (tests, `icu demo`).
pub fn init_logging(debug: bool) {
    install(debug, None);
}

/// The log lines (JSON, or readable ones: [`crate::LogFormat`]), and the
/// OpenTelemetry layer when a tracer is given. Each has its own filter: the
/// log level never hides a span from the trace, and only spans meant for it
/// reach OpenTelemetry.
pub(crate) fn install(debug: bool, tracer: Option<opentelemetry_sdk::trace::SdkTracer>) {
    let _ = subscriber(debug, tracer).try_init();
}

/// The subscriber [`install`] installs (tests use it as it is).
pub(crate) fn subscriber(
    debug: bool,
    tracer: Option<opentelemetry_sdk::trace::SdkTracer>,
) -> impl Subscriber + Send + Sync + for<'a> LookupSpan<'a> {
    let default = if debug { "debug,h2=info,hyper=info,sqlx=warn,rdkafka=info" } else { "info,sqlx=warn" };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let lines = match crate::LogFormat::from_env() {
        crate::LogFormat::Json => tracing_subscriber::fmt::layer().event_format(JsonLines).with_filter(filter).boxed(),
        crate::LogFormat::Pretty => tracing_subscriber::fmt::layer().with_filter(filter).boxed(),
    };
    let otel = tracer.map(|t| TracedOnly(tracing_opentelemetry::layer().with_tracer(t)));
    tracing_subscriber::registry().with(lines).with(otel)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::fmt::MakeWriter;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    #[test]
    fn lines_carry_the_original_fields() {
        let buffer = Buffer::default();
        let subscriber = tracing_subscriber::fmt().event_format(JsonLines).with_writer(buffer.clone()).finish();
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("publish_reading");
            let _guard = span.enter();
            tracing::warn!(patient = "p-1", pulse = 140_u64, "abnormal pulse");
        });
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        let line: Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(line["level"], "WARN");
        assert_eq!(line["message"], "abnormal pulse");
        assert_eq!(line["module"], "telemetry::logging::tests");
        assert_eq!(line["function"], "publish_reading");
        assert!(line["line"].as_u64().unwrap() > 0);
        assert_eq!(line["patient"], "p-1");
        assert_eq!(line["pulse"], 140);
        assert!(chrono::DateTime::parse_from_rfc3339(line["timestamp"].as_str().unwrap()).is_ok());
    }

    #[test]
    fn tracing_leaves_the_maximum_level_where_the_log_filter_puts_it() {
        use opentelemetry::trace::TracerProvider as _;
        use tracing::level_filters::LevelFilter;
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
        for debug in [false, true] {
            let without = subscriber(debug, None).max_level_hint();
            let with = subscriber(debug, Some(provider.tracer("test"))).max_level_hint();
            assert!(without.is_some(), "the log filter bounds the level");
            assert_eq!(with, without.max(Some(TRACED_LEVEL)), "debug={debug}");
            if std::env::var_os("RUST_LOG").is_none() {
                let expected = if debug { LevelFilter::DEBUG } else { LevelFilter::INFO };
                assert_eq!(with, Some(expected), "debug={debug}");
            }
        }
    }

    #[test]
    fn lines_inside_a_traced_span_carry_its_ids() {
        use opentelemetry::trace::TracerProvider as _;
        let buffer = Buffer::default();
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
        let otel = TracedOnly(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        let lines = tracing_subscriber::fmt::layer().event_format(JsonLines).with_writer(buffer.clone());
        let subscriber = tracing_subscriber::registry().with(lines).with(otel);
        let (mut trace, mut span_id) = (String::new(), String::new());
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!("outside any span");
            let request = tracing::info_span!("GET /patients", otel.kind = "server");
            let _request = request.enter();
            // An #[instrument]-style span inside: not exported, but its lines
            // still belong to the request's trace.
            let inner = tracing::info_span!("list_patients");
            let _inner = inner.enter();
            tracing::info!("inside");
            use opentelemetry::trace::TraceContextExt as _;
            use tracing_opentelemetry::OpenTelemetrySpanExt as _;
            let cx = request.context();
            trace = cx.span().span_context().trace_id().to_string();
            span_id = cx.span().span_context().span_id().to_string();
        });
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert!(lines[0].get("trace_id").is_none());
        assert_eq!(lines[1]["function"], "list_patients");
        assert_eq!(lines[1]["trace_id"], trace.as_str());
        assert_eq!(lines[1]["span_id"], span_id.as_str());
        assert_eq!(trace.len(), 32);
    }
}
