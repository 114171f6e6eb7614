//! Typed settings read from the environment (and `.env` outside production).

mod accounts;
mod database;
pub mod production;

pub use accounts::AccountSettings;
pub use database::DatabaseSettings;

use anyhow::{Context, bail};
pub use ipnet::IpNet;
use secrecy::{ExposeSecret, SecretString};
use std::{env, net::IpAddr, str::FromStr, time::Duration};

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
    /// Prefix of every Redis key (`{namespace}:jobs:{kind}`); tests use their own.
    pub namespace: String,
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

/// The worker process.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    pub host: String,
    pub port: u16,
    /// Unique per process; generated (host-pid-random) when not set.
    pub name: Option<String>,
    /// Jobs of each kind running at once in this process.
    pub concurrency: usize,
    /// How often an idle worker asks Redis for work.
    pub poll_interval: Duration,
    /// Liveness beat; a worker silent for `heartbeat × missed_heartbeats` is presumed dead and
    /// its in-flight jobs go back to the queue.
    pub heartbeat: Duration,
    pub missed_heartbeats: u32,
    /// In-flight jobs older than this with no live worker are re-enqueued.
    pub orphan_reenqueue_after: Duration,
    pub shutdown_timeout: Duration,
    pub cleanup_interval: Duration,
    /// How often the summary's deltas are folded into its rollups (`db::stats`).
    pub stats_fold_interval: Duration,
    /// Completed outbox rows and Redis job data older than this are deleted
    /// (`JOB_RETENTION_DAYS`, or `JOB_RETENTION_SECONDS` when set: soaks and tests).
    pub retention: Duration,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub app_env: AppEnv,
    pub host: String,
    pub port: u16,
    /// The API's Prometheus listener (`API_METRICS_PORT`, on `APP_HOST`), apart from the
    /// public port so `/metrics` is never exposed with the API.
    pub metrics_port: u16,
    pub database: DatabaseSettings,
    pub redis_url: SecretString,
    pub migrate_on_start: bool,
    pub jwt: JwtSettings,
    pub cors_origins: Vec<String>,
    pub first_admin_email: Option<String>,
    pub first_admin_password: Option<SecretString>,
    pub log_format: LogFormat,
    pub smtp: SmtpSettings,
    pub limits: LimitSettings,
    pub lockout: LockoutSettings,
    /// Verification, password-reset and unlock emails.
    pub accounts: AccountSettings,
    pub password_hash_concurrency: usize,
    /// Hashes allowed to wait for a hashing thread; beyond them callers wait up to
    /// `password_hash_wait`, then get 503.
    pub password_hash_queue: usize,
    pub password_hash_wait: Duration,
    pub request_timeout: Duration,
    pub jobs: JobSettings,
    pub worker: WorkerSettings,
    pub cache: CacheSettings,
}

impl Settings {
    /// Reads every setting from the process environment, loading `.env` first unless
    /// `APP_ENV=production` is already set, and checks production-only requirements.
    pub fn from_env() -> anyhow::Result<Self> {
        if env::var("APP_ENV").as_deref() != Ok("production") {
            let _ = dotenvy::dotenv();
        }
        Self::from_lookup(|key| env::var(key).ok())
    }

    /// Builds settings from any key lookup (the environment, or a map in tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let get = |key: &str| get(key).filter(|v| !v.trim().is_empty());
        // Production unless said otherwise: a missing variable never serves with a publicly
        // known secret. Development (with its built-in secret) must be asked for.
        let app_env: AppEnv = get("APP_ENV")
            .as_deref()
            .unwrap_or("production")
            .parse()
            .map_err(anyhow::Error::msg)?;
        let parse = |key: &str, default: &str| -> anyhow::Result<String> {
            Ok(get(key).unwrap_or_else(|| default.to_string()))
        };
        let num = |key: &str, default: u64| -> anyhow::Result<u64> {
            match get(key) {
                None => Ok(default),
                Some(v) => v
                    .trim()
                    .parse()
                    .with_context(|| format!("{key} must be a whole number, got {v:?}")),
            }
        };
        let flag = |key: &str, default: bool| -> anyhow::Result<bool> {
            match get(key).as_deref().map(str::trim) {
                None => Ok(default),
                Some("true" | "1" | "yes") => Ok(true),
                Some("false" | "0" | "no") => Ok(false),
                Some(v) => bail!("{key} must be true or false, got {v:?}"),
            }
        };

