//! The API and worker as the release binaries, started as child processes with a clean
//! environment, and what `/proc` says about them (CPU seconds, peak RSS).

use anyhow::{Context, bail};
use std::{
    collections::BTreeMap,
    fs::File,
    path::Path,
    process::Stdio,
    time::{Duration, Instant},
};
use tokio::process::{Child, Command};

use crate::config::Config;

pub use orderflow_testkit::free_port;

/// Environment shared by every process of one run.
#[derive(Debug, Clone)]
pub struct Env(pub BTreeMap<String, String>);

impl Env {
    pub fn new(cfg: &Config, namespace: &str, smtp_port: u16) -> Self {
        let secret: String = (0..48)
            .map(|_| char::from(b'a' + rand::random_range(0..26u8)))
            .collect();
        let vars = [
            ("APP_ENV", "production".to_string()),
            ("APP_PUBLIC_URL", "https://shop.bench.example".into()),
            ("LOG_FORMAT", "json".into()),
            ("RUST_LOG", "info".into()),
            ("JWT_SECRET", secret),
            ("DATABASE_URL", cfg.db_url()),
            ("REDIS_URL", cfg.redis_url.clone()),
            ("REDIS_KEY_PREFIX", namespace.to_string()),
            ("FIRST_ADMIN_EMAIL", "admin@bench.example".into()),
            ("FIRST_ADMIN_PASSWORD", "bench-admin-password".into()),
            ("ACCESS_TOKEN_TTL_SECONDS", "7200".into()),
            ("SMTP_HOST", "127.0.0.1".into()),
            ("SMTP_PORT", smtp_port.to_string()),
        ];
        let mut env: BTreeMap<String, String> =
            vars.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        // One load generator is one IP and a few users.
        for (k, v) in orderflow_testkit::UNREFUSING_QUOTAS {
            env.insert(k.to_string(), v.to_string());
        }
        // `BENCH_ENV="WORKER_CONCURRENCY=32 PASSWORD_HASH_CONCURRENCY=1"`: settings to try.
        for pair in std::env::var("BENCH_ENV")
            .unwrap_or_default()
            .split_whitespace()
        {
            if let Some((k, v)) = pair.split_once('=') {
                env.insert(k.to_string(), v.to_string());
            }
        }
        Self(env)
    }

    pub fn with(&self, extra: &[(&str, String)]) -> Self {
        let mut env = self.clone();
        for (k, v) in extra {
            env.0.insert(k.to_string(), v.clone());
        }
        env
    }

    pub fn lookup(&self, key: &str) -> Option<String> {
        self.0.get(key).cloned()
    }
}

pub struct Process {
    pub name: String,
    pub port: u16,
    /// Where `/metrics` is served: the API's own metrics port; the worker's only port.
    pub metrics_port: u16,
    child: Child,
    pid: u32,
}

impl Process {
    async fn spawn(
        cfg: &Config,
        binary: &str,
        args: &[&str],
        name: &str,
        env: &Env,
    ) -> anyhow::Result<(Child, u32)> {
        let path = cfg.bin_dir.join(binary);
        let log = File::create(cfg.out_dir.join(format!("{name}.log")))?;
        let child = Command::new(&path)
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(&env.0)
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {} (build it first)", path.display()))?;
        let pid = child.id().context("child pid")?;
        Ok((child, pid))
    }

    /// Runs `orderflow-api args…` to completion (migrations, admin).
    pub async fn run_api_command(cfg: &Config, env: &Env, args: &[&str]) -> anyhow::Result<()> {
        let (mut child, _) = Self::spawn(cfg, "orderflow-api", args, "api-command", env).await?;
        let status = child.wait().await?;
        if !status.success() {
            bail!(
                "orderflow-api {args:?} failed; see {}",
                cfg.out_dir.join("api-command.log").display()
            );
        }
        Ok(())
    }

    pub async fn api(cfg: &Config, env: &Env, name: &str) -> anyhow::Result<Self> {
        let metrics_port = free_port();
        let extra = [("API_METRICS_PORT", metrics_port.to_string())];
        let mut api = Self::start(
            cfg,
            env,
            "orderflow-api",
            &["serve"],
            name,
            "APP_PORT",
            &extra,
        )
        .await?;
        api.metrics_port = metrics_port;
        Ok(api)
    }

    pub async fn worker(cfg: &Config, env: &Env, name: &str) -> anyhow::Result<Self> {
        let worker_name = format!("{name}-{}", uuid::Uuid::new_v4().simple());
        let extra = [("WORKER_NAME", worker_name)];
        Self::start(
            cfg,
            env,
            "orderflow-worker",
            &[],
            name,
            "WORKER_PORT",
            &extra,
        )
        .await
    }

    /// Starts `binary` listening on a free port (`port_var`) and waits for its `/health`.
    async fn start(
        cfg: &Config,
        env: &Env,
        binary: &str,
        args: &[&str],
        name: &str,
        port_var: &str,
        extra: &[(&str, String)],
    ) -> anyhow::Result<Self> {
        let port = free_port();
        let mut env = env.with(extra);
        env.0.insert(port_var.to_string(), port.to_string());
        let (child, pid) = Self::spawn(cfg, binary, args, name, &env).await?;
        let process = Self {
            name: name.into(),
            port,
            metrics_port: port,
            child,
            pid,
        };
        process.wait_healthy("/health").await?;
        Ok(process)
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn metrics_url(&self) -> String {
        format!("http://127.0.0.1:{}/metrics", self.metrics_port)
    }

    async fn wait_healthy(&self, path: &str) -> anyhow::Result<()> {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = client.get(format!("{}{path}", self.url())).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("{} did not become healthy; see its log", self.name);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// User + system CPU seconds so far.
    pub fn cpu_seconds(&self) -> f64 {
        cpu_seconds(self.pid).unwrap_or(f64::NAN)
    }

    /// Peak resident set size so far (VmHWM), MiB.
    pub fn peak_rss_mib(&self) -> f64 {
        status_kib(self.pid, "VmHWM:").map_or(f64::NAN, |kib| kib / 1024.0)
    }

    /// SIGTERM, then up to 30 s for a clean exit (SIGKILL after).
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .await;
        match tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await {
            Ok(_) => Ok(()),
            Err(_) => {
                self.child.kill().await?;
                bail!("{} ignored SIGTERM for 30 s", self.name)
            }
        }
    }
}

/// CPU seconds (user + system) a process has used so far.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) start at ") ".
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 here (0-based 11, 12).
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / clock_ticks())
}

fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

fn status_kib(pid: u32, field: &str) -> Option<f64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Checks that a program the benchmark drives is installed.
pub fn require(program: &str, hint: &str) -> anyhow::Result<()> {
    let found = std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .any(|dir| Path::new(dir).join(program).is_file());
    if !found {
        bail!("{program} is not installed ({hint}); scripts/bench.sh installs it");
    }
    Ok(())
}
