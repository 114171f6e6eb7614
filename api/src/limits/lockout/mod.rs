//! The login lockout (`shared/src/domain/lockout.rs` decides who may try and for how long).
//! Failures are counted per (account, client network) and per account, whether or not an
//! account has the address, so an answer says nothing about which accounts exist. An attempt
//! is counted when it starts — before its password is hashed — by one script (`admit.lua`),
//! so parallel guesses cannot outrun the count.
//!
//! In Redis, so every instance sees the same counts: `{ns}:login:{a}` (a hash: failures and
//! locked-until per network, failures of the account) and `{ns}:login:{a}:inflight:{n}` (the
//! pair's attempts under way, forgotten after `STALE` should an instance die mid-attempt),
//! `a` and `n` being SHA-256 prefixes of the address and of the client's network. In this
//! instance's memory while Redis does not answer (`local.rs`).

mod local;

use metrics::counter;
use orderflow_shared::{domain::lockout, redis_link::RedisLink, settings::LockoutSettings};
use redis::aio::ConnectionManager;
use sha2::{Digest, Sha256};
use std::time::Duration;

use local::Local;

/// An attempt still counted as under way after this is forgotten (an instance died, or the
/// request was cut short, between admitting it and its outcome).
const STALE: Duration = Duration::from_secs(30);

pub struct LoginGuard {
    link: RedisLink,
    prefix: String,
    settings: LockoutSettings,
    admit: redis::Script,
    failed: redis::Script,
    local: Local,
}

/// What a login may do now.
#[derive(Debug)]
pub enum Admission {
    /// Try the password, after `delay` (the account's slowdown), and report the outcome.
    Admitted {
        attempt: Attempt,
        delay: Option<Duration>,
    },
    /// Not now: the pair is locked, or already has as many attempts under way as it may.
    Refused(Duration),
}

/// An admitted attempt, to be reported as failed, succeeded or abandoned.
#[derive(Debug)]
pub struct Attempt {
    account: String,
    network: String,
    id: String,
    /// Admitted by Redis (else by this instance's fallback).
    remote: bool,
}

/// What a failure led to.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Failure {
    /// The pair's new cool-down, when this failure locked it.
    pub locked_for: Option<Duration>,
    /// This failure starts the account's slowdown: its owner should get an unlock link.
    pub starts_slowdown: bool,
}

