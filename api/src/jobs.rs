//! Handing committed outbox rows to Redis right away (the fast path). Failures only delay the
//! job: the worker's outbox sweep dispatches whatever is left.

use crate::app::AppState;

/// Fast-path dispatches running at once. Each holds a database connection while it talks to
/// Redis (up to the push timeout when Redis is down), so they must never crowd out requests:
/// past this many, rows are left to the sweep.
pub const MAX_IN_FLIGHT: usize = 2;

/// Dispatches `outbox_ids` in the background so the response never waits on Redis.
pub fn dispatch_soon(state: &AppState, outbox_ids: Vec<i64>) {
    if outbox_ids.is_empty() {
        return;
    }
    let Ok(permit) = state.dispatch_permits.clone().try_acquire_owned() else {
        tracing::debug!(
            ?outbox_ids,
            "fast path busy; leaving jobs to the outbox sweep"
        );
        return;
    };
    let (db, queues) = (state.db.clone(), state.queues.clone());
    tokio::spawn(async move {
        let _permit = permit;
        if let Err(e) = orderflow_shared::dispatch::dispatch_ids(&db, &queues, &outbox_ids).await {
            tracing::warn!(error = %e, ?outbox_ids, "fast-path dispatch failed; the outbox sweep will retry");
        }
    });
}
