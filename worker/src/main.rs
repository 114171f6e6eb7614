//! `orderflow-worker`: runs OrderFlow's background jobs until SIGTERM/SIGINT.

use orderflow_shared::{settings::WorkerSettings, shutdown, telemetry};
use orderflow_worker::Worker;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = WorkerSettings::from_env()?;
    let telemetry = telemetry::init(
        settings.core.log_format,
        "info,orderflow_worker=debug,apalis=info",
        "orderflow-worker",
    )?;
    for warning in &settings.core.warnings {
        tracing::warn!("{warning}");
    }
    let ran = Worker::build(settings)
        .await?
        .run_until(shutdown::signal())
        .await;
    telemetry.shutdown();
    ran
}
