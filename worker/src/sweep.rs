//! The outbox sweep: dispatches committed outbox rows to Redis.
//!
//! It runs when woken — the API publishes a wake-up on Redis after each commit that wrote
//! outbox rows (`wake.rs` listens), and jobs of this process wake it directly — and at least
//! every `OUTBOX_SWEEP_INTERVAL_MS`, which also covers lost wake-ups, rows that fall due
//! (pending-order expiry), and jobs Redis lost (dispatched, then neither attempted nor
//! finished for `JOB_REDISPATCH_AFTER_SECONDS`). Each pass moves up to a batch of rows in one
//! transaction; passes repeat while batches come back full.
//!
//! It runs in the worker, not the API: it needs Redis and PostgreSQL like the worker, its
//! output is only useful where workers run, and API instances stay request-only and can scale
//! independently. `FOR UPDATE SKIP LOCKED` lets several workers sweep at once.

use orderflow_shared::{db::Pool, dispatch};
use std::{sync::Arc, time::Duration};
use tokio::sync::{Notify, watch};

use crate::metrics;

/// After a wake-up, wait this long so one pass takes the rows of a whole burst of commits.
const WAKE_DEBOUNCE: Duration = Duration::from_millis(5);
/// While a queue is full (`dispatch::MAX_QUEUED`), look again this often rather than at the
/// next tick, so the workers never run dry while the outbox holds a backlog.
const FULL_RECHECK: Duration = Duration::from_millis(100);

pub async fn run(
    db: Pool,
    queues: dispatch::Queues,
    wake: Arc<Notify>,
    (every, redispatch_after): (Duration, Duration),
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    let mut backlog = false;
    loop {
        let recheck = async {
            if backlog {
                tokio::time::sleep(FULL_RECHECK).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        let ticked = tokio::select! {
            _ = tick.tick() => true,
            _ = wake.notified() => {
                tokio::time::sleep(WAKE_DEBOUNCE).await;
                false
            }
            _ = recheck => false,
            _ = stop.changed() => return,
        };
        metrics::sweep(if ticked { "timer" } else { "wake" });
        backlog = queues
            .with_room()
            .await
            .is_ok_and(|room| room.len() < orderflow_shared::jobs::JobKind::ALL.len());
        let mut result = drain(&db, &queues).await;
        if ticked && let Ok(n) = result {
            result = dispatch::redispatch_stale(&db, &queues, redispatch_after)
                .await
                .map(|m| n + m);
        }
        match result {
            Ok(n) => {
                if n > 0 {
                    tracing::debug!(dispatched = n, "outbox sweep dispatched jobs");
                }
                failing = false;
            }
            Err(e) if !failing => {
                tracing::warn!(error = %e, "outbox sweep failed; will retry");
                failing = true;
            }
            Err(_) => {}
        }
    }
}

/// Passes until one moves less than a full batch.
async fn drain(db: &Pool, queues: &dispatch::Queues) -> anyhow::Result<usize> {
    let mut total = 0;
    loop {
        let n = dispatch::sweep(db, queues).await?;
        total += n;
        if n < dispatch::SWEEP_BATCH as usize {
            return Ok(total);
        }
    }
}