        let jwt_secret = match get("JWT_SECRET") {
            Some(secret) => secret,
            None if app_env == AppEnv::Production => bail!(
                "JWT_SECRET is not set: production needs a random secret of at least \
                 {MIN_JWT_SECRET_BYTES} bytes (e.g. `openssl rand -base64 48`)"
            ),
            None => DEV_JWT_SECRET.to_string(),
        };
        let signing_key = JwtKey {
            kid: parse("JWT_KEY_ID", "k1")?,
            secret: jwt_secret.clone().into(),
        };
        let previous_keys = get("JWT_PREVIOUS_KEYS")
            .map(|list| parse_key_list(&list))
            .transpose()?
            .unwrap_or_default();
        let first_admin_password = get("FIRST_ADMIN_PASSWORD");
        if app_env == AppEnv::Production {
            production::check_secret("JWT_SECRET", &jwt_secret)?;
            production::check_previous_keys(&signing_key, &previous_keys)?;
            if let Some(password) = &first_admin_password {
                production::check_first_admin_password(password)?;
            }
        }

        let log_format = match get("LOG_FORMAT").as_deref() {
            Some("json") => LogFormat::Json,
            Some("pretty") => LogFormat::Pretty,
            None if app_env == AppEnv::Production => LogFormat::Json,
            None => LogFormat::Pretty,
            Some(other) => bail!("LOG_FORMAT must be json or pretty, not {other:?}"),
        };
        let smtp_tls = match get("SMTP_TLS").as_deref().unwrap_or("none") {
            "none" => SmtpTls::None,
            "starttls" => SmtpTls::StartTls,
            "tls" => SmtpTls::Tls,
            other => bail!("SMTP_TLS must be none, starttls or tls, not {other:?}"),
        };
        let cpus = std::thread::available_parallelism().map_or(2, usize::from);
        // Half the cores by default: a burst of logins may not take the CPU from every other
        // request (docs/benchmarks.md, "Limits").
        let password_hash_concurrency =
            num("PASSWORD_HASH_CONCURRENCY", (cpus as u64 / 2).max(1))?.max(1) as usize;
        let limit = |name: &str, burst: u64, replenish_ms: u64| -> anyhow::Result<RateLimit> {
            Ok(RateLimit {
                burst: num(&format!("{name}_BURST"), burst)?.clamp(1, u64::from(u32::MAX)) as u32,
                replenish: Duration::from_millis(
                    num(&format!("{name}_REPLENISH_MS"), replenish_ms)?.max(1),
                ),
            })
        };
        let cors_origins: Vec<String> = get("CORS_ORIGINS")
            .map(|v| {
                v.split(',')
                    .map(|o| o.trim().trim_end_matches('/').to_string())
                    .filter(|o| !o.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        if app_env == AppEnv::Production {
            production::check_origins(&cors_origins)?;
        }
        let request_timeout = Duration::from_secs(num("REQUEST_TIMEOUT_SECONDS", 30)?);
        let database = DatabaseSettings::from_lookup(&get, request_timeout)?;

        Ok(Self {
            app_env,
            host: parse("APP_HOST", "127.0.0.1")?,
            port: u16::try_from(num("APP_PORT", 8000)?).context("APP_PORT is out of range")?,
            metrics_port: u16::try_from(num("API_METRICS_PORT", 9000)?)
                .context("API_METRICS_PORT is out of range")?,
            database,
            redis_url: parse("REDIS_URL", "redis://127.0.0.1:6379")?.into(),
            migrate_on_start: flag("MIGRATE_ON_START", true)?,
            jwt: JwtSettings {
                signing_key,
                previous_keys,
                issuer: parse("JWT_ISSUER", "orderflow")?,
                audience: parse("JWT_AUDIENCE", "orderflow-api")?,
                access_token_ttl: Duration::from_secs(num("ACCESS_TOKEN_TTL_SECONDS", 900)?),
                refresh_token_ttl: Duration::from_secs(num(
                    "REFRESH_TOKEN_TTL_SECONDS",
                    14 * 24 * 3600,
                )?),
                session_max: Duration::from_secs(
                    num("SESSION_MAX_SECONDS", 30 * 24 * 3600)?.max(1),
                ),
            },
            cors_origins,
            first_admin_email: get("FIRST_ADMIN_EMAIL"),
            first_admin_password: first_admin_password.map(Into::into),
            log_format,
            smtp: SmtpSettings {
                host: parse("SMTP_HOST", "127.0.0.1")?,
                port: u16::try_from(num("SMTP_PORT", 1025)?)
                    .context("SMTP_PORT is out of range")?,
                tls: smtp_tls,
                username: get("SMTP_USERNAME"),
                password: get("SMTP_PASSWORD").map(Into::into),
                from: parse("SMTP_FROM", "OrderFlow <orders@orderflow.localhost>")?,
                timeout: Duration::from_secs(num("SMTP_TIMEOUT_SECONDS", 10)?),
            },
            limits: LimitSettings {
                enabled: flag("RATE_LIMIT_ENABLED", true)?,
                auth_per_ip: limit("AUTH_RATE_LIMIT", 10, 1000)?,
                anonymous_per_ip: limit("API_RATE_LIMIT", 200, 10)?,
                user_writes: limit("USER_WRITE_RATE_LIMIT", 60, 200)?,
                user_reads: limit("USER_READ_RATE_LIMIT", 600, 10)?,
                redis_timeout: Duration::from_millis(num("RATE_LIMIT_TIMEOUT_MS", 50)?.max(1)),
                trusted_proxies: get("TRUSTED_PROXIES")
                    .map(|list| parse_networks(&list))
                    .transpose()?
                    .unwrap_or_default(),
            },
            lockout: LockoutSettings {
                threshold: num("LOGIN_LOCKOUT_THRESHOLD", 10)? as u32,
                base: Duration::from_secs(num("LOGIN_LOCKOUT_SECONDS", 60)?.max(1)),
                max: Duration::from_secs(num("LOGIN_LOCKOUT_MAX_SECONDS", 3600)?.max(1)),
                window: Duration::from_secs(num("LOGIN_FAILURE_WINDOW_SECONDS", 24 * 3600)?.max(1)),
                slowdown_threshold: num("LOGIN_SLOWDOWN_THRESHOLD", 50)? as u32,
                slowdown_base: Duration::from_millis(num("LOGIN_SLOWDOWN_MS", 1000)?),
                slowdown_max: Duration::from_millis(num("LOGIN_SLOWDOWN_MAX_MS", 10_000)?),
            },
            accounts: AccountSettings::from_lookup(&get, app_env)?,
            password_hash_concurrency,
            password_hash_queue: num("PASSWORD_HASH_QUEUE", 8 * password_hash_concurrency as u64)?
                as usize,
            password_hash_wait: Duration::from_millis(num("PASSWORD_HASH_WAIT_MS", 500)?),
            request_timeout,
            jobs: JobSettings {
                namespace: parse("JOBS_NAMESPACE", "orderflow")?,
                pending_order_ttl: Duration::from_secs(num(
                    "PENDING_ORDER_TTL_SECONDS",
                    24 * 3600,
                )?),
                outbox_sweep_interval: Duration::from_millis(
                    num("OUTBOX_SWEEP_INTERVAL_MS", 1000)?.max(10),
                ),
                max_attempts: num("JOB_MAX_ATTEMPTS", 10)?.clamp(1, 100) as u32,
                backoff_base: Duration::from_millis(num("JOB_BACKOFF_BASE_MS", 2000)?),
                backoff_cap: Duration::from_millis(num("JOB_BACKOFF_CAP_MS", 600_000)?),
                timeout: Duration::from_secs(num("JOB_TIMEOUT_SECONDS", 60)?.max(1)),
                redispatch_after: Duration::from_secs(
                    num("JOB_REDISPATCH_AFTER_SECONDS", 900)?.max(1),
                ),
            },
            worker: WorkerSettings {
                host: parse("WORKER_HOST", "127.0.0.1")?,
                port: u16::try_from(num("WORKER_PORT", 9001)?)
                    .context("WORKER_PORT is out of range")?,
                name: get("WORKER_NAME"),
                concurrency: num("WORKER_CONCURRENCY", 16)?.max(1) as usize,
                poll_interval: Duration::from_millis(num("WORKER_POLL_INTERVAL_MS", 100)?.max(10)),
                heartbeat: Duration::from_millis(num("WORKER_HEARTBEAT_MS", 2000)?.max(100)),
                missed_heartbeats: num("WORKER_MISSED_HEARTBEATS", 3)?.max(1) as u32,
                orphan_reenqueue_after: Duration::from_secs(num(
                    "JOB_ORPHAN_REENQUEUE_SECONDS",
                    60,
                )?),
                shutdown_timeout: Duration::from_secs(num("WORKER_SHUTDOWN_TIMEOUT_SECONDS", 30)?),
                stats_fold_interval: Duration::from_millis(
                    num("STATS_FOLD_INTERVAL_MS", 2000)?.clamp(10, 3_600_000),
                ),
                cleanup_interval: Duration::from_secs(
                    num("CLEANUP_INTERVAL_SECONDS", 3600)?.max(1),
                ),
                retention: match get("JOB_RETENTION_SECONDS") {
                    Some(_) => Duration::from_secs(num("JOB_RETENTION_SECONDS", 0)?.max(1)),
                    None => Duration::from_secs(num("JOB_RETENTION_DAYS", 7)?.max(1) * 86_400),
                },
            },
            cache: CacheSettings {
                ttl: Duration::from_secs(num("CACHE_TTL_SECONDS", 30)?),
                timeout: Duration::from_millis(num("CACHE_TIMEOUT_MS", 50)?.max(1)),
            },
        })
    }
}

/// Parses `10.0.0.0/8, 192.168.1.7, fd00::/8`: networks, or single addresses.
fn parse_networks(list: &str) -> anyhow::Result<Vec<IpNet>> {
    list.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            entry
                .parse::<IpNet>()
                .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                .with_context(|| format!("TRUSTED_PROXIES: {entry:?} is not an IP address or CIDR"))
        })
        .collect()
}

