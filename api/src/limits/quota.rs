//! Request quotas (GCRA: a token bucket of `burst` requests refilled one every `replenish`),
//! checked in one Redis round trip (`gcra.lua`, by `EVALSHA`) against keys that every API
//! instance shares — per request for an occasional client, per lease of up to 64 requests
//! for a busy one (`lease.rs`). While Redis is unreachable or slower than `RATE_LIMIT_TIMEOUT_MS`, this
//! instance's own governor limiter decides instead, with the same quota.

use governor::{
    Quota, RateLimiter,
    clock::{Clock, DefaultClock},
    middleware::StateInformationMiddleware,
    state::keyed::DefaultKeyedStateStore,
};
use metrics::counter;
use orderflow_shared::{
    redis_link::RedisLink,
    settings::{LimitSettings, RateLimit},
};
use redis::aio::ConnectionManager;
use std::{
    num::NonZeroU32,
    sync::{Arc, Weak},
    time::{Duration, Instant},
};

use super::lease::Leases;

/// Which quota a request draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Register, login, refresh, logout: per client IP.
    Auth,
    /// Any other `/api/v1` request without a valid access token: per client IP.
    Anonymous,
    /// POST, PATCH, DELETE by an authenticated user: per user.
    UserWrite,
    /// Reads by an authenticated user: per user.
    UserRead,
    /// Account emails asked for (verification resends, password resets): per account and
    /// per address (`ACCOUNT_EMAILS_PER_HOUR`).
    AccountEmail,
}

impl Class {
    pub const ALL: [Class; 5] = [
        Self::Auth,
        Self::Anonymous,
        Self::UserWrite,
        Self::UserRead,
        Self::AccountEmail,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auth => "auth",
            Self::Anonymous => "anonymous",
            Self::UserWrite => "user_write",
            Self::UserRead => "user_read",
            Self::AccountEmail => "account_email",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The outcome of one check, with what the `RateLimit-*` headers report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub quota: RateLimit,
    /// Requests still allowed right now.
    pub remaining: u32,
    /// Until the whole quota is available again.
    pub reset: Duration,
    /// Until the next request is allowed (zero when this one was).
    pub retry_after: Duration,
}

type Local =
    RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock, StateInformationMiddleware>;

pub struct Limiter {
    enabled: bool,
    link: RedisLink,
    script: redis::Script,
    prefix: String,
    quotas: [RateLimit; 5],
    /// Requests already counted in Redis, admitted here without asking again.
    leases: Leases,
    local: [Local; 5],
}

impl Limiter {
    /// Keys are `{namespace}:ratelimit:{class}:{subject}`. Starts the task that forgets idle
    /// clients of the local fallback (call inside a Tokio runtime).
    pub fn new(
        conn: ConnectionManager,
        namespace: &str,
        settings: &LimitSettings,
        account_emails: RateLimit,
    ) -> Arc<Self> {
        let quotas = Class::ALL.map(|class| match class {
            Class::Auth => settings.auth_per_ip,
            Class::Anonymous => settings.anonymous_per_ip,
            Class::UserWrite => settings.user_writes,
            Class::UserRead => settings.user_reads,
            Class::AccountEmail => account_emails,
        });
        let limiter = Arc::new(Self {
            enabled: settings.enabled,
            link: RedisLink::new(conn, settings.redis_timeout, "rate_limit"),
            script: redis::Script::new(include_str!("gcra.lua")),
            prefix: format!("{namespace}:ratelimit"),
            quotas,
            leases: Leases::default(),
            local: quotas.map(|q| RateLimiter::keyed(governor_quota(q)).with_middleware()),
        });
        tokio::spawn(forget_idle_clients(Arc::downgrade(&limiter)));
        limiter
    }

    /// False when `RATE_LIMIT_ENABLED=false`: requests pass unchecked.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    pub fn quota(&self, class: Class) -> RateLimit {
        self.quotas[class.index()]
    }

    /// Takes one request from `subject`'s quota of `class`: from this instance's lease when
    /// it holds one, else from Redis (one round trip, leasing more for a busy client).
    pub async fn check(&self, class: Class, subject: &str) -> Decision {
        let quota = self.quota(class);
        let key = format!("{}:{}:{subject}", self.prefix, class.as_str());
        let now = Instant::now();
        if let Some(admitted) = self.leases.take(&key, now) {
            return Decision {
                allowed: true,
                quota,
                remaining: admitted.remaining,
                reset: admitted.reset,
                retry_after: Duration::ZERO,
            };
        }
        let want = self.leases.next_size(&key, quota.burst, now);
        let interval_us = u64::try_from(quota.replenish.as_micros()).unwrap_or(u64::MAX);
        let script = &self.script;
        let answer = self
            .link
            .try_run("check", |mut conn| async move {
                script
                    .key(&key)
                    .arg(interval_us)
                    .arg(quota.burst)
                    .arg(want)
                    .invoke_async::<(i64, i64, i64, i64)>(&mut conn)
                    .await
                    .map(|answer| (answer, key))
            })
            .await;
        let decision = match answer {
            Some(((granted, remaining, retry_us, reset_us), key)) => {
                let granted = u32::try_from(granted.max(0)).unwrap_or(0);
                let remaining = u32::try_from(remaining.max(0)).unwrap_or(u32::MAX);
                let reset = micros(reset_us);
                if granted > 0 {
                    self.leases
                        .granted(&key, want, granted, remaining, reset, now);
                }
                Decision {
                    allowed: granted > 0,
                    quota,
                    remaining: remaining + granted.saturating_sub(1),
                    reset,
                    retry_after: micros(retry_us),
                }
            }
            None => {
                counter!("orderflow_limits_fallback_total", "limiter" => "rate_limit").increment(1);
                self.check_locally(class, subject)
            }
        };
        if !decision.allowed {
            counter!("orderflow_rate_limited_total", "limiter" => class.as_str()).increment(1);
        }
        decision
    }

    fn check_locally(&self, class: Class, subject: &str) -> Decision {
        let quota = self.quota(class);
        match self.local[class.index()].check_key(&subject.to_owned()) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                Decision {
                    allowed: true,
                    quota,
                    remaining,
                    reset: quota
                        .replenish
                        .saturating_mul(quota.burst - remaining.min(quota.burst)),
                    retry_after: Duration::ZERO,
                }
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                Decision {
                    allowed: false,
                    quota,
                    remaining: 0,
                    reset: wait
                        + quota
                            .replenish
                            .saturating_mul(quota.burst.saturating_sub(1)),
                    retry_after: wait,
                }
            }
        }
    }
}

fn micros(us: i64) -> Duration {
    Duration::from_micros(u64::try_from(us.max(0)).unwrap_or(0))
}

fn governor_quota(limit: RateLimit) -> Quota {
    Quota::with_period(limit.replenish.max(Duration::from_micros(1)))
        .expect("the period is non-zero")
        .allow_burst(NonZeroU32::new(limit.burst.max(1)).expect("non-zero"))
}

/// Drops the local fallback's state of clients not seen lately, so it does not grow with
/// every address it ever saw.
async fn forget_idle_clients(limiter: Weak<Limiter>) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tick.tick().await;
        let Some(limiter) = limiter.upgrade() else {
            return;
        };
        for local in &limiter.local {
            local.retain_recent();
            local.shrink_to_fit();
        }
        limiter.leases.forget_expired(Instant::now());
    }
}
