use clap::Parser as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = monitor_service::Config::parse();
    telemetry::init_logging(config.debug);
    let service = monitor_service::Service::start(config).await?;
    service.run_until(telemetry::shutdown_signal()).await
}
