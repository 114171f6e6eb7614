//! The worker's settings: its listener, concurrency, polling, liveness, cleanup and SMTP, on
//! top of the core (`Settings`). Only `orderflow-worker` reads these: the worker needs no
//! token secret, no rate limits and no first admin to start.

use std::time::Duration;

use super::{
    Settings, SmtpSettings, SmtpTls,
    read::{DAY, Vars, WEEK, YEAR},
};

#[derive(Debug, Clone)]
pub struct WorkerSettings {
    pub core: Settings,
    pub host: String,
    /// 0 picks a free port (tests).
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
    pub smtp: SmtpSettings,
}

impl WorkerSettings {
    /// The core and the worker's variables, from the process environment (`super::from_env`).
    pub fn from_env() -> anyhow::Result<Self> {
        super::from_env(Self::from_lookup)
    }

    /// Builds the worker's settings from any key lookup (the environment, or a map in tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let core = Settings::from_lookup(&get)?;
        let vars = Vars::new(&get);
        let tls = match vars.text("SMTP_TLS", "none").as_str() {
            "none" => SmtpTls::None,
            "starttls" => SmtpTls::StartTls,
            "tls" => SmtpTls::Tls,
            other => anyhow::bail!("SMTP_TLS must be none, starttls or tls, not {other:?}"),
        };
        let retention = match vars.get("JOB_RETENTION_SECONDS") {
            Some(_) => vars.seconds("JOB_RETENTION_SECONDS", 0, 1..=YEAR)?,
            None => Duration::from_secs(vars.number("JOB_RETENTION_DAYS", 7, 1..=3650)? * DAY),
        };
        Ok(Self {
            host: vars.text("WORKER_HOST", "127.0.0.1"),
            port: vars.number("WORKER_PORT", 9001, 0..=65_535)? as u16,
            name: vars.get("WORKER_NAME"),
            concurrency: vars.size("WORKER_CONCURRENCY", 16, 1..=1024)?,
            poll_interval: vars.millis("WORKER_POLL_INTERVAL_MS", 100, 10..=60_000)?,
            heartbeat: vars.millis("WORKER_HEARTBEAT_MS", 2000, 100..=600_000)?,
            missed_heartbeats: vars.count("WORKER_MISSED_HEARTBEATS", 3, 1..=100)?,
            orphan_reenqueue_after: vars.seconds("JOB_ORPHAN_REENQUEUE_SECONDS", 60, 0..=WEEK)?,
            shutdown_timeout: vars.seconds("WORKER_SHUTDOWN_TIMEOUT_SECONDS", 30, 0..=3600)?,
            stats_fold_interval: vars.millis("STATS_FOLD_INTERVAL_MS", 2000, 10..=3_600_000)?,
            cleanup_interval: vars.seconds("CLEANUP_INTERVAL_SECONDS", 3600, 1..=WEEK)?,
            retention,
            smtp: SmtpSettings {
                host: vars.text("SMTP_HOST", "127.0.0.1"),
                port: vars.port("SMTP_PORT", 1025)?,
                tls,
                username: vars.get("SMTP_USERNAME"),
                password: vars.get("SMTP_PASSWORD").map(Into::into),
                from: vars.text("SMTP_FROM", "OrderFlow <orders@orderflow.localhost>"),
                timeout: vars.seconds("SMTP_TIMEOUT_SECONDS", 10, 1..=3600)?,
            },
            core,
        })
    }

    /// How this worker's queues are polled (`dispatch::queue_config`).
    pub fn queue_tuning(&self) -> crate::dispatch::QueueTuning {
        crate::dispatch::QueueTuning {
            heartbeat: self.heartbeat,
            missed_heartbeats: self.missed_heartbeats as usize,
            batch_size: self.concurrency,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn worker(pairs: &[(&str, &str)]) -> anyhow::Result<WorkerSettings> {
        let map: HashMap<&str, &str> = pairs.iter().copied().collect();
        WorkerSettings::from_lookup(|k| map.get(k).map(|v| v.to_string()))
    }

    const PRODUCTION: [(&str, &str); 2] = [
        ("APP_ENV", "production"),
        ("APP_PUBLIC_URL", "https://shop.example.com"),
    ];

    #[test]
    fn the_worker_starts_in_production_without_the_apis_secrets() {
        let s = worker(&PRODUCTION).expect("no JWT_SECRET, no first admin needed");
        assert_eq!(s.core.app_env, super::super::AppEnv::Production);
        assert_eq!((s.concurrency, s.port), (16, 9001));
        // What production does check for the worker: the links it puts in emails.
        let e = worker(&[("APP_ENV", "production")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("APP_PUBLIC_URL"), "{e}");
    }

    #[test]
    fn worker_numbers_are_range_checked_naming_their_variable() {
        for (key, bad) in [
            ("WORKER_CONCURRENCY", "0"),
            ("WORKER_POLL_INTERVAL_MS", "1"),
            ("WORKER_MISSED_HEARTBEATS", "0"),
            ("SMTP_PORT", "0"),
            ("SMTP_TIMEOUT_SECONDS", "0"),
            ("JOB_RETENTION_DAYS", "0"),
            ("STATS_FOLD_INTERVAL_MS", "99999999999"),
        ] {
            let mut pairs = PRODUCTION.to_vec();
            pairs.push((key, bad));
            let e = worker(&pairs).unwrap_err().to_string();
            assert!(e.contains(key), "{key}={bad}: {e}");
        }
        let mut pairs = PRODUCTION.to_vec();
        pairs.push(("SMTP_TLS", "ssl"));
        assert!(worker(&pairs).unwrap_err().to_string().contains("SMTP_TLS"));
    }
}
