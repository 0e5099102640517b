//! `icu`: the project's command line. `icu demo` runs the whole ward on one
//! machine: an embedded Kafka-protocol broker and the three real services,
//! in one process, against the PostgreSQL named by `DATABASE_URL`. `icu ward`
//! shows and scales the ward where it runs in Kubernetes.

pub mod broker;
pub mod demo;
pub mod ward;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "icu", version, about = "icu-monitor: an emulated intensive-care ward")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the whole ward in this process: broker, emulator, data-service, API.
    Demo(demo::DemoArgs),
    /// Run only the embedded Kafka-protocol broker, with the ward's topics, for
    /// services started separately; prints its bootstrap address.
    Broker(BrokerArgs),
    /// The ward in Kubernetes: `status` (beds, conditions, latest vitals) and `scale N`.
    Ward(ward::WardArgs),
}

#[derive(Debug, clap::Args)]
pub struct BrokerArgs {
    /// Partitions of the readings topic.
    #[arg(long, default_value_t = 6)]
    pub vitals_partitions: i32,
    /// Partitions of the admissions topic.
    #[arg(long, default_value_t = 3)]
    pub patients_partitions: i32,
}

#[tracing::instrument(skip_all)]
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Demo(args) => {
            // One process, one tracer: the demo's spans share the resource
            // `icu-demo` (OTEL_SERVICE_NAME overrides); span names tell the services apart.
            let _telemetry = telemetry::init("icu-demo", args.debug)?;
            demo::run(args, telemetry::shutdown_signal()).await
        }
        Command::Broker(args) => {
            telemetry::init_logging(false);
            let topics = [
                (vitals::wire::VITALS_TOPIC, args.vitals_partitions),
                (vitals::wire::PATIENTS_TOPIC, args.patients_partitions),
            ];
            let broker = broker::EmbeddedBroker::start(&topics)?;
            // The one line a script or a person needs, on stdout by itself.
            println!("{}", broker.bootstrap_servers());
            tracing::info!(bootstrap = %broker.bootstrap_servers(), "broker running; Ctrl-C stops it");
            telemetry::shutdown_signal().await;
            Ok(())
        }
        // No log subscriber: stdout is the table, errors reach stderr through `main`.
        Command::Ward(args) => ward::run(args).await,
    }
}
