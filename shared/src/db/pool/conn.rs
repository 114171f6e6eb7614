//! A connection taken from the pool, and a transaction on one. Each records the operation it
//! has under way, so that when its user is cut short, the pool knows what the server may
//! still be doing for it.

use sqlx::{Connection, Error, PgConnection, postgres::PgDatabaseError};
use std::sync::Arc;
use tokio::sync::OwnedSemaphorePermit;

use super::{Inner, Meta, lifecycle, settle};

/// The operation a connection has under way (set before its first await).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Op {
    Begin,
    Statement,
    Commit,
    Rollback,
    /// A ping (the check of a long-idle connection, or draining).
    Check,
    /// Completed with a database error: the server's ReadyForQuery may still be unread.
    Failed,
}

/// Where the server's session is, as far as completed operations tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Session {
    Idle,
    InTransaction,
}

/// A connection of one's own; handed back (or settled, or closed) when dropped. Use
/// `&mut conn` as the executor of its statements.
pub struct Conn {
    raw: Option<PgConnection>,
    meta: Meta,
    slot: Option<OwnedSemaphorePermit>,
    pool: Arc<Inner>,
    pub(super) session: Session,
    pub(super) op: Option<Op>,
    /// Failed below SQL: closed, never reused.
    pub(super) broken: bool,
}

impl Conn {
    pub(super) fn new(
        raw: PgConnection,
        meta: Meta,
        slot: OwnedSemaphorePermit,
        pool: Arc<Inner>,
    ) -> Self {
        Self {
            raw: Some(raw),
            meta,
            slot: Some(slot),
            pool,
            session: Session::Idle,
            op: None,
            broken: false,
        }
    }

    pub(super) fn raw(&mut self) -> &mut PgConnection {
        self.raw.as_mut().expect("connection present until dropped")
    }

    /// The fields the executor's streams track, borrowed apart.
    pub(super) fn parts(&mut self) -> (&mut PgConnection, Tracker<'_>) {
        let raw = self.raw.as_mut().expect("connection present until dropped");
        let tracker = Tracker {
            op: &mut self.op,
            broken: &mut self.broken,
            session: self.session,
        };
        (raw, tracker)
    }

    /// Starts a transaction on this connection.
    pub async fn begin(mut self) -> Result<Tx, Error> {
        if self.op.is_some() {
            // Whatever an earlier error left unread is read now, so that the server's next
            // answer is the one to `BEGIN`.
            self.ping().await?;
        }
        self.op = Some(Op::Begin);
        let begun = sqlx::raw_sql("BEGIN").execute(self.raw()).await;
        if let Err(e) = begun {
            // `BEGIN` cannot fail on a healthy session.
            self.broken = true;
            return Err(e);
        }
        self.op = None;
        self.session = Session::InTransaction;
        Ok(Tx { conn: self })
    }

    /// One round trip; also reads anything still pending.
    pub async fn ping(&mut self) -> Result<(), Error> {
        self.op = Some(Op::Check);
        let pinged = self.raw().ping().await;
        self.finish(pinged)
    }

    /// Records how an operation ended: done, done with an error that leaves the session
    /// usable (its ReadyForQuery read before reuse), or broken.
    pub(super) fn finish<T>(&mut self, result: Result<T, Error>) -> Result<T, Error> {
        let mut tracker = Tracker {
            op: &mut self.op,
            broken: &mut self.broken,
            session: self.session,
        };
        tracker.finish(result.as_ref().err());
        result
    }

    /// Ends the transaction with `COMMIT` or `ROLLBACK`.
    async fn end(&mut self, op: Op, sql: &'static str) -> Result<(), Error> {
        self.op = Some(op);
        let ended = sqlx::raw_sql(sql).execute(self.raw()).await;
        if matches!(ended, Ok(_) | Err(Error::Database(_))) {
            // A COMMIT that fails rolls back: the session has left the transaction either way.
            self.session = Session::Idle;
        }
        self.finish(ended).map(|_| ())
    }

    /// Marks a checked connection good as of the pool's failure `epoch`.
    pub(super) fn confirm(&mut self, epoch: u64) {
        self.meta.epoch = epoch;
    }

