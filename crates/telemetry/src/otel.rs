//! OpenTelemetry traces, set up once per process from the standard `OTEL_*`
//! variables and flushed when the returned [`Telemetry`] guard drops.
//!
//! - No `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` / `OTEL_EXPORTER_OTLP_ENDPOINT`,
//!   `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none`: no tracer, no
//!   exporter, no propagation; the per-reading paths check [`enabled`] and do
//!   nothing more.
//! - `OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL`: `http/protobuf` (the default the
//!   specification recommends) or `grpc`.
//! - `OTEL_TRACES_SAMPLER` / `_ARG` as the SDK reads them; unset, the sampler
//!   is parent-based, at most [`DEFAULT_TRACES_PER_SECOND`] new traces a
//!   second ([`RateLimited`]).
//! - `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`: the resource; the
//!   service's own name when neither names it.
//!
//! Only `tracing` spans that carry an `otel.kind` field become OpenTelemetry
//! spans: the many `#[instrument]` spans that name log lines' `function` (a
//! service's whole `run_until` among them) would otherwise make one endless
//! trace that every reading's spans hang from.

use std::sync::OnceLock;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry::{KeyValue, global};
use opentelemetry_otlp::{Protocol, SpanExporter, WithExportConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::resource::{EnvResourceDetector, ResourceDetector, TelemetryResourceDetector};
use opentelemetry_sdk::trace::{Sampler, SdkTracer, SdkTracerProvider};

use crate::rate_limited::RateLimited;

/// New traces a process samples a second when `OTEL_TRACES_SAMPLER` is
/// unset, parent-based, so whatever a producer decided holds downstream: a
/// demo ward of a few beds is traced whole, a ward of 10,000 beds one
/// reading in a thousand (BENCHMARKS.md measures what it costs).
pub const DEFAULT_TRACES_PER_SECOND: f64 = 10.0;

/// The instrumentation scope of every span the ward makes.
const SCOPE: &str = "icu-monitor";

static TRACER: OnceLock<SdkTracer> = OnceLock::new();

/// The sampler the provider was given, kept so that a new reading's
/// sampling decision can be made before (and, when it says no, instead of)
/// building a span: see `messaging::SendSpan::start`.
static SAMPLER: OnceLock<Sampler> = OnceLock::new();

/// Whether spans are made and exported in this process (set once at start).
pub fn enabled() -> bool {
    TRACER.get().is_some()
}

/// The process's tracer, when tracing is on.
pub fn tracer() -> Option<&'static SdkTracer> {
    TRACER.get()
}

/// The process's sampler (the one its tracer uses), when tracing is on.
pub fn sampler() -> Option<&'static Sampler> {
    SAMPLER.get()
}

