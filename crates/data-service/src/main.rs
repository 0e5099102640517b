use clap::Parser as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = data_service::Config::parse();
    telemetry::init_logging(config.debug);
    telemetry::abort_on_panic();
    let service = data_service::Service::start(config).await?;
    service.run_until(telemetry::shutdown_signal()).await
}
