//! Typed settings read from the environment (and `.env` outside production): the core both
//! binaries read (`Settings`: database, Redis, logging, jobs, cache, account emails) and one
//! type per binary that owns its own variables and their production checks (`api.rs`:
//! `ApiSettings`; `worker.rs`: `WorkerSettings`). `read.rs` range-checks every number.

mod accounts;
mod api;
mod database;
pub mod production;
mod read;
mod worker;

pub use accounts::AccountSettings;
pub use api::ApiSettings;
pub use database::DatabaseSettings;
pub use worker::WorkerSettings;

use anyhow::bail;
pub use ipnet::IpNet;
use secrecy::{ExposeSecret, SecretString};
use std::{env, str::FromStr, time::Duration};

use read::{DAY, Vars, WEEK, YEAR};

/// The secret used when none is configured outside production; production refuses it.
pub const DEV_JWT_SECRET: &str = "orderflow-development-secret-do-not-use-in-prod";
/// HS256 keys shorter than this are refused in production (RFC 7518 §3.2).
pub const MIN_JWT_SECRET_BYTES: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppEnv {
    Development,
    Test,
    Production,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    None,
    StartTls,
    Tls,
}

/// One HS256 key with the `kid` that names it in token headers.
#[derive(Debug, Clone)]
pub struct JwtKey {
    pub kid: String,
    pub secret: SecretString,
}

#[derive(Debug, Clone)]
pub struct JwtSettings {
    /// Signs new tokens and verifies them.
    pub signing_key: JwtKey,
    /// Older keys still accepted for verification while tokens signed with them live.
    pub previous_keys: Vec<JwtKey>,
    pub issuer: String,
    pub audience: String,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    /// A login's absolute lifetime: refreshes never take a session past this.
    pub session_max: Duration,
}

#[derive(Debug, Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub password: Option<SecretString>,
    pub from: String,
    pub timeout: Duration,
}

/// A token bucket: `burst` requests at once, one more every `replenish`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub burst: u32,
    pub replenish: Duration,
}

/// Every request quota (`api/src/limits/`). Kept in Redis, so they hold across instances.
#[derive(Debug, Clone)]
pub struct LimitSettings {
    /// False leaves limiting to something in front of the API (`RATE_LIMIT_ENABLED`).
    pub enabled: bool,
    /// Per client IP on register, login, refresh and logout.
    pub auth_per_ip: RateLimit,
    /// Per client IP on `/api/v1` requests without a valid access token.
    pub anonymous_per_ip: RateLimit,
    /// Per authenticated user on POST, PATCH and DELETE.
    pub user_writes: RateLimit,
    /// Per authenticated user on GET (and HEAD, OPTIONS).
    pub user_reads: RateLimit,
    /// Longest a Redis check may take before this instance's own limiter decides instead.
    pub redis_timeout: Duration,
    /// Peers whose `X-Forwarded-For` is believed (load balancers, reverse proxies).
    pub trusted_proxies: Vec<IpNet>,
}

/// Login lockout and slowdown (`shared/src/domain/lockout.rs`).
#[derive(Debug, Clone, Copy)]
pub struct LockoutSettings {
    /// Failures from one client network that lock that (account, network) pair (0 turns
    /// lockout off).
    pub threshold: u32,
    /// The first cool-down; each further failure after it doubles it.
    pub base: Duration,
    pub max: Duration,
    /// Failures older than this (with none since) are forgotten.
    pub window: Duration,
    /// Failures of an account, from all networks, past which every attempt waits a delay
    /// (0 turns it off); the delay doubles every as many further failures.
    pub slowdown_threshold: u32,
    pub slowdown_base: Duration,
    pub slowdown_max: Duration,
}

/// How jobs are queued, retried and timed (API and worker).
#[derive(Debug, Clone)]
pub struct JobSettings {
    /// A pending order is cancelled this long after creation.
    pub pending_order_ttl: Duration,
    /// How often the outbox sweep looks for undispatched rows.
    pub outbox_sweep_interval: Duration,
    pub max_attempts: u32,
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    /// One attempt longer than this is a transient failure.
    pub timeout: Duration,
    /// A job dispatched this long ago with no attempt since is presumed lost by Redis and
    /// dispatched again. Keep it above `backoff_cap + timeout`.
    pub redispatch_after: Duration,
}

