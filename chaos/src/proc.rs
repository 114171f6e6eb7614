//! OrderFlow's binaries as child processes: started with an environment of their own, logs to
//! a file, stopped by the signal a fault calls for.

use anyhow::{Context, bail};
use std::{
    collections::BTreeMap,
    fs::File,
    path::Path,
    process::Stdio,
    time::{Duration, Instant},
};
use tokio::process::{Child, Command};

pub use orderflow_testkit::free_port;

pub struct Proc {
    pub name: String,
    child: Child,
    pid: u32,
}

impl Proc {
    /// Starts `bin` with exactly `env` (plus PATH), its output in `log_dir/name.log`, and waits
    /// for `GET http://127.0.0.1:port/health`.
    pub async fn start(
        bin: &Path,
        args: &[&str],
        env: &BTreeMap<String, String>,
        (log_dir, name): (&Path, &str),
        port: u16,
    ) -> anyhow::Result<Self> {
        let log = File::create(log_dir.join(format!("{name}.log")))?;
        let child = Command::new(bin)
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env)
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let pid = child.id().context("child pid")?;
        let proc = Self {
            name: name.into(),
            child,
            pid,
        };
        let url = format!("http://127.0.0.1:{port}/health");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = reqwest::get(&url).await
                && r.status().is_success()
            {
                return Ok(proc);
            }
            if Instant::now() > deadline {
                bail!("{name} never answered {url}; see {name}.log");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    fn signal(&self, signal: &str) {
        let _ = std::process::Command::new("kill")
            .args([signal, &self.pid.to_string()])
            .status();
    }

    /// SIGKILL: no clean-up of any kind.
    pub async fn kill(mut self) {
        self.signal("-KILL");
        let _ = self.child.wait().await;
    }

    /// SIGTERM; returns how long the process took to exit and whether it exited with 0.
    pub async fn terminate(mut self, limit: Duration) -> anyhow::Result<(Duration, bool)> {
        let started = Instant::now();
        self.signal("-TERM");
        match tokio::time::timeout(limit, self.child.wait()).await {
            Ok(status) => Ok((started.elapsed(), status?.success())),
            Err(_) => {
                self.child.kill().await?;
                bail!("{} ignored SIGTERM for {limit:?}", self.name)
            }
        }
    }
}
