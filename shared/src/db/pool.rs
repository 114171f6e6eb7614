//! OrderFlow's PostgreSQL connection pool.
//!
//! Why not `sqlx::PgPool`: in sqlx 0.9 every connection handed back to a `PgPool` is pinged
//! (`Floating::return_to_pool` sends a `Sync` and waits for `ReadyForQuery`), with no option
//! to turn it off — one extra round trip after every statement, which measured here as the
//! largest single cost of a read after the statement itself (see `docs/benchmarks.md`).
//! `test_before_acquire(false)` only removes the ping *before* use. (Upstream: sqlx issue
//! #1743 for the acquire ping; the release ping is unconditional in `pool/connection.rs`,
//! and its only open change, #4363, bounds it rather than removing it.)
//!
//! This pool keeps what the release ping was for, only when it is needed:
//! - a connection whose work was cut short (a dropped transaction queues its `ROLLBACK`) is
//!   flushed in the background before anyone else can take it, so no lock outlives its
//!   request;
//! - responses a cancelled query left unread are drained by sqlx itself before the next
//!   statement on that connection (`wait_until_ready`);
//! - a connection that failed with anything but a database error (I/O, protocol, TLS) is
//!   closed instead of reused; the request that saw it fails (503), the next gets a new one.
//!
//! As an `Executor` it runs one statement on a connection of its own; `acquire()` gives a
//! connection for several statements or a transaction (`sqlx::Connection::begin`). Results
//! through the `Executor` impl are buffered whole before being returned (every query here is
//! bounded: a page holds at most 100 orders).

use futures::{StreamExt, TryStreamExt, future::BoxFuture, stream::BoxStream};
use sqlx::{
    Connection, Either, Error, Execute, Executor, PgConnection, Postgres,
    postgres::{
        PgConnectOptions, PgQueryResult, PgRow, PgStatement, PgTransactionManager, PgTypeInfo,
    },
};
// Not re-exported by `sqlx`; the same crate version `sqlx` itself uses.
use sqlx_core::transaction::TransactionManager;
use std::{
    ops::{Deref, DerefMut},
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

#[derive(Clone)]
pub struct Pool {
    inner: Arc<Inner>,
}

struct Inner {
    options: PgConnectOptions,
    idle: Mutex<Vec<PgConnection>>,
    /// One permit per connection that may exist.
    slots: Arc<Semaphore>,
    max: usize,
    acquire_timeout: Duration,
    /// Acquires waiting for a slot right now (`orderflow_db_pool_waiting`).
    waiting: AtomicUsize,
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
}

impl Pool {
    /// A pool of at most `max` connections; none is opened until needed.
    pub fn new(options: PgConnectOptions, max: u32, acquire_timeout: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                options,
                idle: Mutex::new(Vec::new()),
                slots: Arc::new(Semaphore::new(max.max(1) as usize)),
                max: max.max(1) as usize,
                acquire_timeout,
                waiting: AtomicUsize::new(0),
            }),
        }
    }

    /// A connection of one's own: idle, or newly opened. Waits for a free slot up to the
    /// acquire timeout (`sqlx::Error::PoolTimedOut` after).
    pub async fn acquire(&self) -> Result<Conn, Error> {
        let inner = &self.inner;
        let started = Instant::now();
        let slot = match inner.slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                inner.waiting.fetch_add(1, Ordering::Relaxed);
                let waited = tokio::time::timeout(
                    inner.acquire_timeout,
                    inner.slots.clone().acquire_owned(),
                )
                .await;
                inner.waiting.fetch_sub(1, Ordering::Relaxed);
                match waited {
                    Ok(slot) => slot.map_err(|_| Error::PoolClosed)?,
                    Err(_) => {
                        metrics::counter!("orderflow_db_pool_acquire_timeouts_total").increment(1);
                        return Err(Error::PoolTimedOut);
                    }
                }
            }
        };
        let idle = inner.idle.lock().expect("pool lock").pop();
        let conn = match idle {
            Some(conn) => conn,
            None => tokio::time::timeout(
                inner.acquire_timeout,
                PgConnection::connect_with(&inner.options),
            )
            .await
            .map_err(|_| Error::PoolTimedOut)??,
        };
        ACQUIRE_SECONDS.record(started.elapsed().as_secs_f64());
        Ok(Conn {
            conn: Some(conn),
            pool: self.inner.clone(),
            slot: Some(slot),
        })
    }

    /// A transaction on a connection of its own. Dropped without `commit`, it rolls back (the
    /// `ROLLBACK` is sent as the connection is handed back).
    pub async fn begin(&self) -> Result<Tx, Error> {
        let mut conn = self.acquire().await?;
        let begun = PgTransactionManager::begin(&mut conn, None).await;
        conn.check(begun)?;
        Ok(Tx { conn, open: true })
    }

    /// Connections open now (idle or in use).
    pub fn size(&self) -> usize {
        self.inner.max - self.inner.slots.available_permits() + self.num_idle()
    }

    pub fn stats(&self) -> PoolStats {
        let idle = self.num_idle();
        PoolStats {
            in_use: self.inner.max - self.inner.slots.available_permits(),
            idle,
            max: self.inner.max,
            waiting: self.inner.waiting.load(Ordering::Relaxed),
        }
    }

    pub fn num_idle(&self) -> usize {
        self.inner.idle.lock().expect("pool lock").len()
    }

    /// Closes the idle connections (in use ones close when handed back).
    pub async fn close_idle(&self) {
        let idle: Vec<PgConnection> =
            std::mem::take(&mut *self.inner.idle.lock().expect("pool lock"));
        for conn in idle {
            let _ = conn.close().await;
        }
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

/// A connection taken from the pool; handed back when dropped.
pub struct Conn {
    conn: Option<PgConnection>,
    pool: Arc<Inner>,
    slot: Option<OwnedSemaphorePermit>,
}

impl Conn {
    /// Closes the connection instead of handing it back (it failed below the SQL level).
    pub fn discard(&mut self) {
        self.conn = None;
    }

    /// Keeps `result`, discarding the connection if the error says it cannot be trusted.
    pub fn check<T>(&mut self, result: Result<T, Error>) -> Result<T, Error> {
        if let Err(e) = &result
            && !reusable_after(e)
        {
            self.discard();
        }
        result
    }
}

/// Errors after which the connection is still in a known state.
fn reusable_after(e: &Error) -> bool {
    matches!(
        e,
        Error::Database(_)
            | Error::RowNotFound
            | Error::ColumnNotFound(_)
            | Error::ColumnIndexOutOfBounds { .. }
            | Error::ColumnDecode { .. }
            | Error::Decode(_)
            | Error::Encode(_)
            | Error::TypeNotFound { .. }
    )
}

impl Deref for Conn {
    type Target = PgConnection;
    fn deref(&self) -> &PgConnection {
        self.conn
            .as_ref()
            .expect("connection present until dropped")
    }
}

impl DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut PgConnection {
        self.conn
            .as_mut()
            .expect("connection present until dropped")
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        let (pool, slot) = (self.pool.clone(), self.slot.take());
        if !conn.should_flush() {
            pool.idle.lock().expect("pool lock").push(conn);
            drop(slot);
            return;
        }
        // Work cut short (a dropped transaction's ROLLBACK is queued): send it now, holding
        // the slot, so the connection's locks go with the request.
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    let flushed = tokio::time::timeout(pool.acquire_timeout, conn.flush()).await;
                    if matches!(flushed, Ok(Ok(()))) {
                        pool.idle.lock().expect("pool lock").push(conn);
                    }
                    drop(slot);
                });
            }
            Err(_) => drop(slot),
        }
    }
}

