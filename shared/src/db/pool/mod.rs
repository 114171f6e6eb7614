//! OrderFlow's PostgreSQL connection pool: a connection goes back to the idle list only when
//! it is known to be idle on the server, whichever `.await` its last user was cut short at.
//!
//! Why not `sqlx::PgPool`: in sqlx 0.9 (0.9.1 too) every connection handed back to a `PgPool`
//! is pinged (`Floating::return_to_pool` sends a `Sync` and waits for `ReadyForQuery`), with
//! no option to turn it off — one extra round trip after every statement, measured here as
//! the largest single cost of a read after the statement itself (`docs/benchmarks.md`).
//! (Upstream: sqlx #1743 for the acquire ping; the release ping is unconditional in
//! `pool/connection.rs`, and its only open change, #4363, bounds it rather than removing it.)
//! This pool can go when sqlx's pool can skip that ping for a connection it knows is clean.
//!
//! Why it does not lean on sqlx's transaction guard: a request dropped while `BEGIN` awaited
//! its answer left sqlx 0.9.0's depth at 0, so nothing rolled back and the next user's
//! statements ran inside that open transaction, uncommitted (sqlx #4393, fixed in 0.9.1 by
//! #4394). The pool now owns the session state itself and sends `BEGIN`, `COMMIT` and
//! `ROLLBACK` as plain statements; sqlx's own depth stays 0.
//!
//! How: [`Conn`] records the operation under way (`BEGIN`, a statement, `COMMIT`, …) before
//! its first await and clears it when the operation completes. A connection dropped with an
//! operation still recorded, inside a transaction, or after an error is *settled* off the
//! request path while it keeps its slot: every pending response read, then `ROLLBACK` when a
//! transaction may be open; a cut-short `COMMIT`/`ROLLBACK` is drained and closed. A
//! connection that failed below SQL (I/O, protocol, a FATAL from the server, 25P02 outside a
//! transaction of ours) is closed. Only a connection with nothing recorded, outside a
//! transaction, is parked directly, with no I/O at all.
//!
//! Lifecycle, as sqlx's pool has it: `max_lifetime` (with up to 10% taken off at random, so
//! connections opened together do not all close together), `idle_timeout` beyond
//! `min_connections`, and a background task that keeps `min_connections` open and replaces
//! closed ones. A connection parked longer than `check_idle_after`, or before a connection
//! last failed below SQL (a restarted server), is pinged before it is handed out; a failed
//! check is replaced without the caller seeing it.
//!
//! As an `Executor` the pool runs one statement on a connection of its own; `acquire()` gives
//! a connection for several statements and `begin()` a transaction. Results through the
//! pool's `Executor` impl are buffered whole (every query here is bounded: a page holds at
//! most 100 orders). Statements must not contain transaction control: use `begin`/`commit`.

mod conn;
mod executor;
mod lifecycle;
mod settle;
mod traced;

pub use conn::{Conn, Tx};

use sqlx::{Connection, Error, PgConnection, postgres::PgConnectOptions};
use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

/// How the pool sizes and recycles its connections.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    pub max_connections: u32,
    /// Kept open (and replaced when closed) by a background task.
    pub min_connections: u32,
    /// Longest `acquire` waits for a slot and a connection (`PoolTimedOut` after).
    pub acquire_timeout: Duration,
    /// A connection older than this is closed instead of being reused.
    pub max_lifetime: Option<Duration>,
    /// A connection idle longer than this is closed (down to `min_connections`).
    pub idle_timeout: Option<Duration>,
    /// A connection idle longer than this is pinged before it is handed out.
    pub check_idle_after: Duration,
    /// Longest the settling of a cut-short connection may take before it is closed instead
    /// (keep it above the server's `statement_timeout`: settling waits for the statement).
    pub settle_timeout: Duration,
}

impl PoolOptions {
    /// `max` connections, opened on demand, never recycled: for tools and tests.
    pub fn new(max_connections: u32, acquire_timeout: Duration) -> Self {
        Self {
            max_connections,
            min_connections: 0,
            acquire_timeout,
            max_lifetime: None,
            idle_timeout: None,
            check_idle_after: Duration::from_secs(10),
            settle_timeout: Duration::from_secs(30),
        }
    }
}