    /// Closes the connection for `reason` and hands its slot back to the caller.
    pub(super) fn close_for(mut self, reason: lifecycle::Reason) -> OwnedSemaphorePermit {
        let slot = self.slot.take().expect("slot held until dropped");
        if let Some(raw) = self.raw.take() {
            lifecycle::close(&self.pool, raw, None, reason);
        }
        slot
    }
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("session", &self.session)
            .field("op", &self.op)
            .field("broken", &self.broken)
            .finish()
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        let Some(raw) = self.raw.take() else {
            return;
        };
        let slot = self.slot.take();
        if self.broken {
            self.pool.suspect_parked();
            lifecycle::close(&self.pool, raw, slot, lifecycle::Reason::Broken);
            return;
        }
        if self.op.is_none() && self.session == Session::Idle {
            // Known idle on the server: no I/O needed.
            self.pool.park(raw, self.meta, slot);
            return;
        }
        settle::spawn(
            self.pool.clone(),
            raw,
            self.meta,
            slot,
            (self.op, self.session),
        );
    }
}

/// The bookkeeping of one operation, borrowed apart from the connection so that a stream
/// holding the connection can still record its end.
pub(super) struct Tracker<'c> {
    op: &'c mut Option<Op>,
    broken: &'c mut bool,
    session: Session,
}

impl Tracker<'_> {
    pub(super) fn start(&mut self) {
        *self.op = Some(Op::Statement);
    }

    /// The operation completed, with `error` if it failed.
    pub(super) fn finish(&mut self, error: Option<&Error>) {
        match error {
            None => {
                if *self.op != Some(Op::Failed) {
                    *self.op = None;
                }
            }
            Some(e) if unusable_after(e, self.session) => *self.broken = true,
            Some(_) => *self.op = Some(Op::Failed),
        }
    }
}

/// Errors after which the connection must be closed: anything below SQL (I/O, protocol,
/// TLS, a decode of the protocol), a FATAL/PANIC from the server (it is closing the session),
/// and "current transaction is aborted" (25P02) outside a transaction of ours — a session in
/// a state the pool did not put it in.
fn unusable_after(e: &Error, session: Session) -> bool {
    match e {
        Error::Database(db) => {
            let code = db.code();
            let fatal = db.try_downcast_ref::<PgDatabaseError>().is_some_and(|pg| {
                matches!(
                    pg.severity(),
                    sqlx::postgres::PgSeverity::Fatal | sqlx::postgres::PgSeverity::Panic
                )
            });
            fatal
                || code.as_deref().is_some_and(|c| {
                    c.starts_with("08")
                        || c.starts_with("57P")
                        || (c == "25P02" && session == Session::Idle)
                })
        }
        Error::RowNotFound
        | Error::ColumnNotFound(_)
        | Error::ColumnIndexOutOfBounds { .. }
        | Error::ColumnDecode { .. }
        | Error::Decode(_)
        | Error::Encode(_)
        | Error::TypeNotFound { .. } => false,
        _ => true,
    }
}

/// A transaction ([`super::Pool::begin`]). Use `&mut *tx` as the executor of its statements.
/// Dropped without `commit` or `rollback`, it is rolled back before the connection is reused.
pub struct Tx {
    conn: Conn,
}

impl Tx {
    pub async fn commit(mut self) -> Result<(), Error> {
        self.conn.end(Op::Commit, "COMMIT").await
    }

    pub async fn rollback(mut self) -> Result<(), Error> {
        self.conn.end(Op::Rollback, "ROLLBACK").await
    }
}

impl std::ops::Deref for Tx {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        &self.conn
    }
}

impl std::ops::DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut Conn {
        &mut self.conn
    }
}

impl std::fmt::Debug for Tx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Tx").field(&self.conn).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_errors_below_sql_or_from_a_lost_session_close_the_connection() {
        let io = || Error::Io(std::io::Error::other("reset"));
        assert!(unusable_after(&io(), Session::Idle));
        assert!(unusable_after(&Error::PoolTimedOut, Session::Idle));
        assert!(unusable_after(
            &Error::Protocol("unexpected".into()),
            Session::InTransaction
        ));
        assert!(!unusable_after(&Error::RowNotFound, Session::Idle));
        assert!(!unusable_after(
            &Error::ColumnNotFound("x".into()),
            Session::InTransaction
        ));
    }
}
