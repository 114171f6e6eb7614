//! Gauges sampled every few seconds in both binaries: the PostgreSQL pool and the outbox.
//! The API samples the outbox too, so its backlog shows even when no worker runs.

use std::time::Duration;
use tokio::sync::watch;

use crate::db::{Pool, outbox};

/// How often the gauges are refreshed (scrapes are every 10 s).
pub const EVERY: Duration = Duration::from_secs(5);
const QUERY_TIMEOUT: Duration = Duration::from_secs(2);

/// Samples until `stop` turns true (or its sender is gone).
pub async fn run(db: Pool, max_connections: usize, mut stop: watch::Receiver<bool>) {
    metrics::gauge!("orderflow_db_pool_max_connections").set(max_connections as f64);
    metrics::gauge!("orderflow_db_pool_min_connections")
        .set(f64::from(db.options().min_connections));
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            changed = stop.changed() => if changed.is_err() || *stop.borrow() { return },
        }
        sample_once(&db).await;
    }
}

async fn sample_once(db: &Pool) {
    let stats = db.stats();
    metrics::gauge!("orderflow_db_pool_connections", "state" => "in_use").set(stats.in_use as f64);
    metrics::gauge!("orderflow_db_pool_connections", "state" => "idle").set(stats.idle as f64);
    metrics::gauge!("orderflow_db_pool_waiting").set(stats.waiting as f64);
    metrics::gauge!("orderflow_db_pool_settling").set(stats.settling as f64);
    match tokio::time::timeout(QUERY_TIMEOUT, outbox::pending_stats(db)).await {
        Ok(Ok((rows, oldest))) => {
            metrics::gauge!("orderflow_outbox_pending").set(rows as f64);
            metrics::gauge!("orderflow_outbox_oldest_pending_age_seconds").set(oldest);
        }
        // PostgreSQL down: keep the last values (the API's own 503s and `up` tell the story).
        Ok(Err(e)) => tracing::debug!(error = %e, "outbox gauges not sampled"),
        Err(_) => tracing::debug!("outbox gauges not sampled: timed out"),
    }
}
