//! Waking the workers' outbox sweep after a commit that wrote outbox rows.
//!
//! The request path never talks to Redis for jobs: the order's transaction writes its outbox
//! rows, and after the commit the handler only calls `wake()`, which costs nothing. One task
//! per instance publishes a wake-up on Redis for each burst of `wake()`s (bursts coalesce into
//! one message while a publish is under way); every worker's sweep listens and dispatches at
//! once. A lost wake-up (Redis down, the API killed) only delays the job until the sweep's
//! next tick (`OUTBOX_SWEEP_INTERVAL_MS`): the rows are durable in PostgreSQL either way.

use redis::aio::ConnectionManager;
use std::{sync::Arc, time::Duration};
use tokio::sync::Notify;

/// How long one publish may take before it is abandoned (the sweep's tick covers it).
const PUBLISH_TIMEOUT: Duration = Duration::from_millis(500);

#[derive(Clone)]
pub struct OutboxWaker {
    pending: Arc<Notify>,
}

impl OutboxWaker {
    /// Starts the publishing task (inside a Tokio runtime).
    pub fn start(conn: ConnectionManager, channel: String) -> Self {
        let pending = Arc::new(Notify::new());
        tokio::spawn(publish(conn, channel, Arc::downgrade(&pending)));
        Self { pending }
    }

    /// Asks for a wake-up to be published soon; never waits.
    pub fn wake(&self) {
        self.pending.notify_one();
    }
}

async fn publish(conn: ConnectionManager, channel: String, pending: std::sync::Weak<Notify>) {
    loop {
        let Some(notify) = pending.upgrade() else {
            return;
        };
        notify.notified().await;
        drop(notify);
        let mut conn = conn.clone();
        let sent = tokio::time::timeout(
            PUBLISH_TIMEOUT,
            redis::cmd("PUBLISH")
                .arg(&channel)
                .arg("1")
                .query_async::<i64>(&mut conn),
        )
        .await;
        if !matches!(sent, Ok(Ok(_))) {
            orderflow_shared::metrics::redis_error("outbox_wake");
            tracing::debug!("outbox wake-up not published; the sweep's tick will dispatch");
            tokio::time::sleep(PUBLISH_TIMEOUT).await;
        }
    }
}