/// The sampler `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG` name, as the
/// SDK's own reading of them maps them (opentelemetry_sdk 0.31
/// `trace/config.rs`), or parent-based [`RateLimited`] at
/// [`DEFAULT_TRACES_PER_SECOND`] when unset. Built here rather than left to the
/// SDK so that the same sampler can decide before a span is built.
pub fn sampler_from_lookup(get: impl Fn(&str) -> Option<String>) -> Sampler {
    let Some(name) = get("OTEL_TRACES_SAMPLER") else {
        return Sampler::ParentBased(Box::new(RateLimited::new(DEFAULT_TRACES_PER_SECOND)));
    };
    // The SDK falls back to a ratio of 1.0 when the argument is missing or not a number.
    let ratio = || get("OTEL_TRACES_SAMPLER_ARG").and_then(|r| r.trim().parse::<f64>().ok()).unwrap_or(1.0);
    match name.trim() {
        "always_on" => Sampler::AlwaysOn,
        "always_off" => Sampler::AlwaysOff,
        "traceidratio" => Sampler::TraceIdRatioBased(ratio()),
        "parentbased_always_off" => Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
        "parentbased_traceidratio" => Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(ratio()))),
        // parentbased_always_on, and what the SDK does not implement (jaeger_remote, xray) or know.
        _ => Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TracingError {
    #[error("{variable}={value:?} is not supported; use grpc or http/protobuf")]
    UnsupportedProtocol { variable: &'static str, value: String },
    #[error("OTEL_TRACES_EXPORTER={0:?} is not supported; use otlp or none")]
    UnsupportedExporter(String),
    #[error("building the OTLP trace exporter: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
}

/// How this process exports traces, as the `OTEL_*` variables say.
#[derive(Debug, Clone)]
pub struct TraceSettings {
    /// `None`: tracing is off.
    pub protocol: Option<Protocol>,
    /// `OTEL_TRACES_SAMPLER` / `_ARG` as [`sampler_from_lookup`] reads them.
    pub sampler: Sampler,
    pub service_name: Option<String>,
}

impl TraceSettings {
    pub fn from_env() -> Result<TraceSettings, TracingError> {
        TraceSettings::from_lookup(|name| std::env::var(name).ok())
    }

    /// The settings from any variable source (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<TraceSettings, TracingError> {
        let set = |name: &str| get(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let disabled = set("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let exporter = set("OTEL_TRACES_EXPORTER");
        let no_exporter = match exporter.as_deref() {
            None | Some("otlp") => false,
            Some("none") => true,
            Some(other) => return Err(TracingError::UnsupportedExporter(other.to_owned())),
        };
        let endpoint = set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").or_else(|| set("OTEL_EXPORTER_OTLP_ENDPOINT"));
        let (variable, protocol) = match set("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") {
            Some(p) => ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", Some(p)),
            None => ("OTEL_EXPORTER_OTLP_PROTOCOL", set("OTEL_EXPORTER_OTLP_PROTOCOL")),
        };
        let protocol = match protocol.as_deref() {
            None | Some("http/protobuf") => Protocol::HttpBinary,
            Some("grpc") => Protocol::Grpc,
            Some(other) => return Err(TracingError::UnsupportedProtocol { variable, value: other.to_owned() }),
        };
        let on = !disabled && !no_exporter && endpoint.is_some();
        Ok(TraceSettings {
            protocol: on.then_some(protocol),
            sampler: sampler_from_lookup(set),
            service_name: set("OTEL_SERVICE_NAME"),
        })
    }
}

/// Flushes and stops the exporter when dropped: hold it in `main` (or for
/// the life of `icu demo`) so the last spans are not lost on exit.
#[must_use = "dropping the guard shuts tracing down"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// A guard that owns nothing (tracing off, or set up by someone else).
    pub fn off() -> Telemetry {
        Telemetry { provider: None }
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(e) = provider.shutdown()
        {
            // The subscriber may be gone by now: stderr is what is left.
            eprintln!("{{\"level\":\"WARN\",\"message\":\"flushing traces at exit failed: {e}\"}}");
        }
    }
}

/// Builds the tracer provider the settings ask for, installs it and the W3C
/// propagator globally, and returns it; `None` when tracing is off.
pub(crate) fn install(service: &str, settings: &TraceSettings) -> Result<Option<SdkTracerProvider>, TracingError> {
    let Some(protocol) = settings.protocol else { return Ok(None) };
    if TRACER.get().is_some() {
        // Set up already (tests, or `icu demo` calling twice): one provider per process.
        return Ok(None);
    }
    // The exporters read the endpoint (and headers, timeout, compression)
    // from the standard variables themselves.
    let exporter = match protocol {
        Protocol::Grpc => SpanExporter::builder().with_tonic().build()?,
        _ => SpanExporter::builder().with_http().with_protocol(Protocol::HttpBinary).build()?,
    };
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource(service, settings))
        .with_sampler(settings.sampler.clone())
        .build();
    let _ = SAMPLER.set(settings.sampler.clone());
    let _ = TRACER.set(provider.tracer(SCOPE));
    global::set_tracer_provider(provider.clone());
    global::set_text_map_propagator(TraceContextPropagator::new());
    Ok(Some(provider))
}

