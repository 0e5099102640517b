//! Plumbing every service shares, written once: logs, probes, metrics
//! endpoint, HTTP instrumentation (request spans, RED metrics, failure log),
//! problem responses, the `API_PREFIX` parser, the shutdown signal and what
//! a panic means (the process ends, see `panic`).
//! librdkafka's log forwarding is behind the `kafka` feature, so a service
//! without Kafka (monitor-service) does not link librdkafka.

pub mod api_prefix;
pub mod http;
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod log_format;
pub mod logging;
pub mod ops;
pub mod panic;
pub mod problem;
pub mod shutdown;

pub use api_prefix::parse_api_prefix;
pub use log_format::LogFormat;
pub use logging::init_logging;
pub use ops::{Readiness, ops_router};
pub use panic::abort_on_panic;
pub use problem::Problem;
pub use shutdown::shutdown_signal;
