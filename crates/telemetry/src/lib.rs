//! Plumbing every service shares, written once: logs, probes, metrics
//! endpoint, problem responses and the shutdown signal.

pub mod api_prefix;
pub mod kafka;
pub mod logging;
pub mod ops;
pub mod problem;
pub mod shutdown;

pub use api_prefix::parse_api_prefix;
pub use logging::init_logging;
pub use ops::{Readiness, ops_router};
pub use problem::Problem;
pub use shutdown::shutdown_signal;
