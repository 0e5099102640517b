//! `icu demo`: the whole ward in one process. The services are the real
//! ones, started through their libraries with the same configuration types
//! their binaries parse, so the demo runs the production code paths.

use std::future::Future;
use std::net::SocketAddr;

use clap::Parser as _;
use store::DatabaseUrl;
use tokio::sync::watch;
use vitals::wire::{PATIENTS_TOPIC, VITALS_TOPIC};

use crate::broker::EmbeddedBroker;

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// PostgreSQL to store the ward in (`make demo` starts a throwaway one).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, value_parser = store::DatabaseUrlParser)]
    pub database_url: DatabaseUrl,
    /// How many patients the emulator admits.
    #[arg(long, env = "PATIENTS", default_value_t = 12)]
    pub patients: u32,
    /// Seconds between two readings of one patient.
    #[arg(long, env = "METRICS_INTERVAL", default_value = "2")]
    pub interval: String,
    /// Seed of the emulator's physiology: the same seed, the same ward.
    #[arg(long, env = "SEED", default_value_t = 42)]
    pub seed: u64,
    /// Port of the emulator's control API.
    #[arg(long, default_value_t = 8000)]
    pub patient_port: u16,
    /// Port of the data-service's probes and metrics.
    #[arg(long, default_value_t = 8001)]
    pub data_port: u16,
    /// Port of the ward's REST API.
    #[arg(long, default_value_t = 8002)]
    pub api_port: u16,
    /// Access control of the ward's API: `none` (the demo's default, a ward
    /// of emulated patients) or `jwt`, trusting the OpenID provider that
    /// AUTH_ISSUER, AUTH_JWKS_URL, AUTH_AUDIENCE and AUTH_CLIENT_ID (and the
    /// other AUTH_* of monitor-service) name in the environment.
    #[arg(long, value_enum, default_value_t = monitor_service::AuthMode::None)]
    pub auth_mode: monitor_service::AuthMode,
    #[arg(long, env = "DEBUG")]
    pub debug: bool,
}

/// The addresses of a running demo.
#[derive(Debug, Clone)]
pub struct Ward {
    pub bootstrap_servers: String,
    pub patient_service: SocketAddr,
    pub data_service: SocketAddr,
    pub monitor_service: SocketAddr,
}