#[derive(Clone)]
pub struct Pool {
    inner: Arc<Inner>,
}

struct Inner {
    connect: PgConnectOptions,
    options: PoolOptions,
    max: usize,
    idle: Mutex<Vec<Parked>>,
    /// One permit per connection that may be in use (or being settled).
    slots: Arc<Semaphore>,
    /// Acquires waiting for a slot right now (`orderflow_db_pool_waiting`).
    waiting: AtomicUsize,
    /// Connections being settled right now.
    settling: AtomicUsize,
    /// Connections whose user was cut short mid-operation, since the pool started.
    cut_short: AtomicU64,
    /// Bumped whenever a connection fails below SQL: connections parked before that are
    /// checked before reuse (after a server restart, every parked connection is dead).
    epoch: AtomicU64,
    /// Wakes the lifecycle task to replace a closed connection.
    replenish: Arc<Notify>,
}

/// What the pool knows about a connection besides the connection itself.
#[derive(Debug, Clone, Copy)]
struct Meta {
    /// Closed instead of reused after this (`max_lifetime`, less up to 10%).
    expires: Option<Instant>,
    /// The pool's failure epoch when the connection was last known good.
    epoch: u64,
}

/// An idle connection in the pool.
struct Parked {
    raw: PgConnection,
    meta: Meta,
    since: Instant,
}

/// `orderflow_db_pool_acquire_seconds`, looked up once (it is recorded on every acquire).
static ACQUIRE_SECONDS: std::sync::LazyLock<metrics::Histogram> =
    std::sync::LazyLock::new(|| metrics::histogram!("orderflow_db_pool_acquire_seconds"));

/// What the pool holds at one moment (`metrics::sampler` exports it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    pub in_use: usize,
    pub idle: usize,
    pub max: usize,
    pub waiting: usize,
    /// Of `in_use`: connections being settled before reuse.
    pub settling: usize,
    /// Connections whose user was cut short mid-operation, since the pool started.
    pub cut_short_total: u64,
}

impl Pool {
    /// A pool of at most `options.max_connections` connections. With `min_connections` (or
    /// `idle_timeout` / `max_lifetime`) and inside a Tokio runtime, a background task keeps
    /// the minimum open and closes expired idle connections; it ends with the last handle.
    pub fn new(connect: PgConnectOptions, options: PoolOptions) -> Self {
        let max = options.max_connections.max(1) as usize;
        let inner = Arc::new(Inner {
            connect,
            max,
            options,
            idle: Mutex::new(Vec::new()),
            slots: Arc::new(Semaphore::new(max)),
            waiting: AtomicUsize::new(0),
            settling: AtomicUsize::new(0),
            cut_short: AtomicU64::new(0),
            epoch: AtomicU64::new(0),
            replenish: Arc::new(Notify::new()),
        });
        lifecycle::start(&inner);
        Self { inner }
    }

    /// A connection of one's own: idle, or newly opened. Waits for a free slot up to the
    /// acquire timeout (`sqlx::Error::PoolTimedOut` after). A connection that fails its
    /// check is replaced, never returned.
    pub async fn acquire(&self) -> Result<Conn, Error> {
        let inner = &self.inner;
        let started = Instant::now();
        let deadline = started + inner.options.acquire_timeout;
        let mut slot = inner.slot(deadline).await?;
        let conn = loop {
            if Instant::now() >= deadline {
                return Err(timed_out());
            }
            let Some(parked) = inner.pop_idle() else {
                let raw = tokio::time::timeout_at(
                    deadline.into(),
                    PgConnection::connect_with(&inner.connect),
                )
                .await
                .map_err(|_| timed_out())??;
                lifecycle::opened();
                break Conn::new(raw, inner.new_meta(), slot, self.inner.clone());
            };
            let check = parked.since.elapsed() >= inner.options.check_idle_after
                || parked.meta.epoch < inner.epoch.load(Ordering::Acquire);
            let mut conn = Conn::new(parked.raw, parked.meta, slot, self.inner.clone());
            if !check {
                break conn;
            }
            match tokio::time::timeout_at(deadline.into(), conn.ping()).await {
                Ok(Ok(())) => {
                    conn.confirm(inner.epoch.load(Ordering::Acquire));
                    break conn;
                }
                _ => slot = conn.close_for(lifecycle::Reason::CheckFailed),
            }
        };
        ACQUIRE_SECONDS.record(started.elapsed().as_secs_f64());
        Ok(conn)
    }

