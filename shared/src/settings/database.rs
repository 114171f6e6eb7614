//! PostgreSQL settings: where it is, how many connections each process keeps and for how
//! long, and the time limits the server itself enforces on every session (sent in the
//! connection's startup packet: no round trip). Every number is range-checked, with the
//! variable named in the error.

use anyhow::{Context, bail};
use secrecy::SecretString;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    pub url: SecretString,
    pub max_connections: u32,
    /// Kept open by the pool (and replaced when closed).
    pub min_connections: u32,
    pub acquire_timeout: Duration,
    /// `None`: connections are never recycled for age.
    pub max_lifetime: Option<Duration>,
    /// `None`: idle connections are never closed.
    pub idle_timeout: Option<Duration>,
    /// An idle connection unused this long is pinged before it is handed out.
    pub check_idle_after: Duration,
    /// The server cancels a statement running this long (SQLSTATE 57014): below the
    /// request timeout, so work a client gave up on does not keep running.
    pub statement_timeout: Duration,
    /// The server gives up waiting for a lock after this (SQLSTATE 55P03).
    pub lock_timeout: Duration,
    /// The server ends a session left inside a transaction this long (SQLSTATE 25P03).
    pub idle_in_transaction_timeout: Duration,
}

/// Reads a whole number in `range`, `default` when unset (`read.rs`).
fn number(
    get: &dyn Fn(&str) -> Option<String>,
    key: &str,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> anyhow::Result<u64> {
    super::read::Vars::new(get).number(key, default, range)
}

/// Seconds where 0 means "never".
fn optional_seconds(
    get: &dyn Fn(&str) -> Option<String>,
    key: &str,
    default: u64,
) -> anyhow::Result<Option<Duration>> {
    let seconds = number(get, key, default, 0..=7 * 24 * 3600)?;
    Ok((seconds > 0).then(|| Duration::from_secs(seconds)))
}

impl DatabaseSettings {
    /// `request_timeout` (`REQUEST_TIMEOUT_SECONDS`) bounds the statement timeout.
    pub fn from_lookup(
        get: &dyn Fn(&str) -> Option<String>,
        request_timeout: Duration,
    ) -> anyhow::Result<Self> {
        if request_timeout.is_zero() {
            bail!("REQUEST_TIMEOUT_SECONDS must be at least 1");
        }
        let max_connections = number(get, "DATABASE_MAX_CONNECTIONS", 10, 1..=1000)? as u32;
        let min_connections = number(
            get,
            "DATABASE_MIN_CONNECTIONS",
            1.min(u64::from(max_connections)),
            0..=u64::from(max_connections),
        )
        .context("DATABASE_MIN_CONNECTIONS may not exceed DATABASE_MAX_CONNECTIONS")?
            as u32;
        let request_ms = request_timeout.as_millis() as u64;
        // 80% of the request timeout by default: the statement ends before the request does.
        let statement_ms = number(
            get,
            "DATABASE_STATEMENT_TIMEOUT_MS",
            (request_ms * 4 / 5).max(1),
            1..=request_ms.saturating_sub(1).max(1),
        )
        .with_context(|| {
            format!(
                "DATABASE_STATEMENT_TIMEOUT_MS must stay below REQUEST_TIMEOUT_SECONDS \
                 ({request_ms} ms)"
            )
        })?;
        let lock_ms = number(
            get,
            "DATABASE_LOCK_TIMEOUT_MS",
            statement_ms.min(5_000),
            1..=statement_ms,
        )
        .context("DATABASE_LOCK_TIMEOUT_MS may not exceed DATABASE_STATEMENT_TIMEOUT_MS")?;
        let idle_in_transaction_ms = number(
            get,
            "DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS",
            statement_ms,
            1..=24 * 3600 * 1000,
        )?;
        Ok(Self {
            url: get("DATABASE_URL")
                .unwrap_or_else(|| "postgres://postgres:postgres@127.0.0.1:5432/orderflow".into())
                .into(),
            max_connections,
            min_connections,
            acquire_timeout: Duration::from_secs(number(
                get,
                "DATABASE_ACQUIRE_TIMEOUT_SECONDS",
                5,
                1..=600,
            )?),
            max_lifetime: optional_seconds(get, "DATABASE_MAX_LIFETIME_SECONDS", 1800)?,
            idle_timeout: optional_seconds(get, "DATABASE_IDLE_TIMEOUT_SECONDS", 600)?,
            check_idle_after: Duration::from_secs(number(
                get,
                "DATABASE_CHECK_IDLE_AFTER_SECONDS",
                10,
                0..=24 * 3600,
            )?),
            statement_timeout: Duration::from_millis(statement_ms),
            lock_timeout: Duration::from_millis(lock_ms),
            idle_in_transaction_timeout: Duration::from_millis(idle_in_transaction_ms),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parse(pairs: &[(&str, &str)], request_seconds: u64) -> Result<DatabaseSettings, String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        DatabaseSettings::from_lookup(
            &|k| map.get(k).cloned(),
            Duration::from_secs(request_seconds),
        )
        .map_err(|e| format!("{e:#}"))
    }

    #[test]
    fn defaults_keep_the_statement_below_the_request_and_the_lock_below_the_statement() {
        let d = parse(&[], 30).unwrap();
        assert_eq!(d.statement_timeout, Duration::from_secs(24));
        assert_eq!(d.lock_timeout, Duration::from_secs(5));
        assert_eq!(d.idle_in_transaction_timeout, Duration::from_secs(24));
        assert_eq!((d.max_connections, d.min_connections), (10, 1));
        assert_eq!(d.max_lifetime, Some(Duration::from_secs(1800)));
        assert_eq!(d.idle_timeout, Some(Duration::from_secs(600)));
        let short = parse(&[], 1).unwrap();
        assert_eq!(short.statement_timeout, Duration::from_millis(800));
        assert_eq!(short.lock_timeout, Duration::from_millis(800));
    }

    #[test]
    fn each_out_of_range_value_is_refused_naming_its_variable() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (
                &[("DATABASE_STATEMENT_TIMEOUT_MS", "30000")],
                "DATABASE_STATEMENT_TIMEOUT_MS",
            ),
            (
                &[("DATABASE_STATEMENT_TIMEOUT_MS", "0")],
                "DATABASE_STATEMENT_TIMEOUT_MS",
            ),
            (
                &[
                    ("DATABASE_STATEMENT_TIMEOUT_MS", "1000"),
                    ("DATABASE_LOCK_TIMEOUT_MS", "2000"),
                ],
                "DATABASE_LOCK_TIMEOUT_MS",
            ),
            (
                &[("DATABASE_MAX_CONNECTIONS", "0")],
                "DATABASE_MAX_CONNECTIONS",
            ),
            (
                &[("DATABASE_MAX_CONNECTIONS", "-1")],
                "DATABASE_MAX_CONNECTIONS",
            ),
            (
                &[
                    ("DATABASE_MAX_CONNECTIONS", "4"),
                    ("DATABASE_MIN_CONNECTIONS", "5"),
                ],
                "DATABASE_MIN_CONNECTIONS",
            ),
            (
                &[("DATABASE_ACQUIRE_TIMEOUT_SECONDS", "0")],
                "DATABASE_ACQUIRE_TIMEOUT_SECONDS",
            ),
            (
                &[("DATABASE_MAX_LIFETIME_SECONDS", "soon")],
                "DATABASE_MAX_LIFETIME_SECONDS",
            ),
            (
                &[("DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS", "0")],
                "DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS",
            ),
        ];
        for (pairs, variable) in cases {
            let error = parse(pairs, 30).unwrap_err();
            assert!(error.contains(variable), "{pairs:?}: {error}");
        }
        assert!(
            parse(&[], 0)
                .unwrap_err()
                .contains("REQUEST_TIMEOUT_SECONDS")
        );
    }

    #[test]
    fn zero_switches_recycling_off() {
        let d = parse(
            &[
                ("DATABASE_MAX_LIFETIME_SECONDS", "0"),
                ("DATABASE_IDLE_TIMEOUT_SECONDS", "0"),
            ],
            30,
        )
        .unwrap();
        assert_eq!((d.max_lifetime, d.idle_timeout), (None, None));
    }
}
