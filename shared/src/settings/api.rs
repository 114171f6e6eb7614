//! The API's settings: its listener, tokens, limits, lockout, CORS, password hashing and
//! first admin, on top of the core (`Settings`). Only `orderflow-api` reads these; their
//! production checks (`production.rs`) stop the API, never the worker.

use anyhow::{Context, bail};
use std::{net::IpAddr, time::Duration};

use super::{
    AppEnv, DEV_JWT_SECRET, IpNet, JwtKey, JwtSettings, LimitSettings, LockoutSettings,
    MIN_JWT_SECRET_BYTES, RateLimit, Settings, production,
    read::{DAY, Vars, WEEK, YEAR},
};
use secrecy::SecretString;

#[derive(Debug, Clone)]
pub struct ApiSettings {
    pub core: Settings,
    pub host: String,
    /// 0 picks a free port (tests).
    pub port: u16,
    /// The API's Prometheus listener (`API_METRICS_PORT`, on `APP_HOST`), apart from the
    /// public port so `/metrics` is never exposed with the API.
    pub metrics_port: u16,
    pub migrate_on_start: bool,
    pub jwt: JwtSettings,
    pub cors_origins: Vec<String>,
    pub first_admin_email: Option<String>,
    pub first_admin_password: Option<SecretString>,
    pub limits: LimitSettings,
    pub lockout: LockoutSettings,
    pub password_hash_concurrency: usize,
    /// Hashes allowed to wait for a hashing thread; beyond them callers wait up to
    /// `password_hash_wait`, then get 503.
    pub password_hash_queue: usize,
    pub password_hash_wait: Duration,
}

impl ApiSettings {
    /// The core and the API's variables, from the process environment (`super::from_env`).
    pub fn from_env() -> anyhow::Result<Self> {
        super::from_env(Self::from_lookup)
    }