/// The service's name and version, then what `OTEL_RESOURCE_ATTRIBUTES`
/// says, then `OTEL_SERVICE_NAME`: later wins, as the specification orders.
fn resource(service: &str, settings: &TraceSettings) -> Resource {
    let detectors: [Box<dyn ResourceDetector>; 2] =
        [Box::new(TelemetryResourceDetector), Box::new(EnvResourceDetector::new())];
    let builder = Resource::builder_empty()
        .with_service_name(service.to_owned())
        .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
        .with_detectors(&detectors);
    match &settings.service_name {
        Some(name) => builder.with_service_name(name.clone()).build(),
        None => builder.build(),
    }
}

impl Telemetry {
    pub(crate) fn new(provider: Option<SdkTracerProvider>) -> Telemetry {
        Telemetry { provider }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Result<TraceSettings, TracingError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        TraceSettings::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn no_endpoint_means_no_tracing() {
        assert_eq!(settings(&[]).unwrap().protocol, None);
        assert_eq!(settings(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]).unwrap().protocol, None);
        assert_eq!(settings(&[("OTEL_EXPORTER_OTLP_ENDPOINT", " ")]).unwrap().protocol, None);
    }

    #[test]
    fn endpoint_and_protocol_choose_the_exporter() {
        let s = settings(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")]).unwrap();
        assert_eq!(s.protocol, Some(Protocol::HttpBinary));
        let s = settings(&[
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://127.0.0.1:4317"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ])
        .unwrap();
        assert_eq!(s.protocol, Some(Protocol::Grpc));
        // The signal's own variable wins over the general one.
        let s = settings(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc"),
        ])
        .unwrap();
        assert_eq!(s.protocol, Some(Protocol::Grpc));
    }

    #[test]
    fn disabled_sdk_or_none_exporter_turn_tracing_off() {
        let endpoint = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318");
        assert_eq!(settings(&[endpoint, ("OTEL_SDK_DISABLED", "TRUE")]).unwrap().protocol, None);
        assert_eq!(settings(&[endpoint, ("OTEL_TRACES_EXPORTER", "none")]).unwrap().protocol, None);
        assert!(settings(&[endpoint, ("OTEL_SDK_DISABLED", "false")]).unwrap().protocol.is_some());
    }

    #[test]
    fn unsupported_values_are_named_in_the_error() {
        let endpoint = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318");
        let e = settings(&[endpoint, ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "OTEL_EXPORTER_OTLP_PROTOCOL=\"http/json\" is not supported; use grpc or http/protobuf"
        );
        let e = settings(&[endpoint, ("OTEL_TRACES_EXPORTER", "zipkin")]).unwrap_err();
        assert!(e.to_string().contains("OTEL_TRACES_EXPORTER=\"zipkin\""));
    }

    #[test]
    fn the_sampler_is_read_as_the_sdk_reads_it() {
        let name = |vars: &[(&str, &str)]| format!("{:?}", settings(vars).unwrap().sampler);
        assert_eq!(name(&[]), "ParentBased(RateLimited { per_second: 10.0 })");
        assert_eq!(name(&[("OTEL_TRACES_SAMPLER", "always_off")]), "AlwaysOff");
        assert_eq!(name(&[("OTEL_TRACES_SAMPLER", "always_on")]), "AlwaysOn");
        assert_eq!(
            name(&[("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"), ("OTEL_TRACES_SAMPLER_ARG", "0.25")]),
            "ParentBased(TraceIdRatioBased(0.25))"
        );
        assert_eq!(name(&[("OTEL_TRACES_SAMPLER", "traceidratio")]), "TraceIdRatioBased(1.0)");
        assert_eq!(name(&[("OTEL_TRACES_SAMPLER", "xray")]), "ParentBased(AlwaysOn)");
    }

    #[test]
    fn service_name_from_the_environment_wins() {
        let s = settings(&[("OTEL_SERVICE_NAME", "ward-7-patients")]).unwrap();
        let named = resource("patient-service", &s);
        assert_eq!(named.get(&"service.name".into()).unwrap().as_str(), "ward-7-patients");
        let default = resource("patient-service", &settings(&[]).unwrap());
        assert_eq!(default.get(&"service.name".into()).unwrap().as_str(), "patient-service");
    }
}
