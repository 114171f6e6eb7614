//! `orderflow-worker`: runs OrderFlow's background jobs until SIGTERM/SIGINT.

use orderflow_shared::{settings::Settings, shutdown, telemetry};
use orderflow_worker::Worker;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::from_env()?;
    let telemetry = telemetry::init(
        settings.log_format,
        "info,orderflow_worker=debug,apalis=info",
        "orderflow-worker",
    )?;
    let ran = Worker::build(settings)
        .await?
        .run_until(shutdown::signal())
        .await;
    telemetry.shutdown();
    ran
}
