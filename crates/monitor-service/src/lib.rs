//! monitor-service: the ward's REST API over what the data-service stored.
//! Every patient with their latest reading, NEWS2 and staleness; each
//! patient's readings newest first with cursor paging; the original
//! assignment's `/patient/{uuid}/metrics`. The contract is the committed
//! `api/openapi.yaml`, served at `/openapi.json` with Swagger UI at `/docs`.

pub mod alerts;
pub mod announcements;
pub mod api;
pub mod audit;
pub mod auth;
pub mod config;
pub mod docs;
pub mod error;
pub mod fhir;
pub mod openapi;
pub mod page_cache;
pub mod pages;
pub mod paging;
pub mod stream;
pub mod views;
pub mod ward_gauges;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::http::{Method, StatusCode};
use axum::middleware;
use prometheus_client::registry::Registry;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use telemetry::Readiness;
use telemetry::http::HttpMetrics;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower_http::cors::{AllowOrigin, CorsLayer};

pub use config::{AuthMode, Config, CorsOrigins};

use crate::alerts::{AlertMetrics, Alerts};
use crate::api::AppState;
use crate::auth::Authenticator;
use crate::error::ApiError;
use crate::page_cache::{CacheMetrics, PageCache};
use crate::stream::sse::StreamLimits;
use crate::stream::{Hub, StreamMetrics};
use crate::ward_gauges::WardGauges;

/// How often readiness pings the database, and how long a ping may take.
const PING_EVERY: Duration = Duration::from_secs(2);
const PING_TIMEOUT: Duration = Duration::from_secs(1);

pub struct Service {
    config: Config,
    pool: PgPool,
    app: Router,
    readiness: Readiness,
    listener: TcpListener,
    pages: Arc<PageCache>,
    hub: Arc<Hub>,
    alerts: Arc<Alerts>,
}

impl Service {
    /// Connects to the database and applies the migrations (so the API can
    /// start first on an empty database), then binds. A database that goes
    /// away later shows in `/readyz` and as 503 problems, not as a crash.
    #[tracing::instrument(skip_all)]
    pub async fn start(config: Config) -> anyhow::Result<Service> {
        let pool = PgPoolOptions::new()
            .max_connections(config.db_pool_size)
            .acquire_timeout(Duration::from_secs(2))
            .connect_with(config.database_url.connect_options())
            .await
            .with_context(|| format!("connecting to {}", config.database_url))?;
        // Safe alongside the data-service (sqlx's migration lock); lets the API
        // start first on an empty database.
        store::migrate(&pool).await.context("migrating the database")?;
        let mut registry = Registry::default();
        telemetry::http::register_build_info(&mut registry, "monitor-service", env!("CARGO_PKG_VERSION"));
        let http_metrics = HttpMetrics::register(&mut registry);
        let pages = Arc::new(PageCache::new(
            config.page_cache_mb as usize * 1024 * 1024,
            config.page_cache_max_age,
            CacheMetrics::register(&mut registry),
        ));
        let ward = config.ward_gauges.then(|| {
            WardGauges::register(
                &mut registry,
                pool.clone(),
                config.stale_after(),
                config.ward_gauges_max_patients as usize,
            )
        });
        let hub = Arc::new(Hub::new(
            config.stream_replay as usize,
            config.stream_client_buffer as usize,
            StreamMetrics::register(&mut registry),
        ));
        let alerts = Arc::new(Alerts::new(AlertMetrics::register(&mut registry)));
        let authenticator = Arc::new(Authenticator::from_config(&config)?);
        let readiness = Readiness::default();
        readiness.set(true);
        let spec = openapi::document(&config.api_prefix)?;
        let state = Arc::new(AppState {
            pool: pool.clone(),
            stale_after: config.stale_after(),
            pages: pages.clone(),
            hub: hub.clone(),
            alerts: alerts.clone(),
            stream: StreamLimits {
                heartbeat: config.stream_heartbeat,
                max_clients: config.stream_max_clients as usize,
            },
            stream_clients: Arc::default(),
        });
        let ops = telemetry::ops_router(Arc::new(registry), readiness.clone());
        let ops = match ward {
            Some(ward) => ops.layer(middleware::from_fn_with_state(ward, ward_gauges::refresh_before_scrape)),
            None => ops,
        };
        let app = router(&config, state, authenticator, spec, http_metrics, ops);
        let address = SocketAddr::new(config.host, config.port);
        let listener = TcpListener::bind(address).await.with_context(|| format!("binding {address}"))?;
        tracing::info!(
            database = %config.database_url,
            address = %listener.local_addr()?,
            api = %format!("{}/patients", config.api_prefix),
            auth = ?config.auth_mode,
            "monitor-service started"
        );
        Ok(Service { config, pool, app, readiness, listener, pages, hub, alerts })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or_else(|_| SocketAddr::new(self.config.host, self.config.port))
    }

