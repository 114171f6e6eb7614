//! Settling a connection whose user left it with work on the server (cut short at an await,
//! inside a transaction, or after an error): off the request path, while it keeps its slot,
//! so that it is idle on the server before anyone else can take it.

use sqlx::{Connection, Error, PgConnection};
use std::sync::{Arc, atomic::Ordering};
use tokio::sync::OwnedSemaphorePermit;

use super::{
    Inner, Meta,
    conn::{Op, Session},
    lifecycle::{self, Reason},
};

/// What settling does with the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    /// Read every pending response; the session is then idle.
    Drain,
    /// Roll back (which first reads every pending response): a transaction is or may be open.
    RollBack,
    /// Read every pending response, then close: a `COMMIT` or `ROLLBACK` was cut short, so
    /// its outcome is the server's to decide and the session is not worth a guess.
    DrainAndClose,
}

/// Why the connection needs settling, for `orderflow_db_pool_settles_total{cause}`.
fn cause(op: Option<Op>, session: Session) -> &'static str {
    match op {
        Some(Op::Failed) => "error",
        Some(_) => "cut_short",
        None if session == Session::InTransaction => "transaction_dropped",
        None => "error",
    }
}

fn plan(op: Option<Op>, session: Session) -> Plan {
    match (op, session) {
        (Some(Op::Commit | Op::Rollback), _) => Plan::DrainAndClose,
        // A `BEGIN` cut short: it was sent (it is written before the first await), so the
        // session is in a transaction once its answer is read.
        (Some(Op::Begin), _) | (_, Session::InTransaction) => Plan::RollBack,
        (_, Session::Idle) => Plan::Drain,
    }
}

/// Settles `raw` in a task of its own; parks it when it is idle on the server, closes it
/// otherwise or after the pool's `settle_timeout`.
pub(super) fn spawn(
    pool: Arc<Inner>,
    raw: PgConnection,
    meta: Meta,
    slot: Option<OwnedSemaphorePermit>,
    (op, session): (Option<Op>, Session),
) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        // No runtime (process exit): dropping the socket ends the session, and the server
        // rolls back whatever was open.
        lifecycle::forget(&pool, Reason::SettleFailed);
        return;
    };
    pool.settling.fetch_add(1, Ordering::Relaxed);
    let cause = cause(op, session);
    if cause == "cut_short" {
        pool.cut_short.fetch_add(1, Ordering::Relaxed);
    }
    runtime.spawn(async move {
        let mut raw = raw;
        let plan = plan(op, session);
        let settled = tokio::time::timeout(pool.options.settle_timeout, run(&mut raw, plan)).await;
        pool.settling.fetch_sub(1, Ordering::Relaxed);
        match settled {
            Ok(Ok(())) if plan != Plan::DrainAndClose => {
                count(cause, "reused");
                pool.park(raw, meta, slot);
            }
            Ok(Ok(())) => {
                count(cause, "closed");
                lifecycle::close(&pool, raw, slot, Reason::EndCutShort);
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, cause, "a connection could not be settled; closed");
                count(cause, "closed");
                pool.suspect_parked();
                lifecycle::close(&pool, raw, slot, Reason::SettleFailed);
            }
            Err(_) => {
                tracing::warn!(cause, "a connection took too long to settle; closed");
                count(cause, "closed");
                drop(raw);
                lifecycle::forget(&pool, Reason::SettleFailed);
                drop(slot);
            }
        }
    });
}

async fn run(raw: &mut PgConnection, plan: Plan) -> Result<(), Error> {
    match plan {
        Plan::Drain | Plan::DrainAndClose => raw.ping().await,
        Plan::RollBack => sqlx::raw_sql("ROLLBACK").execute(raw).await.map(|_| ()),
    }
}

fn count(cause: &'static str, outcome: &'static str) {
    metrics::counter!("orderflow_db_pool_settles_total", "cause" => cause, "outcome" => outcome)
        .increment(1);
}

/// Every (cause, outcome) pair, at 0.
pub(super) fn register_metrics() {
    for cause in ["cut_short", "transaction_dropped", "error"] {
        for outcome in ["reused", "closed"] {
            metrics::counter!("orderflow_db_pool_settles_total", "cause" => cause, "outcome" => outcome)
                .absolute(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_way_a_connection_can_be_left_has_its_plan() {
        use Op::*;
        use Session::*;
        let cases = [
            (None, InTransaction, Plan::RollBack, "transaction_dropped"),
            (Some(Begin), Idle, Plan::RollBack, "cut_short"),
            (Some(Statement), Idle, Plan::Drain, "cut_short"),
            (Some(Statement), InTransaction, Plan::RollBack, "cut_short"),
            (Some(Check), Idle, Plan::Drain, "cut_short"),
            (
                Some(Commit),
                InTransaction,
                Plan::DrainAndClose,
                "cut_short",
            ),
            (
                Some(Rollback),
                InTransaction,
                Plan::DrainAndClose,
                "cut_short",
            ),
            (Some(Failed), Idle, Plan::Drain, "error"),
            (Some(Failed), InTransaction, Plan::RollBack, "error"),
        ];
        for (op, session, want_plan, want_cause) in cases {
            assert_eq!(plan(op, session), want_plan, "{op:?} {session:?}");
            assert_eq!(cause(op, session), want_cause, "{op:?} {session:?}");
        }
    }
}
