//! `orderflow-worker`: consumes OrderFlow's background jobs (grown in the jobs issue).

use orderflow_shared::{settings::Settings, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::from_env()?;
    telemetry::init(settings.log_format, "info,orderflow_worker=debug");
    tracing::info!("orderflow-worker has no jobs to run yet; exiting");
    Ok(())
}
