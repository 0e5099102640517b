//! JSON lines in the original assignment's format: `timestamp`, `level`,
//! `message`, `module`, `function`, `line`, then the event's own fields.
//! `function` is the innermost span's name (`#[instrument]` names spans after
//! their function), which is as close as Rust gets to Python's `funcName`:
//! every function of ours that logs carries `#[tracing::instrument(skip_all)]`
//! (none on a per-reading path; a rare branch there moves to a `#[cold]`
//! helper), and a test on the real data-service binary checks its lines.

use std::fmt;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

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
        for (key, value) in fields.0 {
            line.entry(key).or_insert(value);
        }
        let text = serde_json::to_string(&line).map_err(|_| fmt::Error)?;
        writeln!(writer, "{text}")
    }
}

/// Installs the subscriber: JSON lines, or readable lines at a terminal or
/// with `LOG_FORMAT=pretty` ([`crate::LogFormat`]). `debug` is the original
/// `DEBUG` switch; `RUST_LOG` refines it when set. Safe to call twice (tests, `icu demo`).
pub fn init_logging(debug: bool) {
    let default = if debug { "debug,h2=info,hyper=info,sqlx=warn,rdkafka=info" } else { "info,sqlx=warn" };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let subscriber = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = match crate::LogFormat::from_env() {
        crate::LogFormat::Json => subscriber.event_format(JsonLines).try_init(),
        crate::LogFormat::Pretty => subscriber.try_init(),
    };
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
}
