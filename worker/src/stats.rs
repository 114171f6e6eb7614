//! Folding the summary's deltas into its rollups (`orderflow_shared::db::stats`) every
//! `STATS_FOLD_INTERVAL_MS`, by one worker at a time (a transaction-scoped advisory lock).
//! Readers add unfolded deltas themselves, so a late fold never makes an answer wrong: it
//! only keeps the deltas few.

use orderflow_shared::db::{Pool, stats};
use std::time::Duration;
use tokio::sync::watch;

/// Arbitrary constant naming the fold lock.
const FOLD_LOCK: i64 = 0x57A7_F01D;

pub async fn run(db: Pool, every: Duration, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        match fold_once(&db).await {
            Ok(Some((orders, products))) if orders + products > 0 => {
                tracing::debug!(orders, products, "summary deltas folded");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "folding the summary's deltas failed"),
        }
    }
}

/// One fold; `None` when another worker holds the lock.
pub async fn fold_once(db: &Pool) -> anyhow::Result<Option<(i64, i64)>> {
    let mut tx = db.begin().await?;
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
        .bind(FOLD_LOCK)
        .fetch_one(&mut *tx)
        .await?;
    if !locked {
        return Ok(None);
    }
    let orders = stats::fold_orders(&mut *tx).await?;
    let products = stats::fold_products(&mut *tx).await?;
    tx.commit().await?;
    metrics::counter!("orderflow_stats_deltas_folded_total", "table" => "orders")
        .increment(orders as u64);
    metrics::counter!("orderflow_stats_deltas_folded_total", "table" => "products")
        .increment(products as u64);
    Ok(Some((orders, products)))
}
