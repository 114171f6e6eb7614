//! What the soak looks at every minute: each process's resident memory and open file
//! descriptors, Redis' memory, sessions idle in a transaction, and whether every order
//! answered 201 so far is in the database.

use sqlx::PgPool;
use std::{collections::BTreeMap, time::Duration};

/// A session idle in a transaction longer than this is a leak, not a request between two
/// statements.
const LEAKED_AFTER_SECONDS: f64 = 5.0;

#[derive(Debug, Clone, Default)]
pub struct Sample {
    pub minute: u64,
    /// slot name → (start number, RSS KiB, open fds), for the processes running.
    pub processes: BTreeMap<String, (u32, u64, u64)>,
    pub redis_used_memory: Option<u64>,
    /// Sessions idle in a transaction for over 5 s (`None`: PostgreSQL did not answer).
    pub idle_in_transaction: Option<i64>,
    /// Orders answered 201 so far, and how many of them the database lacks.
    pub answered_201: usize,
    pub missing: Option<usize>,
}

fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn open_fds(pid: u32) -> Option<u64> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64)
}

pub fn processes(pids: &[(String, u32, u32)]) -> BTreeMap<String, (u32, u64, u64)> {
    pids.iter()
        .filter_map(|(name, starts, pid)| {
            Some((
                name.clone(),
                (*starts, proc_status_kib(*pid, "VmRSS:")?, open_fds(*pid)?),
            ))
        })
        .collect()
}

pub async fn redis_used_memory(url: &str) -> Option<u64> {
    let client = redis::Client::open(url).ok()?;
    let mut conn = tokio::time::timeout(
        Duration::from_secs(2),
        client.get_multiplexed_async_connection(),
    )
    .await
    .ok()?
    .ok()?;
    let info: String = redis::cmd("INFO")
        .arg("memory")
        .query_async(&mut conn)
        .await
        .ok()?;
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
}

pub async fn idle_in_transaction(db: &PgPool, database: &str) -> Option<i64> {
    tokio::time::timeout(
        Duration::from_secs(5),
        sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 \
             AND state LIKE 'idle in transaction%' \
             AND now() - state_change > make_interval(secs => $2)",
        )
        .bind(database)
        .bind(LEAKED_AFTER_SECONDS)
        .fetch_one(db),
    )
    .await
    .ok()?
    .ok()
}

/// How many of `ids` the database lacks.
pub async fn missing(db: &PgPool, ids: &[i64]) -> Option<usize> {
    let found: i64 = tokio::time::timeout(
        Duration::from_secs(10),
        sqlx::query_scalar("SELECT count(*) FROM orders WHERE id = ANY($1)")
            .bind(ids)
            .fetch_one(db),
    )
    .await
    .ok()?
    .ok()?;
    Some(ids.len().saturating_sub(found as usize))
}