    /// A transaction on a connection of its own. Dropped without `commit`, it rolls back
    /// (off the request path, before the connection is reused).
    pub async fn begin(&self) -> Result<Tx, Error> {
        self.acquire().await?.begin().await
    }

    /// Connections open now (idle or in use).
    pub fn size(&self) -> usize {
        self.stats().in_use + self.num_idle()
    }

    pub fn stats(&self) -> PoolStats {
        PoolStats {
            in_use: self.inner.max - self.inner.slots.available_permits(),
            idle: self.num_idle(),
            max: self.inner.max,
            waiting: self.inner.waiting.load(Ordering::Relaxed),
            settling: self.inner.settling.load(Ordering::Relaxed),
            cut_short_total: self.inner.cut_short.load(Ordering::Relaxed),
        }
    }

    pub fn num_idle(&self) -> usize {
        self.inner.idle.lock().expect("pool lock").len()
    }

    pub fn options(&self) -> &PoolOptions {
        &self.inner.options
    }
}

fn timed_out() -> Error {
    metrics::counter!("orderflow_db_pool_acquire_timeouts_total").increment(1);
    Error::PoolTimedOut
}

impl Inner {
    /// A slot, waiting until `deadline` at most.
    async fn slot(&self, deadline: Instant) -> Result<OwnedSemaphorePermit, Error> {
        if let Ok(slot) = self.slots.clone().try_acquire_owned() {
            return Ok(slot);
        }
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let waited =
            tokio::time::timeout_at(deadline.into(), self.slots.clone().acquire_owned()).await;
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        match waited {
            Ok(slot) => slot.map_err(|_| Error::PoolClosed),
            Err(_) => Err(timed_out()),
        }
    }

    /// The most recently parked connection within its lifetime; older ones are closed.
    /// (Idle timeouts are the lifecycle task's: a connection idle that long is checked.)
    fn pop_idle(self: &Arc<Self>) -> Option<Parked> {
        let now = Instant::now();
        loop {
            let parked = self.idle.lock().expect("pool lock").pop()?;
            if parked.meta.expires.is_some_and(|at| now >= at) {
                lifecycle::close(self, parked.raw, None, lifecycle::Reason::MaxLifetime);
            } else {
                return Some(parked);
            }
        }
    }

    /// Why a parked connection must not be reused, if it must not.
    fn expiry(&self, parked: &Parked, now: Instant) -> Option<lifecycle::Reason> {
        if parked.meta.expires.is_some_and(|at| now >= at) {
            return Some(lifecycle::Reason::MaxLifetime);
        }
        let idle_timeout = self.options.idle_timeout?;
        (now.duration_since(parked.since) >= idle_timeout).then_some(lifecycle::Reason::IdleTimeout)
    }

    fn new_meta(&self) -> Meta {
        let expires = self.options.max_lifetime.map(|lifetime| {
            let jitter = lifetime.mul_f64(rand::random_range(0.0..0.1));
            Instant::now() + lifetime - jitter
        });
        Meta {
            expires,
            epoch: self.epoch.load(Ordering::Acquire),
        }
    }

    /// Puts a connection known to be idle on the server back on the idle list (or closes it
    /// when its lifetime is over).
    fn park(self: &Arc<Self>, raw: PgConnection, meta: Meta, slot: Option<OwnedSemaphorePermit>) {
        if meta.expires.is_some_and(|at| Instant::now() >= at) {
            lifecycle::close(self, raw, slot, lifecycle::Reason::MaxLifetime);
            return;
        }
        self.idle.lock().expect("pool lock").push(Parked {
            raw,
            meta,
            since: Instant::now(),
        });
        drop(slot);
    }

    /// A connection failed below SQL: every connection parked until now is suspect.
    fn suspect_parked(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
    }
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("max", &self.inner.max)
            .field("idle", &self.num_idle())
            .finish()
    }
}

/// The pool's counters at 0, so that their series exist from the start.
pub fn register_metrics() {
    lifecycle::register_metrics();
}
