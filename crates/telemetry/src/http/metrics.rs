//! HTTP RED metrics (rate, errors, duration) by route, and the build's
//! identity, in every service's registry.

use std::time::Instant;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::exponential_buckets;
use prometheus_client::registry::Registry;

use super::labels::{StatusLabel, method_label, route_label};
use crate::exemplars::{TraceExemplar, TracedHistogram};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: &'static str,
    pub route: String,
    pub status: StatusLabel,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: &'static str,
    pub route: String,
}

/// `icu_http_requests_total{method,route,status}` and
/// `icu_http_request_duration_seconds{method,route}`, whose buckets carry
/// the trace id of a sampled request as an exemplar.
#[derive(Debug, Clone)]
pub struct HttpMetrics {
    pub requests: Family<RequestLabels, Counter>,
    pub duration: Family<RouteLabels, TracedHistogram>,
}

impl HttpMetrics {
    pub fn register(registry: &mut Registry) -> HttpMetrics {
        let m = HttpMetrics {
            requests: Family::default(),
            // 0.5 ms to about 4 s.
            duration: Family::new_with_constructor(|| TracedHistogram::new(exponential_buckets(0.0005, 2.0, 14))),
        };
        registry.register("icu_http_requests", "HTTP requests by method, route and status", m.requests.clone());
        registry.register(
            "icu_http_request_duration_seconds",
            "HTTP request latency by method and route",
            m.duration.clone(),
        );
        m
    }
}

pub(super) async fn track(State(metrics): State<HttpMetrics>, request: Request, next: Next) -> Response {
    let method = method_label(request.method());
    let route = route_label(&request).to_owned();
    let started = Instant::now();
    // Inside the request's span (see `instrument`): its trace, if sampled.
    let exemplar = TraceExemplar::current();
    let response = next.run(request).await;
    let status = StatusLabel::from(response.status());
    metrics.duration.get_or_create(&RouteLabels { method, route: route.clone() }).observe(
        started.elapsed().as_secs_f64(),
        exemplar,
        None,
    );
    metrics.requests.get_or_create(&RequestLabels { method, route, status }).inc();
    response
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    service: &'static str,
    version: &'static str,
}

/// `icu_build_info{service,version} 1`: which build answers, for joins in
/// queries and for spotting a half-finished rollout.
pub fn register_build_info(registry: &mut Registry, service: &'static str, version: &'static str) {
    let info = Family::<BuildLabels, Gauge>::default();
    info.get_or_create(&BuildLabels { service, version }).set(1);
    registry.register("icu_build_info", "The running build: service and version (always 1)", info);
}