    /// Builds the API's settings from any key lookup (the environment, or a map in tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let vars = Vars::new(&get);
        // The token secret is checked first: it is the one a production start must never do
        // without, so it is what a bare start names (then the core's own checks).
        let production = AppEnv::from_vars(&vars)? == AppEnv::Production;
        let jwt_secret = match vars.get("JWT_SECRET") {
            Some(secret) => secret,
            None if production => bail!(
                "JWT_SECRET is not set: production needs a random secret of at least \
                 {MIN_JWT_SECRET_BYTES} bytes (e.g. `openssl rand -base64 48`)"
            ),
            None => DEV_JWT_SECRET.to_string(),
        };
        let signing_key = JwtKey {
            kid: vars.text("JWT_KEY_ID", "k1"),
            secret: jwt_secret.clone().into(),
        };
        let previous_keys = vars
            .get("JWT_PREVIOUS_KEYS")
            .map(|list| parse_key_list(&list))
            .transpose()?
            .unwrap_or_default();
        let first_admin_password = vars.get("FIRST_ADMIN_PASSWORD");
        let cors_origins: Vec<String> = vars
            .get("CORS_ORIGINS")
            .map(|v| {
                v.split(',')
                    .map(|o| o.trim().trim_end_matches('/').to_string())
                    .filter(|o| !o.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        if production {
            production::check_secret("JWT_SECRET", &jwt_secret)?;
        }
        let core = Settings::from_lookup(&get)?;
        if production {
            production::check_previous_keys(&signing_key, &previous_keys)?;
            if let Some(password) = &first_admin_password {
                production::check_first_admin_password(password)?;
            }
            production::check_origins(&cors_origins)?;
        }

        let cpus = std::thread::available_parallelism().map_or(2, usize::from);
        // Half the cores by default: a burst of logins may not take the CPU from every other
        // request (docs/benchmarks.md, "Limits").
        let password_hash_concurrency =
            vars.size("PASSWORD_HASH_CONCURRENCY", (cpus / 2).max(1), 1..=1024)?;
        let limit = |name: &str, burst: u32, replenish_ms: u64| -> anyhow::Result<RateLimit> {
            Ok(RateLimit {
                burst: vars.count(&format!("{name}_BURST"), burst, 1..=u32::MAX)?,
                replenish: vars.millis(
                    &format!("{name}_REPLENISH_MS"),
                    replenish_ms,
                    1..=DAY * 1000,
                )?,
            })
        };
        Ok(Self {
            host: vars.text("APP_HOST", "127.0.0.1"),
            port: vars.number("APP_PORT", 8000, 0..=65_535)? as u16,
            metrics_port: vars.number("API_METRICS_PORT", 9000, 0..=65_535)? as u16,
            migrate_on_start: vars.flag("MIGRATE_ON_START", true)?,
            jwt: JwtSettings {
                signing_key,
                previous_keys,
                issuer: vars.text("JWT_ISSUER", "orderflow"),
                audience: vars.text("JWT_AUDIENCE", "orderflow-api"),
                access_token_ttl: vars.seconds("ACCESS_TOKEN_TTL_SECONDS", 900, 1..=DAY)?,
                refresh_token_ttl: vars.seconds("REFRESH_TOKEN_TTL_SECONDS", 14 * DAY, 1..=YEAR)?,
                session_max: vars.seconds("SESSION_MAX_SECONDS", 30 * DAY, 1..=YEAR)?,
            },
            cors_origins,
            first_admin_email: vars.get("FIRST_ADMIN_EMAIL"),
            first_admin_password: first_admin_password.map(Into::into),
            limits: LimitSettings {
                enabled: vars.flag("RATE_LIMIT_ENABLED", true)?,
                auth_per_ip: limit("AUTH_RATE_LIMIT", 10, 1000)?,
                anonymous_per_ip: limit("API_RATE_LIMIT", 200, 10)?,
                user_writes: limit("USER_WRITE_RATE_LIMIT", 60, 200)?,
                user_reads: limit("USER_READ_RATE_LIMIT", 600, 10)?,
                redis_timeout: vars.millis("RATE_LIMIT_TIMEOUT_MS", 50, 1..=60_000)?,
                trusted_proxies: vars
                    .get("TRUSTED_PROXIES")
                    .map(|list| parse_networks(&list))
                    .transpose()?
                    .unwrap_or_default(),
            },
            lockout: LockoutSettings {
                threshold: vars.count("LOGIN_LOCKOUT_THRESHOLD", 10, 0..=1_000_000)?,
                base: vars.seconds("LOGIN_LOCKOUT_SECONDS", 60, 1..=WEEK)?,
                max: vars.seconds("LOGIN_LOCKOUT_MAX_SECONDS", 3600, 1..=WEEK)?,
                window: vars.seconds("LOGIN_FAILURE_WINDOW_SECONDS", DAY, 1..=YEAR)?,
                slowdown_threshold: vars.count("LOGIN_SLOWDOWN_THRESHOLD", 50, 0..=1_000_000)?,
                slowdown_base: vars.millis("LOGIN_SLOWDOWN_MS", 1000, 0..=600_000)?,
                slowdown_max: vars.millis("LOGIN_SLOWDOWN_MAX_MS", 10_000, 0..=600_000)?,
            },
            password_hash_concurrency,
            password_hash_queue: vars.size(
                "PASSWORD_HASH_QUEUE",
                8 * password_hash_concurrency,
                0..=1_000_000,
            )?,
            password_hash_wait: vars.millis("PASSWORD_HASH_WAIT_MS", 500, 0..=60_000)?,
            core,
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

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;
    use std::collections::HashMap;

    fn settings(pairs: &[(&str, &str)]) -> anyhow::Result<ApiSettings> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ApiSettings::from_lookup(|k| map.get(k).cloned())
    }

    /// What a production start needs, on top of which each test changes one thing.
    const PRODUCTION: [(&str, &str); 3] = [
        ("APP_ENV", "production"),
        ("JWT_SECRET", "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"),
        ("APP_PUBLIC_URL", "https://shop.example.com"),
    ];

    fn production_with(changes: &[(&str, &str)]) -> Result<ApiSettings, String> {
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
        let e = settings(&[("JWT_SECRET", &"k".repeat(32))])
            .unwrap_err()
            .to_string();
        assert!(e.contains("APP_PUBLIC_URL is not set"), "{e}");
        assert!(production_with(&[]).is_ok());
        assert_eq!(
            production_with(&[]).unwrap().core.app_env,
            AppEnv::Production
        );
    }

    #[test]
    fn development_and_its_known_secret_must_be_asked_for() {
        let s = settings(&[("APP_ENV", "development")]).unwrap();
        assert_eq!(s.core.app_env, AppEnv::Development);
        assert_eq!((s.host.as_str(), s.port), ("127.0.0.1", 8000));
        assert_eq!(s.jwt.signing_key.secret.expose_secret(), DEV_JWT_SECRET);
        assert!(s.migrate_on_start);
        assert_eq!(s.core.log_format, super::super::LogFormat::Pretty);
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
            ("USER_WRITE_RATE_LIMIT_REPLENISH_MS", "1"),
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
        for (key, bad) in [
            ("USER_WRITE_RATE_LIMIT_REPLENISH_MS", "0"),
            ("AUTH_RATE_LIMIT_BURST", "0"),
            ("AUTH_RATE_LIMIT_BURST", "5000000000"),
            ("LOGIN_LOCKOUT_SECONDS", "0"),
            ("PASSWORD_HASH_CONCURRENCY", "0"),
            ("APP_PORT", "70000"),
            ("ACCESS_TOKEN_TTL_SECONDS", "0"),
        ] {
            let e = settings(&[("APP_ENV", "development"), (key, bad)])
                .unwrap_err()
                .to_string();
            assert!(e.contains(key), "{key}={bad}: {e}");
        }
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