fn digest(value: &str) -> String {
    hex::encode(&Sha256::digest(value.as_bytes())[..16])
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
            local: Local::new(settings),
            settings,
            admit: redis::Script::new(include_str!("admit.lua")),
            failed: redis::Script::new(include_str!("failed.lua")),
        }
    }

    fn keys(&self, account: &str, network: &str) -> (String, String) {
        let hash = format!("{}:{account}", self.prefix);
        let inflight = format!("{hash}:inflight:{network}");
        (hash, inflight)
    }

    /// May `username`, from client `network`, try a password now?
    pub async fn admit(&self, username: &str, network: &str) -> Admission {
        let account = digest(&lockout::account_key(username));
        let network = digest(network);
        let id = uuid::Uuid::new_v4().simple().to_string();
        if self.settings.threshold == 0 && self.settings.slowdown_threshold == 0 {
            return Admission::Admitted {
                attempt: Attempt {
                    account,
                    network,
                    id,
                    remote: false,
                },
                delay: None,
            };
        }
        let (hash, inflight) = self.keys(&account, &network);
        let script = &self.admit;
        let (net, attempt_id) = (&network, &id);
        let answer = self
            .link
            .try_run("admit", |mut conn| async move {
                script
                    .key(&hash)
                    .key(&inflight)
                    .arg(net)
                    .arg(attempt_id)
                    .arg(self.settings.threshold)
                    .arg(STALE.as_millis() as u64)
                    .invoke_async::<(u8, u64, u32)>(&mut conn)
                    .await
            })
            .await;
        let (admitted, retry_ms, account_failures, remote) = match answer {
            Some((admitted, retry_ms, failures)) => (admitted == 1, retry_ms, failures, true),
            None => {
                fallback();
                let (admitted, retry, failures) = self.local.admit(&account, &network, &id);
                (admitted, retry.as_millis() as u64, failures, false)
            }
        };
        if !admitted {
            return Admission::Refused(Duration::from_millis(retry_ms.max(1)));
        }
        Admission::Admitted {
            attempt: Attempt {
                account,
                network,
                id,
                remote,
            },
            delay: lockout::account_delay(account_failures, &self.settings),
        }
    }

    /// Counts a failed attempt; may lock its pair, or start the account's slowdown.
    pub async fn failed(&self, attempt: Attempt) -> Failure {
        let threshold = self.settings.threshold;
        let failure = |pair: u32, account: u32, lock_ms: u64| {
            Failure {
                locked_for: (lock_ms > 0).then(|| Duration::from_millis(lock_ms)),
                starts_slowdown: lockout::starts_slowdown(account, &self.settings),
            }
            .counted(pair >= threshold && threshold > 0)
        };
        if attempt.remote {
            let (hash, inflight) = self.keys(&attempt.account, &attempt.network);
            let cooldowns: Vec<u64> = (0..32)
                .map(|i| {
                    lockout::cooldown(threshold + i, &self.settings)
                        .map_or(0, |d| d.as_millis().max(1) as u64)
                })
                .collect();
            let cooldowns = serde_json::to_string(&cooldowns).expect("numbers serialise");
            let script = &self.failed;
            let (net, attempt_id) = (&attempt.network, &attempt.id);
            let answer = self
                .link
                .try_run("failed", |mut conn| async move {
                    script
                        .key(&hash)
                        .key(&inflight)
                        .arg(net)
                        .arg(attempt_id)
                        .arg(self.settings.window.as_millis() as u64)
                        .arg(&cooldowns)
                        .arg(threshold)
                        .invoke_async::<(u32, u32, u64)>(&mut conn)
                        .await
                })
                .await;
            if let Some((pair, account, lock_ms)) = answer {
                return failure(pair, account, lock_ms);
            }
            fallback();
        }
        let (pair, account, lock) =
            self.local
                .failed(&attempt.account, &attempt.network, &attempt.id);
        failure(pair, account, lock.as_millis() as u64)
    }

    /// A success forgets its pair's failures (the account's are the attacker's: they stay).
    pub async fn succeeded(&self, attempt: Attempt) {
        self.local
            .succeeded(&attempt.account, &attempt.network, &attempt.id);
        if !attempt.remote {
            return;
        }
        let (hash, inflight) = self.keys(&attempt.account, &attempt.network);
        let network = attempt.network.clone();
        let id = attempt.id.clone();
        let _ = self
            .link
            .try_run("succeeded", |mut conn| async move {
                redis::pipe()
                    .atomic()
                    .zrem(&inflight, &id)
                    .hdel(&hash, &[format!("f:{network}"), format!("l:{network}")])
                    .query_async::<()>(&mut conn)
                    .await
            })
            .await;
    }

    /// An attempt that never got to check its password (no hashing slot): it counts for
    /// nothing.
    pub async fn abandoned(&self, attempt: Attempt) {
        self.local
            .abandoned(&attempt.account, &attempt.network, &attempt.id);
        if !attempt.remote {
            return;
        }
        let (_, inflight) = self.keys(&attempt.account, &attempt.network);
        let id = attempt.id.clone();
        let _ = self
            .link
            .try_run("abandoned", |mut conn| async move {
                redis::cmd("ZREM")
                    .arg(&inflight)
                    .arg(&id)
                    .query_async::<()>(&mut conn)
                    .await
            })
            .await;
    }

    /// Lifts every lock of the address and forgets its failures (an admin's unlock, an
    /// emailed unlock link, a password reset); false when Redis could not be told.
    pub async fn unlock(&self, username: &str) -> bool {
        let account = digest(&lockout::account_key(username));
        self.local.forget(&account);
        let hash = format!("{}:{account}", self.prefix);
        self.link
            .try_run("unlock", |mut conn| async move {
                redis::cmd("DEL")
                    .arg(&hash)
                    .query_async::<()>(&mut conn)
                    .await
            })
            .await
            .is_some()
    }
}

impl Failure {
    fn counted(self, locked: bool) -> Self {
        if locked {
            counter!("orderflow_login_lockouts_total").increment(1);
        }
        self
    }
}

fn fallback() {
    counter!("orderflow_limits_fallback_total", "limiter" => "login_lockout").increment(1);
}
