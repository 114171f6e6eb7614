//! Opening and closing connections: `min_connections` kept open and closed ones replaced,
//! `max_lifetime` and `idle_timeout` enforced, each open and close counted by reason.

use sqlx::{Connection, PgConnection};
use std::{
    sync::{Arc, Weak},
    time::{Duration, Instant},
};
use tokio::sync::OwnedSemaphorePermit;

use super::Inner;

/// How often the lifecycle task looks at the idle connections (and sooner after a close).
const PERIOD: Duration = Duration::from_secs(1);
/// A graceful close (Terminate) that takes longer is abandoned: the socket is dropped.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Why a connection was closed (`orderflow_db_pool_connections_closed_total{reason}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reason {
    MaxLifetime,
    IdleTimeout,
    /// Failed below SQL, or the server ended the session.
    Broken,
    /// Parked long (or before a failure elsewhere) and did not answer its check.
    CheckFailed,
    /// Could not be settled, or not in time.
    SettleFailed,
    /// A `COMMIT` or `ROLLBACK` was cut short.
    EndCutShort,
}

impl Reason {
    const ALL: [Reason; 6] = [
        Reason::MaxLifetime,
        Reason::IdleTimeout,
        Reason::Broken,
        Reason::CheckFailed,
        Reason::SettleFailed,
        Reason::EndCutShort,
    ];

    fn label(self) -> &'static str {
        match self {
            Reason::MaxLifetime => "max_lifetime",
            Reason::IdleTimeout => "idle_timeout",
            Reason::Broken => "broken",
            Reason::CheckFailed => "check_failed",
            Reason::SettleFailed => "settle_failed",
            Reason::EndCutShort => "transaction_end_cut_short",
        }
    }
}

pub(super) fn opened() {
    metrics::counter!("orderflow_db_pool_connections_opened_total").increment(1);
}

/// Counts a connection that is already gone, and asks for a replacement.
pub(super) fn forget(pool: &Inner, reason: Reason) {
    metrics::counter!("orderflow_db_pool_connections_closed_total", "reason" => reason.label())
        .increment(1);
    pool.replenish.notify_one();
}

/// Closes `raw` (gracefully when a runtime is there to do it), keeping `slot` until it is
/// closed, and asks for a replacement.
pub(super) fn close(
    pool: &Arc<Inner>,
    raw: PgConnection,
    slot: Option<OwnedSemaphorePermit>,
    reason: Reason,
) {
    forget(pool, reason);
    if reason == Reason::Broken {
        // Nothing to say to a server we lost: just drop the socket.
        drop(raw);
        drop(slot);
        return;
    }
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            runtime.spawn(async move {
                let _ = tokio::time::timeout(CLOSE_TIMEOUT, raw.close()).await;
                drop(slot);
            });
        }
        Err(_) => drop((raw, slot)),
    }
}

/// Starts the lifecycle task when the options ask for one.
pub(super) fn start(inner: &Arc<Inner>) {
    let options = &inner.options;
    if options.min_connections == 0
        && options.idle_timeout.is_none()
        && options.max_lifetime.is_none()
    {
        return;
    }
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let weak = Arc::downgrade(inner);
    let replenish = inner.replenish.clone();
    runtime.spawn(async move {
        let mut tick = tokio::time::interval(PERIOD);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = replenish.notified() => {}
            }
            if !maintain(&weak).await {
                return;
            }
        }
    });
}

/// One pass; false when the pool is gone.
async fn maintain(weak: &Weak<Inner>) -> bool {
    let Some(pool) = weak.upgrade() else {
        return false;
    };
    reap(&pool);
    top_up(&pool).await;
    true
}

/// Closes idle connections past their lifetime, and those idle past `idle_timeout` beyond
/// the minimum.
fn reap(pool: &Arc<Inner>) {
    let now = Instant::now();
    let min = pool.options.min_connections as usize;
    let expired: Vec<_> = {
        let mut idle = pool.idle.lock().expect("pool lock");
        let in_use = pool.max - pool.slots.available_permits();
        let mut keep_at_least = min.saturating_sub(in_use);
        // Oldest first: the most recently used connections stay.
        let parked: Vec<_> = std::mem::take(&mut *idle);
        let mut kept = Vec::with_capacity(parked.len());
        let mut expired = Vec::new();
        let remaining = parked.len();
        for (i, p) in parked.into_iter().enumerate() {
            let newer = remaining - i - 1;
            let reason = match pool.expiry(&p, now) {
                Some(Reason::IdleTimeout) if newer < keep_at_least => None,
                other => other,
            };
            match reason {
                Some(reason) => expired.push((p, reason)),
                None => {
                    keep_at_least = keep_at_least.saturating_sub(1);
                    kept.push(p);
                }
            }
        }
        *idle = kept;
        expired
    };
    for (parked, reason) in expired {
        close(pool, parked.raw, None, reason);
    }
}

/// Opens connections until `min_connections` are open (as slots allow).
async fn top_up(pool: &Arc<Inner>) {
    let min = pool.options.min_connections as usize;
    loop {
        let open =
            pool.max - pool.slots.available_permits() + pool.idle.lock().expect("pool lock").len();
        if open >= min {
            return;
        }
        let Ok(slot) = pool.slots.clone().try_acquire_owned() else {
            return;
        };
        let connected = tokio::time::timeout(
            pool.options.acquire_timeout,
            PgConnection::connect_with(&pool.connect),
        )
        .await;
        match connected {
            Ok(Ok(raw)) => {
                opened();
                let meta = pool.new_meta();
                pool.park(raw, meta, Some(slot));
            }
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "could not open a connection for min_connections");
                return;
            }
            Err(_) => return,
        }
    }
}

pub(super) fn register_metrics() {
    metrics::counter!("orderflow_db_pool_connections_opened_total").absolute(0);
    for reason in Reason::ALL {
        metrics::counter!("orderflow_db_pool_connections_closed_total", "reason" => reason.label())
            .absolute(0);
    }
    super::settle::register_metrics();
}
