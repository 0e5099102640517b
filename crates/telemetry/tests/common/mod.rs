//! What the tests that trace share: the setup a service's `main` makes.

/// Tracing on, as `telemetry::init` sets it up from `OTEL_*`, with `sampler`
/// (`OTEL_TRACES_SAMPLER`), exporting to where nothing listens: spans are
/// made and their export fails quietly. Call it first in the only test of
/// its binary (tracing's subscriber is process-wide), before any thread
/// reads the environment.
pub fn traced(sampler: &str) -> telemetry::Telemetry {
    // SAFETY: the only test of this binary calls this first, before any
    // other thread exists that could read the environment.
    unsafe {
        std::env::set_var("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9");
        std::env::set_var("OTEL_TRACES_SAMPLER", sampler);
    }
    let telemetry = telemetry::init("test", false).unwrap();
    assert!(telemetry::otel::enabled());
    telemetry
}
