//! The per-message cost of tracing, counted in instructions (callgrind's
//! counts do not depend on what else the machine runs):
//!
//!     cargo build --release -p telemetry --example trace_cost
//!     valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!         $CARGO_TARGET_DIR/release/examples/trace_cost WHAT N
//!
//! (minus the same with N = 0, divided by N). Tracing is on as a service's
//! `main` sets it up, exporting to where nothing listens unless
//! `OTEL_EXPORTER_OTLP_ENDPOINT` names a receiver. Set the sampler: the
//! default is a budget in time (10 new traces a second), so under
//! callgrind's slowdown its count depends on how long the run takes;
//! `OTEL_TRACES_SAMPLER=always_off` or `always_on` count only the unsampled
//! or sampled path, `parentbased_traceidratio` with `OTEL_TRACES_SAMPLER_ARG`
//! a share. WHAT:
//!
//! - `send`: `SendSpan::start` + ending the span, per reading (the emulator);
//! - `send-before`: the same as it was before the sampling decision came
//!   first (a span built for every reading, its name formatted, the
//!   propagator injecting it);
//! - `consume`: `sampled_parent` per message (data-service);
//! - `consume-before`: the propagator's extraction, twice per message, as before.

use opentelemetry::trace::{SpanKind, TraceContextExt as _, Tracer as _};
use telemetry::messaging::{SendSpan, sampled_parent};

fn main() {
    let mut args = std::env::args().skip(1);
    let what = args.next().unwrap_or_default();
    let n: u64 = args.next().and_then(|n| n.parse().ok()).unwrap_or(100_000);
    if std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT").is_none() {
        // SAFETY: single-threaded until `init` starts the exporter's thread.
        unsafe {
            std::env::set_var("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9");
        }
    }
    let _telemetry = telemetry::init("trace-cost", false).expect("tracing set up");
    let headers: Vec<Vec<(String, Vec<u8>)>> = (0..100u64)
        .map(|i| {
            let flags = if i % 10 == 0 { "01" } else { "00" };
            let value = format!("00-{:032x}-{:016x}-{flags}", u128::from(i) + 1, i + 1);
            vec![("content-type".to_owned(), b"application/json".to_vec()), ("traceparent".to_owned(), value.into())]
        })
        .collect();
    let mut kept = 0_u64;
    for i in 0..n {
        match what.as_str() {
            "send" => {
                let (span, trace) = SendSpan::start("icu.vitals", "0b7c4e2a-9a55-4ad0-8e0c-6f1d2b3a4c5d");
                kept += trace.iter().count() as u64;
                span.delivered(0, i as i64);
            }
            "send-before" => {
                // SendSpan::start and delivered as they were before.
                use opentelemetry::KeyValue;
                use opentelemetry::trace::Span as _;
                let (topic, key) = ("icu.vitals", "0b7c4e2a-9a55-4ad0-8e0c-6f1d2b3a4c5d");
                let tracer = telemetry::otel::tracer().expect("tracing on");
                let mut span = tracer
                    .span_builder(format!("send {topic}"))
                    .with_kind(SpanKind::Producer)
                    .start_with_context(tracer, &opentelemetry::Context::new());
                if span.is_recording() {
                    span.set_attributes([
                        KeyValue::new("messaging.system", "kafka"),
                        KeyValue::new("messaging.operation.name", "send"),
                        KeyValue::new("messaging.operation.type", "send"),
                    ]);
                    span.set_attribute(KeyValue::new("messaging.destination.name", topic.to_owned()));
                    span.set_attribute(KeyValue::new("messaging.kafka.message.key", key.to_owned()));
                }
                let trace = telemetry::propagation::inject(span.span_context());
                kept += trace.iter().count() as u64;
                if span.is_recording() {
                    span.set_attribute(KeyValue::new("messaging.destination.partition.id", 0.to_string()));
                    span.set_attribute(KeyValue::new("messaging.kafka.offset", i as i64));
                }
                span.end();
            }
            "consume" => {
                kept += u64::from(sampled_parent(&headers[(i % 100) as usize]).is_some());
            }
            "consume-before" => {
                let h = &headers[(i % 100) as usize];
                let first = telemetry::propagation::extract(h);
                let second = telemetry::propagation::extract(h);
                kept += u64::from(first.span().span_context().is_sampled() && second.has_active_span());
            }
            other => panic!("unknown {other:?}: send, send-before, consume, consume-before"),
        }
    }
    println!("{what} {n}: {kept}");
}
