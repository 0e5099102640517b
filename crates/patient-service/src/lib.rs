//! patient-service: emulated bedside monitors. A ward of patients (or one,
//! as in the original assignment) whose vital signs drift with their
//! condition, published to Kafka as admissions and readings, with a small
//! control API to list patients and change their condition. In a
//! StatefulSet pod it emulates the beds of its ordinal and follows its own
//! Pod's condition annotation.

pub mod config;
pub mod error;
pub mod http;
pub mod metrics;
pub mod physiology;
pub mod pod_watch;
pub mod publisher;
pub mod scheduler;
pub mod ward;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DurationRound, TimeDelta, Utc};
use prometheus_client::registry::Registry;
use telemetry::Readiness;
use telemetry::http::HttpMetrics;
use tokio::net::TcpListener;
use tokio::sync::watch;
use vitals::{Admission, AdmissionMessage};

pub use config::{Config, Mode};

use crate::metrics::Metrics;
use crate::pod_watch::PodWatch;
use crate::publisher::{PublishError, Publisher, PublisherSettings};
use crate::scheduler::Emulator;
use crate::ward::Ward;

/// How long shutdown waits for the broker to acknowledge what is queued.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(10);
/// How often readiness (a broker answers) is checked and drops are reported.
const PROBE_EVERY: Duration = Duration::from_secs(1);

pub struct Service {
    config: Config,
    ward: Arc<Ward>,
    publisher: Arc<Publisher>,
    metrics: Metrics,
    http_metrics: HttpMetrics,
    registry: Arc<Registry>,
    readiness: Readiness,
    listener: TcpListener,
    pod_watch: Option<PodWatch>,
}

impl Service {
    /// Builds the ward and the producer and binds the control API. The broker
    /// need not be up: readings queue until it is. When the pod is to be
    /// watched, the Kubernetes client comes from the usual places (in-cluster
    /// service account, else kubeconfig).
    pub async fn start(config: Config) -> anyhow::Result<Service> {
        Service::start_with_kube(config, None).await
    }

    /// As [`Service::start`], with this Kubernetes client for the pod watch
    /// (tests give one backed by a mocked API server).
    #[tracing::instrument(skip_all)]
    pub async fn start_with_kube(config: Config, kube: Option<kube::Client>) -> anyhow::Result<Service> {
        let mode = config.mode()?;
        let own_pod = config.watched_pod()?;
        let admitted_at = Utc::now().duration_trunc(TimeDelta::milliseconds(1))?;
        let ward = Arc::new(Ward::new(&mode, config.seed, config.condition_mix.as_ref(), admitted_at));
        let pod_watch = match own_pod {
            None => None,
            Some(pod) => {
                let client = match kube {
                    Some(client) => client,
                    None => kube::Client::try_default().await.context(
                        "WATCH_POD is on but no Kubernetes API is configured (no service-account token or kubeconfig); \
                         mount the token or set WATCH_POD=false",
                    )?,
                };
                Some(PodWatch::new(client, pod, ward.clone()))
            }
        };
        let mut registry = Registry::default();
        telemetry::http::register_build_info(&mut registry, "patient-service", env!("CARGO_PKG_VERSION"));
        let http_metrics = HttpMetrics::register(&mut registry);
        let metrics = Metrics::register(&mut registry);
        metrics.patients.set(ward.len() as i64);
        metrics.start_at_zero(&[&config.kafka_topic, &config.kafka_patients_topic]);
        let settings = PublisherSettings {
            bootstrap_servers: &config.kafka_bootstrap_servers,
            queue_max_messages: config.kafka_queue_max_messages,
        };
        let publisher = Arc::new(Publisher::new(&settings, metrics.clone()).context("creating the Kafka producer")?);
        let address = SocketAddr::new(config.host, config.port);
        let listener =
            TcpListener::bind(address).await.with_context(|| format!("binding the control API to {address}"))?;
        tracing::info!(
            patients = ward.len(),
            interval_seconds = config.metrics_interval.as_secs_f64(),
            brokers = %config.kafka_bootstrap_servers,
            topic = %config.kafka_topic,
            address = %listener.local_addr()?,
            pod = config.pod_name.as_deref().unwrap_or(""),
            watching_pod = pod_watch.is_some(),
            "patient-service started"
        );
        Ok(Service {
            config,
            ward,
            publisher,
            metrics,
            http_metrics,
            registry: Arc::new(registry),
            readiness: Readiness::default(),
            listener,
            pod_watch,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or_else(|_| SocketAddr::new(self.config.host, self.config.port))
    }

    /// Admits the patients, then publishes readings until `shutdown`
    /// resolves; then flushes what is queued and stops the API.
    #[tracing::instrument(skip_all)]
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let (stop, stopped) = watch::channel(false);
        let wait = |mut rx: watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };

        let app = http::router(&self.config.api_prefix, self.ward.clone())
            .merge(telemetry::ops_router(self.registry.clone(), self.readiness.clone()));
        let app = telemetry::http::instrument(app, self.http_metrics.clone());
        let server =
            tokio::spawn(axum::serve(self.listener, app).with_graceful_shutdown(wait(stopped.clone())).into_future());
        let probe = tokio::spawn(probe(
            self.publisher.clone(),
            self.readiness.clone(),
            self.config.kafka_topic.clone(),
            wait(stopped.clone()),
        ));
        let pod_watch = self.pod_watch.map(|watch| tokio::spawn(watch.run(wait(stopped))));

        tokio::pin!(shutdown);
        // `shutdown` may already have resolved here; a completed future must
        // not be polled again, so the emulator only runs when it has not.
        let admitted = tokio::select! {
            admitted = admit(&self.ward, &self.publisher, &self.config.kafka_patients_topic) => admitted.map(|()| true),
            () = &mut shutdown => Ok(false),
        };
        let outcome = match admitted {
            Ok(false) => Ok(()),
            Ok(true) => {
                let emulator = Emulator {
                    ward: self.ward.clone(),
                    publisher: self.publisher.clone(),
                    metrics: self.metrics.clone(),
                    interval: self.config.metrics_interval,
                    vitals_topic: self.config.kafka_topic.clone(),
                };
                let generated = emulator.run(shutdown).await;
                tracing::info!(readings = generated, "stopping: flushing queued messages");
                Ok(())
            }
            Err(e) => Err(e),
        };

        let publisher = self.publisher.clone();
        let left = tokio::task::spawn_blocking(move || {
            let _ = publisher.flush(FLUSH_TIMEOUT);
            publisher.report();
            publisher.in_flight()
        })
        .await?;
        if left > 0 {
            tracing::error!(messages = left, "the broker did not acknowledge these messages before shutdown");
        }
        let _ = stop.send(true);
        server.await??;
        probe.await?;
        if let Some(watch) = pod_watch {
            watch.await?;
        }
        outcome
    }
}

