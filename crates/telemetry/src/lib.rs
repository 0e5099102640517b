//! Plumbing every service shares, written once: logs, traces, probes,
//! metrics endpoint, HTTP instrumentation (request spans, RED metrics,
//! failure log), problem responses, the `API_PREFIX` parser, the shutdown
//! signal and what a panic means (the process ends, see `panic`).
//! librdkafka's log forwarding is behind the `kafka` feature, so a service
//! without Kafka (monitor-service) does not link librdkafka.

pub mod api_prefix;
pub mod exemplars;
pub mod http;
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod links;
pub mod log_format;
pub mod logging;
pub mod messaging;
pub mod ops;
pub mod otel;
pub mod panic;
pub mod problem;
pub mod propagation;
pub mod rate_limited;
pub mod shutdown;

pub use api_prefix::parse_api_prefix;
pub use log_format::LogFormat;
pub use logging::init_logging;
pub use ops::{Readiness, ops_router};
pub use otel::{Telemetry, TracingError};
pub use panic::abort_on_panic;
pub use problem::Problem;
pub use shutdown::shutdown_signal;

/// Logs (JSON lines) and, when the `OTEL_*` variables ask for it, traces
/// exported over OTLP. `service` names the resource unless
/// `OTEL_SERVICE_NAME` does. Hold the guard until exit: dropping it flushes.
pub fn init(service: &str, debug: bool) -> Result<Telemetry, TracingError> {
    let settings = otel::TraceSettings::from_env()?;
    let provider = otel::install(service, &settings)?;
    let tracer = provider.as_ref().and(otel::tracer()).cloned();
    logging::install(debug, tracer);
    Ok(Telemetry::new(provider))
}
