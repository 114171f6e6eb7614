//! One Redis connection used with a deadline: an operation that fails or does not answer
//! within it makes the caller decide locally, and Redis is then left alone for a second so
//! that a dead or stalled Redis costs no request more than one timeout.

use metrics::counter;
use redis::{RedisResult, aio::ConnectionManager};
use std::{
    future::Future,
    sync::Mutex,
    time::{Duration, Instant},
};

const BACKOFF: Duration = Duration::from_secs(1);

pub(super) struct RedisLink {
    conn: ConnectionManager,
    timeout: Duration,
    bypass_until: Mutex<Option<Instant>>,
    /// For the logs and the `orderflow_limits_fallback_total` counter.
    what: &'static str,
}

impl RedisLink {
    pub fn new(conn: ConnectionManager, timeout: Duration, what: &'static str) -> Self {
        Self {
            conn,
            timeout,
            bypass_until: Mutex::new(None),
            what,
        }
    }

    /// The operation's answer, or `None` when Redis failed, was too slow, or is being bypassed.
    pub async fn run<T, F, Fut>(&self, operation: F) -> Option<T>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        if self.bypassing() {
            counter!("orderflow_limits_fallback_total", "limiter" => self.what).increment(1);
            return None;
        }
        let error = match tokio::time::timeout(self.timeout, operation(self.conn.clone())).await {
            Ok(Ok(answer)) => return Some(answer),
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {:?}", self.timeout),
        };
        counter!("orderflow_limits_fallback_total", "limiter" => self.what).increment(1);
        let mut until = self.bypass_until.lock().expect("link lock");
        if until.is_none() {
            tracing::warn!(%error, "redis {} check failed; this instance decides alone for {BACKOFF:?}", self.what);
        }
        *until = Some(Instant::now() + BACKOFF);
        None
    }

    fn bypassing(&self) -> bool {
        let mut until = self.bypass_until.lock().expect("link lock");
        match *until {
            Some(t) if Instant::now() < t => true,
            Some(_) => {
                *until = None;
                false
            }
            None => false,
        }
    }
}
