//! The Redis read cache for single orders and products (`GET /orders/{id}`,
//! `GET /products/{id}`). Redis rather than a map in each process, so that one invalidation
//! reaches every API instance.
//!
//! - Each entry is `tag\nbody`: the exact response body, and the one fact authorisation needs
//!   (the order's customer id; whether the product is active), checked on every hit before the
//!   body is returned.
//! - Writers invalidate after their commit, in the same code path, by overwriting the key
//!   with an empty *tombstone* for a few seconds. Readers fill only with `SET NX`, and only
//!   from a database read younger than the tombstone's life, so a read that started before a
//!   change can never land after its invalidation.
//! - Redis slow or down: every operation gives up after `CACHE_TIMEOUT_MS`, then the cache is
//!   bypassed for a second (the database answers). An invalidation that could not be written
//!   is retried in the background until it is; if too many pile up, the whole cache is
//!   emptied once Redis answers again.
//! - `CACHE_TTL_SECONDS=0` turns reads and fills off; invalidations still run, so instances
//!   with different settings stay correct together.

use metrics::counter;
use redis::aio::ConnectionManager;
use std::{
    collections::HashSet,
    sync::{Arc, Mutex, Weak},
    time::{Duration, Instant},
};

use crate::redis_link::RedisLink;

/// How long a tombstone blocks fills.
const TOMBSTONE: Duration = Duration::from_secs(5);
/// A database read older than this when its fill is sent is not cached (well below
/// `TOMBSTONE`, so a fill can never outlive the tombstone that should have stopped it).
const MAX_FILL_AGE: Duration = Duration::from_secs(1);
/// Failed invalidations kept for retry; beyond this the whole cache is flushed instead.
const MAX_PENDING: usize = 10_000;
const RETRY_EVERY: Duration = Duration::from_millis(250);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entity {
    Order,
    Product,
}

impl Entity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Order => "order",
            Self::Product => "product",
        }
    }
}

/// A cached response: the authorisation tag and the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub tag: i64,
    pub body: Vec<u8>,
}

#[derive(Clone)]
pub struct ReadCache {
    inner: Arc<Inner>,
}

struct Inner {
    /// Deadline and back-off of every operation.
    link: RedisLink,
    prefix: String,
    /// `None`: reads and fills are off.
    ttl: Option<Duration>,
    pending: Mutex<Pending>,
}

#[derive(Default)]
struct Pending {
    keys: HashSet<String>,
    flush_all: bool,
}

impl ReadCache {
    /// `namespace` is the deployment's Redis key prefix (`REDIS_KEY_PREFIX`). Starts the
    /// background retry of failed invalidations (call inside a Tokio runtime).
    pub fn new(conn: ConnectionManager, namespace: &str, ttl: Duration, timeout: Duration) -> Self {
        let inner = Arc::new(Inner {
            link: RedisLink::new(conn, timeout, "cache"),
            prefix: format!("{namespace}:cache"),
            ttl: (!ttl.is_zero()).then_some(ttl),
            pending: Mutex::new(Pending::default()),
        });
        tokio::spawn(retry_pending(Arc::downgrade(&inner)));
        Self { inner }
    }

    fn key(&self, entity: Entity, id: i64) -> String {
        format!("{}:{}:{id}", self.inner.prefix, entity.as_str())
    }

    fn bypassing(&self) -> bool {
        self.inner.link.bypassing()
    }

    fn failed(&self, what: &str, error: &str) {
        self.inner.link.failed(what, error);
    }

    async fn run<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, String> {
        self.inner
            .link
            .run(|mut conn| async move { cmd.query_async::<T>(&mut conn).await })
            .await
    }