/// The Redis read cache (`cache.rs`).
#[derive(Debug, Clone)]
pub struct CacheSettings {
    /// How long an entry lives; zero turns reads off (invalidations still run).
    pub ttl: Duration,
    /// Longest a cache operation may take before the database answers instead.
    pub timeout: Duration,
}

/// What both binaries read.
#[derive(Debug, Clone)]
pub struct Settings {
    pub app_env: AppEnv,
    pub database: DatabaseSettings,
    pub redis_url: SecretString,
    /// Prefix of every Redis key OrderFlow writes — queues (`{prefix}:jobs:{kind}`), cache,
    /// rate limits, lockouts (`REDIS_KEY_PREFIX`); tests use their own.
    pub key_prefix: String,
    pub log_format: LogFormat,
    /// Longest a request may take (`REQUEST_TIMEOUT_SECONDS`); it also bounds the database's
    /// statement timeout.
    pub request_timeout: Duration,
    pub jobs: JobSettings,
    pub cache: CacheSettings,
    /// Verification, password-reset and unlock emails (the API asks for them, the worker
    /// sends them).
    pub accounts: AccountSettings,
    /// Deprecated variables in use: each binary logs them once its logging is up.
    pub warnings: Vec<String>,
}

type EnvLookup = fn(&str) -> Option<String>;

/// Settings read by `from_lookup` from the process environment, after loading `.env` unless
/// `APP_ENV=production` is already set.
fn from_env<T>(from_lookup: fn(EnvLookup) -> anyhow::Result<T>) -> anyhow::Result<T> {
    if env::var("APP_ENV").as_deref() != Ok("production") {
        let _ = dotenvy::dotenv();
    }
    from_lookup(|key| env::var(key).ok())
}

impl Settings {
    /// The core alone from the process environment (`.env` first, outside production): for
    /// the commands that only need the database (`orderflow-api migrate`, `db drop`).
    pub fn from_env() -> anyhow::Result<Self> {
        from_env(Self::from_lookup)
    }

    /// Builds the core from any key lookup (the environment, or a map in tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let vars = Vars::new(&get);
        let app_env = AppEnv::from_vars(&vars)?;
        let log_format = match vars.get("LOG_FORMAT").as_deref() {
            Some("json") => LogFormat::Json,
            Some("pretty") => LogFormat::Pretty,
            None if app_env == AppEnv::Production => LogFormat::Json,
            None => LogFormat::Pretty,
            Some(other) => bail!("LOG_FORMAT must be json or pretty, not {other:?}"),
        };
        let mut warnings = Vec::new();
        let key_prefix = match (vars.get("REDIS_KEY_PREFIX"), vars.get("JOBS_NAMESPACE")) {
            (Some(prefix), old) => {
                if old.is_some() {
                    warnings.push(
                        "JOBS_NAMESPACE is ignored: REDIS_KEY_PREFIX is set (remove \
                         JOBS_NAMESPACE; it is read for one more release only)"
                            .to_string(),
                    );
                }
                prefix
            }
            (None, Some(old)) => {
                warnings.push(
                    "JOBS_NAMESPACE is deprecated: it prefixes every Redis key, not only the \
                     jobs'; rename it to REDIS_KEY_PREFIX (it is read for one more release only)"
                        .to_string(),
                );
                old
            }
            (None, None) => "orderflow".to_string(),
        };
        let request_timeout = vars.seconds("REQUEST_TIMEOUT_SECONDS", 30, 1..=3600)?;
        let lookup = |key: &str| vars.get(key);
        Ok(Self {
            database: DatabaseSettings::from_lookup(&lookup, request_timeout)?,
            redis_url: vars.text("REDIS_URL", "redis://127.0.0.1:6379").into(),
            key_prefix,
            log_format,
            request_timeout,
            jobs: JobSettings {
                pending_order_ttl: vars.seconds("PENDING_ORDER_TTL_SECONDS", DAY, 1..=YEAR)?,
                outbox_sweep_interval: vars.millis(
                    "OUTBOX_SWEEP_INTERVAL_MS",
                    1000,
                    10..=3_600_000,
                )?,
                max_attempts: vars.count("JOB_MAX_ATTEMPTS", 10, 1..=100)?,
                backoff_base: vars.millis("JOB_BACKOFF_BASE_MS", 2000, 0..=DAY * 1000)?,
                backoff_cap: vars.millis("JOB_BACKOFF_CAP_MS", 600_000, 0..=DAY * 1000)?,
                timeout: vars.seconds("JOB_TIMEOUT_SECONDS", 60, 1..=DAY)?,
                redispatch_after: vars.seconds("JOB_REDISPATCH_AFTER_SECONDS", 900, 1..=WEEK)?,
            },
            cache: CacheSettings {
                ttl: vars.seconds("CACHE_TTL_SECONDS", 30, 0..=DAY)?,
                timeout: vars.millis("CACHE_TIMEOUT_MS", 50, 1..=60_000)?,
            },
            accounts: AccountSettings::from_lookup(&lookup, app_env)?,
            warnings,
            app_env,
        })
    }

    pub fn database_url(&self) -> &str {
        self.database.url.expose_secret()
    }

    pub fn redis_url(&self) -> &str {
        self.redis_url.expose_secret()
    }
}

