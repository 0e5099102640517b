//! HTTP metrics per route (RED: rate, errors, duration).

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabel {
    pub method: String,
    /// The route template (`/api/v1/patients/{uuid}`), never the raw path:
    /// one series per route, not per patient.
    pub route: String,
    pub status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteOnly {
    pub route: String,
}

#[derive(Debug, Clone)]
pub struct HttpMetrics {
    pub requests: Family<RouteLabel, Counter>,
    pub duration: Family<RouteOnly, Histogram>,
}

impl HttpMetrics {
    pub fn register(registry: &mut Registry) -> HttpMetrics {
        let m = HttpMetrics {
            requests: Family::default(),
            duration: Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.0005, 2.0, 14))),
        };
        registry.register("icu_http_requests", "HTTP requests by route and status", m.requests.clone());
        registry.register("icu_http_request_duration_seconds", "HTTP request latency by route", m.duration.clone());
        m
    }
}

pub async fn track(State(metrics): State<HttpMetrics>, request: Request, next: Next) -> Response {
    let route =
        request.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    metrics.duration.get_or_create(&RouteOnly { route: route.clone() }).observe(started.elapsed().as_secs_f64());
    metrics.requests.get_or_create(&RouteLabel { method, route, status: response.status().as_u16() }).inc();
    response
}