/// Parses `kid1:secret1,kid2:secret2`.
fn parse_key_list(list: &str) -> anyhow::Result<Vec<JwtKey>> {
    list.split(',')
        .filter(|entry| !entry.trim().is_empty())
        .map(|entry| {
            let (kid, secret) = entry
                .split_once(':')
                .context("JWT_PREVIOUS_KEYS entries look like kid:secret")?;
            Ok(JwtKey {
                kid: kid.trim().to_string(),
                secret: secret.trim().to_string().into(),
            })
        })
        .collect()
}

impl Settings {
    pub fn database_url(&self) -> &str {
        self.database.url.expose_secret()
    }

    pub fn redis_url(&self) -> &str {
        self.redis_url.expose_secret()
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

    fn settings(pairs: &[(&str, &str)]) -> anyhow::Result<Settings> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|k| map.get(k).cloned())
    }

    /// What a production start needs, on top of which each test changes one thing.
    const PRODUCTION: [(&str, &str); 3] = [
        ("APP_ENV", "production"),
        ("JWT_SECRET", "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"),
        ("APP_PUBLIC_URL", "https://shop.example.com"),
    ];

    fn production_with(changes: &[(&str, &str)]) -> Result<Settings, String> {
        let mut pairs: HashMap<&str, &str> = PRODUCTION.into_iter().collect();
        for (k, v) in changes {
            pairs.insert(k, v);
        }
        let pairs: Vec<(&str, &str)> = pairs.into_iter().collect();
        settings(&pairs).map_err(|e| format!("{e:#}"))
    }

    #[test]
    fn no_variable_at_all_means_production_which_refuses_to_start_without_a_secret() {
        let e = settings(&[]).unwrap_err().to_string();
        assert!(e.contains("JWT_SECRET is not set"), "{e}");
        assert!(production_with(&[]).is_ok());
        assert_eq!(production_with(&[]).unwrap().app_env, AppEnv::Production);
    }

    #[test]
    fn development_and_its_known_secret_must_be_asked_for() {
        let s = settings(&[("APP_ENV", "development")]).unwrap();
        assert_eq!(s.app_env, AppEnv::Development);
        assert_eq!((s.host.as_str(), s.port), ("127.0.0.1", 8000));
        assert_eq!(s.jwt.signing_key.secret.expose_secret(), DEV_JWT_SECRET);
        assert!(s.migrate_on_start);
        assert_eq!(s.log_format, LogFormat::Pretty);
    }

    #[test]
    fn production_refuses_each_known_or_placeholder_secret_naming_its_variable() {
        let strong_old = "o".repeat(40);
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("JWT_SECRET", DEV_JWT_SECRET)], "JWT_SECRET"),
            (
                &[("JWT_SECRET", "CHANGE-ME-to-at-least-32-random-bytes")],
                "JWT_SECRET",
            ),
            (&[("JWT_PREVIOUS_KEYS", "old:")], "JWT_PREVIOUS_KEYS"),
            (&[("JWT_PREVIOUS_KEYS", "old:short")], "JWT_PREVIOUS_KEYS"),
            (
                &[(
                    "JWT_PREVIOUS_KEYS",
                    "old:orderflow-development-secret-do-not-use-in-prod",
                )],
                "JWT_PREVIOUS_KEYS",
            ),
            (
                &[("JWT_PREVIOUS_KEYS", "old:kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk")],
                "JWT_PREVIOUS_KEYS",
            ),
            (
                &[("FIRST_ADMIN_PASSWORD", "CHANGE-ME")],
                "FIRST_ADMIN_PASSWORD",
            ),
            (
                &[("FIRST_ADMIN_PASSWORD", "change-this-admin-password")],
                "FIRST_ADMIN_PASSWORD",
            ),
            (
                &[("FIRST_ADMIN_PASSWORD", "password123")],
                "FIRST_ADMIN_PASSWORD",
            ),
            (&[("APP_PUBLIC_URL", "")], "APP_PUBLIC_URL"),
            (
                &[("APP_PUBLIC_URL", "http://shop.example.com")],
                "APP_PUBLIC_URL",
            ),
        ];
        for (changes, variable) in cases {
            let e = production_with(changes).unwrap_err();
            assert!(e.contains(variable), "{changes:?}: {e}");
        }
        let previous = format!("old:{strong_old}");
        assert!(production_with(&[("JWT_PREVIOUS_KEYS", &previous)]).is_ok());
        // Outside production the same values start (development is for trying things).
        assert!(
            settings(&[
                ("APP_ENV", "development"),
                ("FIRST_ADMIN_PASSWORD", "CHANGE-ME")
            ])
            .is_ok()
        );
    }

    #[test]
    fn production_refuses_missing_default_or_short_secrets() {
        let prod = |secret: Option<&str>| {
            let mut pairs = vec![
                ("APP_ENV", "production"),
                ("APP_PUBLIC_URL", "https://shop.example.com"),
            ];
            if let Some(s) = secret {
                pairs.push(("JWT_SECRET", s));
            }
            settings(&pairs).map(|_| ()).map_err(|e| e.to_string())
        };
        assert!(prod(None).unwrap_err().contains("JWT_SECRET is not set"));
        assert!(prod(Some(DEV_JWT_SECRET)).unwrap_err().contains("default"));
        assert!(
            prod(Some("short-secret"))
                .unwrap_err()
                .contains("at least 32")
        );
        assert!(prod(Some(&"k".repeat(32))).is_ok());
    }

    #[test]
    fn production_refuses_wildcard_and_plain_http_origins() {
        let secret = "k".repeat(32);
        let prod = |origins: &str| {
            settings(&[
                ("APP_ENV", "production"),
                ("JWT_SECRET", &secret),
                ("APP_PUBLIC_URL", "https://shop.example.com"),
                ("CORS_ORIGINS", origins),
            ])
            .map(|s| s.cors_origins)
            .map_err(|e| e.to_string())
        };
        let cases: &[(&str, bool)] = &[
            ("https://shop.example.com", true),
            ("https://shop.example.com/", true),
            ("http://localhost:3000", true),
            ("http://127.0.0.1:5173", true),
            ("http://localhost", true),
            ("*", false),
            ("https://*.example.com", false),
            ("http://shop.example.com", false),
            ("http://localhost.evil.com", false),
            ("https://a.example, http://b.example", false),
        ];
        for (origins, ok) in cases {
            assert_eq!(prod(origins).is_ok(), *ok, "{origins}: {:?}", prod(origins));
        }
        assert_eq!(
            prod("https://shop.example.com/").unwrap(),
            ["https://shop.example.com"]
        );
        // Outside production anything goes (a dev server on http://).
        assert!(settings(&[("APP_ENV", "development"), ("CORS_ORIGINS", "*")]).is_ok());
    }

    #[test]
    fn trusted_proxies_and_limits_are_parsed() {
        let s = settings(&[
            ("APP_ENV", "development"),
            ("TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.7,fd00::/8"),
            ("USER_WRITE_RATE_LIMIT_BURST", "5"),
            ("USER_WRITE_RATE_LIMIT_REPLENISH_MS", "0"),
        ])
        .unwrap();
        let nets: Vec<String> = s
            .limits
            .trusted_proxies
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(nets, ["10.0.0.0/8", "192.168.1.7/32", "fd00::/8"]);
        assert_eq!(s.limits.user_writes.burst, 5);
        assert_eq!(s.limits.user_writes.replenish, Duration::from_millis(1));
        assert!(
            settings(&[
                ("APP_ENV", "development"),
                ("TRUSTED_PROXIES", "10.0.0.0/33")
            ])
            .is_err()
        );
        assert!(
            settings(&[
                ("APP_ENV", "development"),
                ("TRUSTED_PROXIES", "proxy.internal")
            ])
            .is_err()
        );
    }

    #[test]
    fn previous_keys_and_bad_values_are_parsed_or_refused() {
        let s = settings(&[
            ("APP_ENV", "development"),
            ("JWT_PREVIOUS_KEYS", "old:abc, older:def"),
        ])
        .unwrap();
        let kids: Vec<_> = s.jwt.previous_keys.iter().map(|k| k.kid.as_str()).collect();
        assert_eq!(kids, ["old", "older"]);
        assert!(settings(&[("APP_ENV", "development"), ("APP_PORT", "eighty")]).is_err());
        assert!(settings(&[("APP_ENV", "staging")]).is_err());
        assert!(settings(&[("APP_ENV", "development"), ("MIGRATE_ON_START", "maybe")]).is_err());
    }
}