impl AppEnv {
    /// `APP_ENV`: production unless said otherwise, so a missing variable never serves with a
    /// publicly known secret; development (with its built-in secret) must be asked for.
    fn from_vars(vars: &Vars<'_>) -> anyhow::Result<Self> {
        vars.text("APP_ENV", "production")
            .parse()
            .map_err(anyhow::Error::msg)
    }
}

impl FromStr for AppEnv {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "development" => Ok(Self::Development),
            "test" => Ok(Self::Test),
            "production" => Ok(Self::Production),
            other => Err(format!(
                "APP_ENV must be development, test or production, not {other:?}"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn core(pairs: &[(&str, &str)]) -> anyhow::Result<Settings> {
        let map: HashMap<&str, &str> = pairs.iter().copied().collect();
        Settings::from_lookup(|k| map.get(k).map(|v| v.to_string()))
    }

    #[test]
    fn the_key_prefix_has_a_name_that_says_so_and_the_old_one_still_works_for_a_release() {
        let dev = ("APP_ENV", "development");
        let s = core(&[dev]).unwrap();
        assert_eq!((s.key_prefix.as_str(), s.warnings.len()), ("orderflow", 0));
        let s = core(&[dev, ("REDIS_KEY_PREFIX", "shop1")]).unwrap();
        assert_eq!((s.key_prefix.as_str(), s.warnings.len()), ("shop1", 0));
        let s = core(&[dev, ("JOBS_NAMESPACE", "legacy")]).unwrap();
        assert_eq!(s.key_prefix, "legacy");
        assert!(
            s.warnings[0].contains("REDIS_KEY_PREFIX"),
            "{:?}",
            s.warnings
        );
        let s = core(&[
            dev,
            ("JOBS_NAMESPACE", "legacy"),
            ("REDIS_KEY_PREFIX", "new"),
        ])
        .unwrap();
        assert_eq!(s.key_prefix, "new");
        assert!(s.warnings[0].contains("ignored"), "{:?}", s.warnings);
    }

    #[test]
    fn core_numbers_are_range_checked_naming_their_variable() {
        let dev = ("APP_ENV", "development");
        for (key, bad) in [
            ("JOB_MAX_ATTEMPTS", "0"),
            ("JOB_MAX_ATTEMPTS", "101"),
            ("OUTBOX_SWEEP_INTERVAL_MS", "5"),
            ("REQUEST_TIMEOUT_SECONDS", "0"),
            ("CACHE_TTL_SECONDS", "-1"),
            ("PENDING_ORDER_TTL_SECONDS", "99999999999"),
        ] {
            let e = core(&[dev, (key, bad)]).unwrap_err().to_string();
            assert!(e.contains(key), "{key}={bad}: {e}");
        }
        assert_eq!(
            core(&[dev, ("CACHE_TTL_SECONDS", "0")]).unwrap().cache.ttl,
            Duration::ZERO
        );
        assert!(core(&[("APP_ENV", "staging")]).is_err());
    }
}
