use clap::Parser as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = patient_service::Config::parse();
    // Held to the end of main: dropping it flushes the spans not yet exported.
    let _telemetry = telemetry::init("patient-service", config.debug)?;
    telemetry::abort_on_panic();
    let service = patient_service::Service::start(config).await?;
    service.run_until(telemetry::shutdown_signal()).await
}