/// Runs the ward until `shutdown` resolves. `on_ready` sees the addresses once
/// everything listens (the tests use it to find the ports).
#[tracing::instrument(skip_all)]
pub async fn run_with(
    args: DemoArgs,
    shutdown: impl Future<Output = ()>,
    on_ready: impl FnOnce(&Ward),
) -> anyhow::Result<()> {
    let broker = EmbeddedBroker::start(&[(VITALS_TOPIC, 6), (PATIENTS_TOPIC, 3)])?;
    let bootstrap = broker.bootstrap_servers();
    let interval = args.interval.as_str();

    let data = data_service::Service::start(data_service::Config::try_parse_from([
        "data-service",
        "--kafka-bootstrap-servers",
        &bootstrap,
        "--database-url",
        args.database_url.expose(),
        "--port",
        &args.data_port.to_string(),
        // The embedded (mock) broker holds a fetch that finds nothing for
        // the whole wait instead of answering when a reading arrives, as a
        // real broker does: a short wait keeps the screen as fresh as one.
        "--kafka-fetch-wait-max-ms",
        "10",
    ])?)
    .await?;
    let monitor = monitor_service::Service::start(monitor_service::Config::try_parse_from([
        "monitor-service",
        "--database-url",
        args.database_url.expose(),
        "--port",
        &args.api_port.to_string(),
        "--metrics-interval",
        interval,
        // A demo ward of emulated patients has no OpenID provider to ask,
        // unless one is named: then monitor-service reads it from AUTH_*.
        "--auth-mode",
        match args.auth_mode {
            monitor_service::AuthMode::None => "none",
            monitor_service::AuthMode::Jwt => "jwt",
        },
    ])?)
    .await?;
    let patients = patient_service::Service::start(patient_service::Config::try_parse_from([
        "patient-service",
        "--kafka-bootstrap-servers",
        &bootstrap,
        "--patients",
        &args.patients.to_string(),
        "--seed",
        &args.seed.to_string(),
        "--metrics-interval",
        interval,
        "--port",
        &args.patient_port.to_string(),
    ])?)
    .await?;

    let ward = Ward {
        bootstrap_servers: bootstrap,
        patient_service: patients.local_addr(),
        data_service: data.local_addr(),
        monitor_service: monitor.local_addr(),
    };
    let access = match args.auth_mode {
        monitor_service::AuthMode::None => "without access control (AUTH_MODE=none: a demo of emulated patients)",
        monitor_service::AuthMode::Jwt => "with access control (AUTH_MODE=jwt: bearer tokens of the AUTH_ISSUER)",
    };
    tracing::info!(
        broker = %ward.bootstrap_servers,
        ward_api = %format!("http://{}/api/v1/patients", ward.monitor_service),
        docs = %format!("http://{}/docs", ward.monitor_service),
        emulator = %format!("http://{}/api/v1/patients", ward.patient_service),
        access,
        "ward running; Ctrl-C stops it"
    );
    on_ready(&ward);

    // The emulator stops first and flushes, so its last readings still reach
    // the data-service, which then finishes its batch and commits.
    let (stop_emulator, emulator_rx) = watch::channel(false);
    let (stop_rest, rest_rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let patients = tokio::spawn(patients.run_until(stopped(emulator_rx)));
    let data = tokio::spawn(data.run_until(stopped(rest_rx.clone())));
    let monitor = tokio::spawn(monitor.run_until(stopped(rest_rx)));

    shutdown.await;
    let _ = stop_emulator.send(true);
    let emulator_ok = report("patient-service", patients.await);
    let _ = stop_rest.send(true);
    let data_ok = report("data-service", data.await);
    let monitor_ok = report("monitor-service", monitor.await);
    // The broker lives until every client is gone.
    drop(broker);
    anyhow::ensure!(emulator_ok && data_ok && monitor_ok, "a service of the ward failed (see the log)");
    Ok(())
}

/// Logs how a service ended; `false` if it failed. A panic is passed on: it
/// ends the process (telemetry::panic), never a stop like any other.
#[tracing::instrument(skip_all)]
fn report(service: &str, outcome: Result<anyhow::Result<()>, tokio::task::JoinError>) -> bool {
    match outcome {
        Ok(Ok(())) => {
            tracing::info!(service, "stopped");
            true
        }
        Ok(Err(e)) => {
            tracing::error!(service, error = %e, "stopped with an error");
            false
        }
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => {
            tracing::error!(service, error = %e, "task cancelled");
            false
        }
    }
}

pub async fn run(args: DemoArgs, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let (patients, interval) = (args.patients, args.interval.clone());
    run_with(args, shutdown, |ward| eprint!("{}", banner(ward, patients, &interval))).await
}

/// What a person running the demo needs first: where to look, how to stop.
/// Links name `localhost`, which a browser can open (the services listen on
/// every address, 0.0.0.0, which it cannot).
pub fn banner(ward: &Ward, patients: u32, interval: &str) -> String {
    let at = |addr: &SocketAddr, path: &str| format!("http://localhost:{}{path}", addr.port());
    let (monitor, emulator) = (&ward.monitor_service, &ward.patient_service);
    format!(
        "\n  icu-monitor: a ward of {patients} patients, a reading every {interval} s each\n\n\
         \x20   Ward screen    {}\n\
         \x20   Ward API       {}\n\
         \x20   API docs       {}\n\
         \x20   Live stream    {}\n\
         \x20   Emulator API   {}  (PUT …/{{uuid}}/condition, …/{{uuid}}/monitor)\n\n\
         \x20 Ctrl-C stops the ward.\n\n",
        at(monitor, "/"),
        at(monitor, "/api/v1/patients"),
        at(monitor, "/docs"),
        at(monitor, "/api/v1/stream"),
        at(emulator, "/api/v1/patients"),
    )
}
