//! The outbox sweep: every `OUTBOX_SWEEP_INTERVAL_MS`, dispatch what the API's fast path did
//! not (Redis was down, the API died between commit and push) and delayed jobs that fell due,
//! and dispatch again jobs Redis lost (dispatched, then neither attempted nor finished for
//! `JOB_REDISPATCH_AFTER_SECONDS`).
//!
//! It runs in the worker, not the API: it needs Redis and PostgreSQL like the worker, its
//! output is only useful where workers run, and API instances stay request-only and can scale
//! independently. `FOR UPDATE SKIP LOCKED` lets several workers sweep at once.

use orderflow_shared::{db::outbox, dispatch};
use sqlx::PgPool;
use std::time::Duration;
use tokio::sync::watch;

use crate::metrics;

pub async fn run(
    db: PgPool,
    queues: dispatch::Queues,
    (every, redispatch_after): (Duration, Duration),
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut redis_down_logged = false;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        let result = match dispatch::sweep(&db, &queues).await {
            Ok(n) => dispatch::redispatch_stale(&db, &queues, redispatch_after)
                .await
                .map(|m| n + m),
            Err(e) => Err(e),
        };
        match result {
            Ok(n) => {
                if n > 0 {
                    tracing::info!(dispatched = n, "outbox sweep dispatched jobs");
                }
                redis_down_logged = false;
            }
            Err(e) if !redis_down_logged => {
                tracing::warn!(error = %e, "outbox sweep failed; will retry");
                redis_down_logged = true;
            }
            Err(_) => {}
        }
        if let Ok(backlog) = outbox::count_undispatched(&db).await {
            metrics::outbox_backlog(backlog);
        }
    }
}