    #[tracing::instrument(skip_all)]
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let (stop, stopped) = watch::channel(false);
        let probe = tokio::spawn(probe(self.pool.clone(), self.readiness.clone(), stopped.clone()));
        let heartbeat = self.config.page_cache_heartbeat;
        // The page cache and the live stream hear the same announcements.
        let (feed, feeding) = stream::Feed::start(self.pool.clone(), self.hub.clone(), self.alerts);
        let announcements =
            tokio::spawn(announcements::follow(self.pool.clone(), self.pages, feed, heartbeat, stopped));
        let hub = self.hub;
        // Streams never end by themselves: they are ended when shutdown
        // begins, or graceful shutdown would wait for them forever.
        let shutdown = async move {
            shutdown.await;
            hub.close();
        };
        axum::serve(self.listener, self.app).with_graceful_shutdown(shutdown).await?;
        let _ = stop.send(true);
        probe.await?;
        announcements.await?;
        feeding.await?;
        self.pool.close().await;
        tracing::info!("monitor-service stopped");
        Ok(())
    }
}

/// The whole HTTP surface: API, contract and Swagger UI, probes and metrics,
/// each request in a span and measured; every error as problem+json; CORS as
/// configured. Every API route needs an authorised caller; the probes,
/// `/metrics`, the contract and Swagger UI are open (so `/metrics` must not
/// be exposed outside the cluster).
fn router(
    config: &Config,
    state: Arc<AppState>,
    authenticator: Arc<Authenticator>,
    spec: serde_json::Value,
    http_metrics: HttpMetrics,
    ops: Router,
) -> Router {
    let mut api = Router::new();
    for (_, path, handler) in api::routes(&config.api_prefix) {
        api = api.route(&path, handler);
    }
    let app = api
        .route_layer(middleware::from_fn_with_state(authenticator, auth::require))
        .with_state(state)
        .merge(pages::router(config))
        .merge(docs::router(spec))
        .merge(ops)
        .fallback(|| async {
            ApiError::Rejected {
                status: StatusCode::NOT_FOUND,
                detail: "no such route; see /openapi.json or /docs".into(),
            }
        });
    let app =
        telemetry::http::instrument(app, http_metrics).layer(middleware::map_response(error::problem_for_plain_errors));
    match cors(&config.cors_origins) {
        Some(layer) => app.layer(layer),
        None => app,
    }
}

fn cors(origins: &CorsOrigins) -> Option<CorsLayer> {
    let allow = match origins {
        CorsOrigins::None => return None,
        CorsOrigins::Any => AllowOrigin::any(),
        CorsOrigins::List(list) => AllowOrigin::list(list.clone()),
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::HEAD, Method::OPTIONS])
            .allow_headers([axum::http::header::AUTHORIZATION]),
    )
}

/// Ready while the database answers a ping within a second.
#[tracing::instrument(skip_all)]
async fn probe(pool: PgPool, readiness: Readiness, mut stop: watch::Receiver<bool>) {
    let mut every = tokio::time::interval(PING_EVERY);
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = every.tick() => {}
        }
        let ping = tokio::time::timeout(PING_TIMEOUT, sqlx::query("SELECT 1").execute(&pool)).await;
        let ok = matches!(ping, Ok(Ok(_)));
        if ok != readiness.is_ready() {
            if ok {
                tracing::info!("database answers: ready");
            } else {
                tracing::warn!("database does not answer: not ready");
            }
        }
        readiness.set(ok);
    }
}
