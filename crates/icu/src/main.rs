use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = icu::Cli::parse();
    telemetry::abort_on_panic();
    icu::run(cli).await
}
