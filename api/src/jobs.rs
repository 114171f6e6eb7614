//! Handing committed outbox rows to Redis right away (the fast path). Failures only delay the
//! job: the worker's outbox sweep dispatches whatever is left.

use crate::app::AppState;

/// Dispatches `outbox_ids` in the background so the response never waits on Redis.
pub fn dispatch_soon(state: &AppState, outbox_ids: Vec<i64>) {
    if outbox_ids.is_empty() {
        return;
    }
    let (db, queues) = (state.db.clone(), state.queues.clone());
    tokio::spawn(async move {
        if let Err(e) = orderflow_shared::dispatch::dispatch_ids(&db, &queues, &outbox_ids).await {
            tracing::warn!(error = %e, ?outbox_ids, "fast-path dispatch failed; the outbox sweep will retry");
        }
    });
}
