use clap::Parser as _;

// Every request allocates and frees its page of rows and its JSON body; a
// profile under load showed glibc malloc/free as the largest library cost.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = monitor_service::Config::parse();
    // Held to the end of main: dropping it flushes the spans not yet exported.
    let _telemetry = telemetry::init("monitor-service", config.debug)?;
    telemetry::abort_on_panic();
    let service = monitor_service::Service::start(config).await?;
    service.run_until(telemetry::shutdown_signal()).await
}