/// Publishes one admission per patient and waits (briefly) until the broker
/// has them, so a consumer normally sees a patient before their readings.
/// Admissions are never dropped: a full queue is waited out.
#[tracing::instrument(skip_all)]
async fn admit(ward: &Ward, publisher: &Arc<Publisher>, topic: &str) -> anyhow::Result<()> {
    for patient in ward.patients() {
        let admission = Admission {
            patient: patient.uuid,
            name: patient.name.clone(),
            bed: patient.bed.clone(),
            admitted_at: patient.admitted_at,
        };
        let payload = AdmissionMessage::from(&admission).encode();
        loop {
            match publisher.send(topic, patient.uuid, &payload) {
                Ok(()) => break,
                Err(PublishError::QueueFull) => tokio::time::sleep(Duration::from_millis(20)).await,
                Err(e) => return Err(e).context("publishing an admission"),
            }
        }
    }
    let flushing = publisher.clone();
    let flushed = tokio::task::spawn_blocking(move || flushing.flush(Duration::from_secs(5)).is_ok()).await?;
    if flushed {
        tracing::info!(patients = ward.len(), topic, "patients admitted");
    } else {
        tracing::warn!(
            patients = ward.len(),
            topic,
            "broker not acknowledging yet; admissions and readings are queued"
        );
    }
    Ok(())
}

/// Readiness follows the broker: ready while a broker answers metadata requests.
#[tracing::instrument(skip_all)]
async fn probe(publisher: Arc<Publisher>, readiness: Readiness, topic: String, stop: impl Future<Output = ()>) {
    tokio::pin!(stop);
    let mut every = tokio::time::interval(PROBE_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = &mut stop => return,
            _ = every.tick() => {}
        }
        let check = publisher.clone();
        let topic = topic.clone();
        let reachable = tokio::task::spawn_blocking(move || {
            let reachable = check.broker_reachable(&topic, Duration::from_secs(2));
            check.report();
            reachable
        })
        .await
        .unwrap_or(false);
        if reachable != readiness.is_ready() {
            if reachable {
                tracing::info!("broker reachable: ready");
            } else {
                tracing::warn!("broker unreachable: not ready; readings are queued up to the bound");
            }
        }
        readiness.set(reachable);
    }
}