/// A transaction (`Pool::begin`). Use `&mut *tx` as the executor of its statements.
pub struct Tx {
    conn: Conn,
    open: bool,
}

impl Tx {
    pub async fn commit(mut self) -> Result<(), Error> {
        let committed = PgTransactionManager::commit(&mut self.conn).await;
        self.open = false;
        self.conn.check(committed)
    }

    pub async fn rollback(mut self) -> Result<(), Error> {
        let rolled_back = PgTransactionManager::rollback(&mut self.conn).await;
        self.open = false;
        self.conn.check(rolled_back)
    }
}

impl Deref for Tx {
    type Target = PgConnection;
    fn deref(&self) -> &PgConnection {
        &self.conn
    }
}

impl DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut PgConnection {
        &mut self.conn
    }
}

impl Drop for Tx {
    fn drop(&mut self) {
        if self.open && PgTransactionManager::get_transaction_depth(&self.conn) > 0 {
            // Queued here, sent when `conn` is handed back (see `Conn::drop`).
            PgTransactionManager::start_rollback(&mut self.conn);
        }
    }
}

impl<'p> Executor<'p> for &'_ Pool {
    type Database = Postgres;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, Result<Either<PgQueryResult, PgRow>, Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, Postgres>,
    {
        let pool = self.clone();
        futures::stream::once(async move {
            let mut conn = match pool.acquire().await {
                Ok(conn) => conn,
                Err(e) => return vec![Err(e)],
            };
            let results: Vec<_> = conn.fetch_many(query).collect().await;
            if let Some(Err(e)) = results.iter().find(|r| r.is_err())
                && !reusable_after(e)
            {
                conn.discard();
            }
            results
        })
        .flat_map(futures::stream::iter)
        .boxed()
    }

    fn fetch_optional<'e, 'q: 'e, E>(self, query: E) -> BoxFuture<'e, Result<Option<PgRow>, Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, Postgres>,
    {
        let pool = self.clone();
        Box::pin(async move {
            let mut conn = pool.acquire().await?;
            let result = conn.fetch_optional(query).await;
            conn.check(result)
        })
    }

    fn fetch_all<'e, 'q: 'e, E>(self, query: E) -> BoxFuture<'e, Result<Vec<PgRow>, Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, Postgres>,
    {
        let pool = self.clone();
        Box::pin(async move {
            let mut conn = pool.acquire().await?;
            let result = conn.fetch(query).try_collect().await;
            conn.check(result)
        })
    }

    fn prepare_with<'e>(
        self,
        sql: sqlx::SqlStr,
        parameters: &'e [PgTypeInfo],
    ) -> BoxFuture<'e, Result<PgStatement, Error>>
    where
        'p: 'e,
    {
        let pool = self.clone();
        Box::pin(async move {
            let mut conn = pool.acquire().await?;
            let result = conn.prepare_with(sql, parameters).await;
            conn.check(result)
        })
    }

    fn describe<'e>(
        self,
        sql: sqlx::SqlStr,
    ) -> BoxFuture<'e, Result<sqlx::Describe<Postgres>, Error>>
    where
        'p: 'e,
    {
        let pool = self.clone();
        Box::pin(async move {
            let mut conn = pool.acquire().await?;
            let result = conn.describe(sql).await;
            conn.check(result)
        })
    }
}
