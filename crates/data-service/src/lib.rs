//! data-service: consumes `icu.patients` and `icu.vitals` as one consumer
//! group and lands every message in PostgreSQL exactly once: stored, parked
//! until its patient is known, or quarantined with the reason. Offsets are
//! committed only after the batch's transaction has committed.

pub mod config;
pub mod consumer;
pub mod health;
pub mod maintenance;
pub mod metrics;
pub mod traces;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use prometheus_client::registry::Registry;
use rdkafka::consumer::Consumer as _;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use telemetry::Readiness;
use telemetry::http::HttpMetrics;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use config::Config;

use crate::consumer::{Ingest, IngestConsumer};
use crate::health::Health;
use crate::maintenance::Maintenance;
use crate::metrics::Metrics;

pub struct Service {
    config: Config,
    pool: PgPool,
    consumer: Arc<IngestConsumer>,
    metrics: Metrics,
    http_metrics: HttpMetrics,
    registry: Arc<Registry>,
    readiness: Readiness,
    listener: TcpListener,
}

impl Service {
    /// Connects to PostgreSQL (running the migrations, safe with many
    /// replicas starting at once), joins the consumer group, binds the probes.
    #[tracing::instrument(skip_all)]
    pub async fn start(config: Config) -> anyhow::Result<Service> {
        let pool = PgPoolOptions::new()
            .max_connections(config.db_pool_size)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(config.database_url.connect_options())
            .await
            .with_context(|| format!("connecting to {}", config.database_url))?;
        store::migrate(&pool).await.context("migrating the database")?;
        let consumer = Arc::new(consumer::create_consumer(&config).context("creating the Kafka consumer")?);
        let mut registry = Registry::default();
        telemetry::http::register_build_info(&mut registry, "data-service", env!("CARGO_PKG_VERSION"));
        let http_metrics = HttpMetrics::register(&mut registry);
        let metrics = Metrics::register(&mut registry);
        let address = SocketAddr::new(config.host, config.port);
        let listener = TcpListener::bind(address).await.with_context(|| format!("binding {address}"))?;
        let readiness = Readiness::default();
        tracing::info!(
            brokers = %config.kafka_bootstrap_servers,
            topics = %format!("{},{}", config.kafka_topic, config.kafka_patients_topic),
            group = %config.kafka_group_id,
            database = %config.database_url,
            address = %listener.local_addr()?,
            "data-service started"
        );
        Ok(Service { config, pool, consumer, metrics, http_metrics, registry: Arc::new(registry), readiness, listener })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or_else(|_| SocketAddr::new(self.config.host, self.config.port))
    }

    /// Lands batches until `shutdown` resolves; then lands and commits the
    /// batch in hand and leaves the group.
    #[tracing::instrument(skip_all)]
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let (stop, stopped) = watch::channel(false);
        let (stop_rest, rest_stopped) = watch::channel(false);
        let wait = |mut rx: watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        let app = telemetry::http::instrument(
            telemetry::ops_router(self.registry.clone(), self.readiness.clone()),
            self.http_metrics.clone(),
        );
        let health = Health::new(self.readiness.clone());
        let server = tokio::spawn(
            axum::serve(self.listener, app).with_graceful_shutdown(wait(rest_stopped.clone())).into_future(),
        );
        let maintenance = Maintenance {
            consumer: self.consumer.clone(),
            pool: self.pool.clone(),
            metrics: self.metrics.clone(),
            health: health.clone(),
            every: Duration::from_secs(self.config.sweep_interval),
            topics: vec![self.config.kafka_topic.clone(), self.config.kafka_patients_topic.clone()],
            vitals_topic: self.config.kafka_topic.clone(),
            group: self.config.kafka_group_id.clone(),
        };
        let maintenance = tokio::spawn(maintenance.run(wait(rest_stopped)));
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop.send(true);
        });

        let ingest = Ingest {
            group: self.config.kafka_group_id.clone(),
            consumer: self.consumer.clone(),
            pool: self.pool.clone(),
            topics: self.config.topics(),
            metrics: self.metrics.clone(),
            health,
            max_messages: self.config.batch_max_messages as usize,
            max_wait: self.config.batch_max_wait(),
        };
        ingest.run(stopped).await;

        let _ = stop_rest.send(true);
        maintenance.await?;
        server.await??;
        // Leaving the group now hands the partitions over at once, instead of
        // after the session timeout.
        self.consumer.unsubscribe();
        drop(self.consumer);
        self.pool.close().await;
        tracing::info!("data-service stopped");
        Ok(())
    }
}
