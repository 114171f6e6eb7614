//! The per-account login lockout (`shared/src/domain/lockout.rs` decides the cool-downs).
//! Failures are counted per email address, whether or not an account has it, so a lockout
//! says nothing about which accounts exist. In Redis — `{ns}:login:failures:{h}` (a count,
//! forgotten `LOGIN_FAILURE_WINDOW_SECONDS` after the last failure) and `{ns}:login:lock:{h}`
//! (present while locked), `h` being the SHA-256 of the address — so every instance sees
//! the same count; in this instance's memory while Redis does not answer.

use metrics::counter;
use orderflow_shared::{domain::lockout, redis_link::RedisLink, settings::LockoutSettings};
use redis::aio::ConnectionManager;
use sha2::{Digest, Sha256};
use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

/// Entries kept in memory while Redis is away; beyond this, the oldest are forgotten.
const MAX_LOCAL: usize = 100_000;

pub struct LoginGuard {
    link: RedisLink,
    prefix: String,
    settings: LockoutSettings,
    local: Mutex<HashMap<String, LocalEntry>>,
}

#[derive(Debug, Clone, Copy)]
struct LocalEntry {
    failures: u32,
    last_failure: Instant,
    locked_until: Option<Instant>,
}

impl LoginGuard {
    pub fn new(
        conn: ConnectionManager,
        namespace: &str,
        settings: LockoutSettings,
        timeout: Duration,
    ) -> Self {
        Self {
            link: RedisLink::new(conn, timeout, "login_lockout"),
            prefix: format!("{namespace}:login"),
            settings,
            local: Mutex::new(HashMap::new()),
        }
    }

    fn hashed(username: &str) -> String {
        hex::encode(Sha256::digest(lockout::account_key(username).as_bytes()))
    }

    fn keys(&self, username: &str) -> (String, String) {
        self.keys_of(&Self::hashed(username))
    }

    fn keys_of(&self, hashed: &str) -> (String, String) {
        (
            format!("{}:failures:{hashed}", self.prefix),
            format!("{}:lock:{hashed}", self.prefix),
        )
    }

    /// How long the account stays locked, if it is.
    pub async fn locked_for(&self, username: &str) -> Option<Duration> {
        if self.settings.threshold == 0 {
            return None;
        }
        let (_, lock) = self.keys(username);
        let remote = self
            .link
            .try_run("check", |mut conn| async move {
                redis::cmd("PTTL")
                    .arg(&lock)
                    .query_async::<i64>(&mut conn)
                    .await
            })
            .await;
        match remote {
            Some(ms) if ms > 0 => Some(Duration::from_millis(ms as u64)),
            Some(_) => None,
            None => {
                fallback();
                self.local_locked_for(username)
            }
        }
    }

    /// Counts a failed login; returns the cool-down it starts, if it locks the account.
    pub async fn failed(&self, username: &str) -> Option<Duration> {
        if self.settings.threshold == 0 {
            return None;
        }
        let (failures, lock) = self.keys(username);
        let window_ms = self.settings.window.as_millis() as i64;
        let key = failures.clone();
        let count = self
            .link
            .try_run("count", |mut conn| async move {
                let (count, _): (u32, bool) = redis::pipe()
                    .atomic()
                    .incr(&key, 1)
                    .pexpire(&key, window_ms)
                    .query_async(&mut conn)
                    .await?;
                Ok(count)
            })
            .await;
        let Some(count) = count else {
            fallback();
            return self.local_failed(username);
        };
        let cooldown = lockout::cooldown(count, &self.settings)?;
        let ms = cooldown.as_millis().max(1) as u64;
        let _ = self
            .link
            .try_run("lock", |mut conn| async move {
                redis::cmd("SET")
                    .arg(&lock)
                    .arg(count)
                    .arg("PX")
                    .arg(ms)
                    .query_async::<()>(&mut conn)
                    .await
            })
            .await;
        counter!("orderflow_login_lockouts_total").increment(1);
        Some(cooldown)
    }

    /// A successful login forgets the account's failures.
    pub async fn succeeded(&self, username: &str) {
        self.clear(username).await;
    }

    /// Lifts a lockout (an admin's unlock) and forgets the failures; false when Redis could
    /// not be told (the lockout there stays).
    pub async fn unlock(&self, username: &str) -> bool {
        self.clear(username).await
    }

    async fn clear(&self, username: &str) -> bool {
        let hashed = Self::hashed(username);
        let (failures, lock) = self.keys_of(&hashed);
        let cleared = self
            .link
            .try_run("clear", |mut conn| async move {
                redis::cmd("DEL")
                    .arg(&failures)
                    .arg(&lock)
                    .query_async::<()>(&mut conn)
                    .await
            })
            .await
            .is_some();
        self.local.lock().expect("lockout lock").remove(&hashed);
        cleared
    }

    fn local_locked_for(&self, username: &str) -> Option<Duration> {
        let local = self.local.lock().expect("lockout lock");
        let until = local.get(&Self::hashed(username))?.locked_until?;
        until.checked_duration_since(Instant::now())
    }

    fn local_failed(&self, username: &str) -> Option<Duration> {
        let now = Instant::now();
        let mut local = self.local.lock().expect("lockout lock");
        if local.len() >= MAX_LOCAL {
            let window = self.settings.window;
            local.retain(|_, e| now.duration_since(e.last_failure) < window);
            if local.len() >= MAX_LOCAL {
                local.clear();
            }
        }
        let entry = local.entry(Self::hashed(username)).or_insert(LocalEntry {
            failures: 0,
            last_failure: now,
            locked_until: None,
        });
        if now.duration_since(entry.last_failure) >= self.settings.window {
            entry.failures = 0;
        }
        entry.failures += 1;
        entry.last_failure = now;
        let cooldown = lockout::cooldown(entry.failures, &self.settings)?;
        entry.locked_until = Some(now + cooldown);
        counter!("orderflow_login_lockouts_total").increment(1);
        Some(cooldown)
    }
}

fn fallback() {
    counter!("orderflow_limits_fallback_total", "limiter" => "login_lockout").increment(1);
}