    /// The cached response, or `None` (miss, tombstone, cache off, Redis failing).
    pub async fn get(&self, entity: Entity, id: i64) -> Option<Hit> {
        let outcome = |o: &'static str| {
            counter!("orderflow_cache_requests_total", "entity" => entity.as_str(), "outcome" => o)
                .increment(1);
        };
        self.inner.ttl?;
        if self.bypassing() {
            outcome("bypass");
            return None;
        }
        match self
            .run::<Option<Vec<u8>>>(redis::cmd("GET").arg(self.key(entity, id)))
            .await
        {
            Ok(Some(value)) => match decode(&value) {
                Some(hit) => {
                    outcome("hit");
                    Some(hit)
                }
                None => {
                    outcome("miss");
                    None
                }
            },
            Ok(None) => {
                outcome("miss");
                None
            }
            Err(e) => {
                outcome("error");
                self.failed("read", &e);
                None
            }
        }
    }

    /// Caches a response read from the database at `read_started`, unless an entry or a
    /// tombstone is already there.
    pub async fn fill(
        &self,
        entity: Entity,
        id: i64,
        tag: i64,
        body: &[u8],
        read_started: Instant,
    ) {
        let Some(ttl) = self.inner.ttl else { return };
        if read_started.elapsed() > MAX_FILL_AGE || self.bypassing() {
            return;
        }
        let mut value = Vec::with_capacity(body.len() + 21);
        value.extend_from_slice(tag.to_string().as_bytes());
        value.push(b'\n');
        value.extend_from_slice(body);
        let cmd = redis::cmd("SET")
            .arg(self.key(entity, id))
            .arg(value)
            .arg("EX")
            .arg(ttl.as_secs().max(1))
            .arg("NX")
            .to_owned();
        if let Err(e) = self.run::<Option<String>>(&cmd).await {
            self.failed("fill", &e);
        }
    }

    /// Invalidates after a committed change. Never fails the caller: what cannot be written
    /// now is retried in the background.
    pub async fn invalidate(&self, entity: Entity, ids: &[i64]) {
        if ids.is_empty() {
            return;
        }
        let keys: Vec<String> = ids.iter().map(|&id| self.key(entity, id)).collect();
        let result = if self.bypassing() {
            Err("bypassing after an earlier failure".to_string())
        } else {
            tombstone(&self.inner, &keys).await
        };
        let outcome = match result {
            Ok(()) => "done",
            Err(e) => {
                self.failed("invalidation", &e);
                defer(&self.inner, keys);
                "deferred"
            }
        };
        counter!("orderflow_cache_invalidations_total", "entity" => entity.as_str(), "outcome" => outcome)
            .increment(ids.len() as u64);
    }
}

fn decode(value: &[u8]) -> Option<Hit> {
    let newline = value.iter().position(|&b| b == b'\n')?;
    let tag = std::str::from_utf8(&value[..newline]).ok()?.parse().ok()?;
    Some(Hit {
        tag,
        body: value[newline + 1..].to_vec(),
    })
}

async fn tombstone(inner: &Inner, keys: &[String]) -> Result<(), String> {
    let mut pipe = redis::pipe();
    for key in keys {
        pipe.cmd("SET")
            .arg(key)
            .arg("")
            .arg("PX")
            .arg(TOMBSTONE.as_millis() as u64)
            .ignore();
    }
    let mut conn = inner.link.conn();
    match tokio::time::timeout(inner.link.timeout() * 4, pipe.query_async::<()>(&mut conn)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("no answer in time".into()),
    }
}

fn defer(inner: &Inner, keys: Vec<String>) {
    let mut pending = inner.pending.lock().expect("cache lock");
    if pending.flush_all {
        return;
    }
    pending.keys.extend(keys);
    if pending.keys.len() > MAX_PENDING {
        pending.keys.clear();
        pending.flush_all = true;
    }
}

/// Retries deferred invalidations until they are written (or flushes everything).
async fn retry_pending(inner: Weak<Inner>) {
    loop {
        tokio::time::sleep(RETRY_EVERY).await;
        let Some(inner) = inner.upgrade() else { return };
        let (keys, flush_all) = {
            let mut pending = inner.pending.lock().expect("cache lock");
            (
                pending.keys.drain().collect::<Vec<_>>(),
                std::mem::take(&mut pending.flush_all),
            )
        };
        if keys.is_empty() && !flush_all {
            continue;
        }
        let result = if flush_all {
            flush(&inner).await
        } else {
            tombstone(&inner, &keys).await
        };
        match result {
            Ok(()) => {
                tracing::info!(
                    keys = keys.len(),
                    flush_all,
                    "deferred cache invalidations written"
                );
            }
            Err(_) => {
                let mut pending = inner.pending.lock().expect("cache lock");
                pending.flush_all |= flush_all;
                if !pending.flush_all {
                    pending.keys.extend(keys);
                }
            }
        }
    }
}

/// Deletes every cache entry (too many invalidations were lost to keep them one by one).
async fn flush(inner: &Inner) -> Result<(), String> {
    let mut conn = inner.link.conn();
    let pattern = format!("{}:*", inner.prefix);
    let mut cursor: u64 = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
        if !keys.is_empty() {
            redis::cmd("UNLINK")
                .arg(keys)
                .query_async::<()>(&mut conn)
                .await
                .map_err(|e| e.to_string())?;
        }
        if next == 0 {
            return Ok(());
        }
        cursor = next;
    }
}

#[cfg(test)]
mod tests {
    use super::decode;

    #[test]
    fn entries_carry_their_tag_and_tombstones_are_misses() {
        assert_eq!(
            decode(b"42\n{\"id\":1}").map(|h| (h.tag, h.body)),
            Some((42, b"{\"id\":1}".to_vec()))
        );
        assert_eq!(decode(b""), None);
        assert_eq!(decode(b"x\n{}"), None);
    }
}
