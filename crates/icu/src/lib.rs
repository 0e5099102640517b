//! `icu`: the project's command line. `icu demo` runs the whole ward on one
//! machine: an embedded Kafka-protocol broker and the three real services,
//! in one process, against the PostgreSQL named by `DATABASE_URL`.

pub mod broker;
pub mod demo;

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
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Demo(args) => {
            telemetry::init_logging(args.debug);
            demo::run(args, telemetry::shutdown_signal()).await
        }
    }
}
