//! A Redis connection used under a deadline, shared by the features that must not wait on
//! Redis (the read cache, rate limits, the login lockout). An operation that fails or does not
//! answer within the deadline makes the caller go without Redis, and Redis is then left alone
//! for a second, so that a dead or stalled Redis costs no request more than one deadline.

use redis::{RedisResult, aio::ConnectionManager};
use std::{
    future::Future,
    sync::Mutex,
    time::{Duration, Instant},
};

/// After a failed operation, Redis is bypassed for this long.
pub const BACKOFF: Duration = Duration::from_secs(1);

pub struct RedisLink {
    conn: ConnectionManager,
    timeout: Duration,
    bypass_until: Mutex<Option<Instant>>,
    /// The feature, for the logs and `orderflow_redis_errors_total{component}` ("cache",
    /// "rate_limit", "login_lockout").
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

    pub fn conn(&self) -> ConnectionManager {
        self.conn.clone()
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// True while the back-off after a failure lasts.
    pub fn bypassing(&self) -> bool {
        let mut until = self.bypass_until.lock().expect("redis link lock");
        match *until {
            Some(t) if Instant::now() < t => true,
            Some(_) => {
                *until = None;
                false
            }
            None => false,
        }
    }

    /// Starts (or extends) the back-off; logs once per back-off; counts every failure.
    pub fn failed(&self, operation: &str, error: &str) {
        crate::metrics::redis_error(self.what);
        let mut until = self.bypass_until.lock().expect("redis link lock");
        if until.is_none() {
            tracing::warn!(
                %error,
                "redis {} {operation} failed; going without Redis for {BACKOFF:?}",
                self.what
            );
        }
        *until = Some(Instant::now() + BACKOFF);
    }

    /// The operation's answer within the deadline, or why not.
    pub async fn run<T, F, Fut>(&self, operation: F) -> Result<T, String>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let mut span = crate::telemetry::spans::redis(self.what);
        let answer = tokio::time::timeout(self.timeout, operation(self.conn())).await;
        if let Some(span) = span.as_mut()
            && !matches!(answer, Ok(Ok(_)))
        {
            span.fail();
        }
        match answer {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {:?}", self.timeout)),
        }
    }

    /// `run`, skipped while bypassing; a failure starts the back-off. `None`: decide without
    /// Redis.
    pub async fn try_run<T, F, Fut>(&self, operation: &str, run: F) -> Option<T>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        if self.bypassing() {
            return None;
        }
        match self.run(run).await {
            Ok(answer) => Some(answer),
            Err(error) => {
                self.failed(operation, &error);
                None
            }
        }
    }
}
