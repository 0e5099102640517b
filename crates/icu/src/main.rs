use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = icu::Cli::parse();
    icu::run(cli).await
}
