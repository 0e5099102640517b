use clap::Parser as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = data_service::Config::parse();
    // Held to the end of main: dropping it flushes the spans not yet exported.
    let _telemetry = telemetry::init("data-service", config.debug)?;
    telemetry::abort_on_panic();
    let service = data_service::Service::start(config).await?;
    service.run_until(telemetry::shutdown_signal()).await
}
