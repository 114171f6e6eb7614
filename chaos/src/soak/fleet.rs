//! The soak's processes: two API instances and three workers on one database, Redis and SMTP
//! server, each in a slot that a fault can empty (SIGKILL) and fill again on the same port.

use anyhow::Context;
use sqlx::{PgPool, postgres::PgPoolOptions};
use std::collections::BTreeMap;

use crate::{
    proc::{Proc, free_port},
    stack::{Run, base_env},
};

/// One process of the fleet and its restarts.
pub struct Slot {
    pub name: String,
    pub port: u16,
    pub proc: Option<Proc>,
    /// How many times it was (re)started.
    pub starts: u32,
    api: bool,
}

pub struct Fleet {
    pub apis: Vec<Slot>,
    pub workers: Vec<Slot>,
    /// Straight to the soak's database (for the checks).
    pub db: PgPool,
    pub database: String,
    env: BTreeMap<String, String>,
    run_bin: std::path::PathBuf,
    log_dir: std::path::PathBuf,
}

impl Fleet {
    pub async fn start(
        run: &Run,
        smtp_port: u16,
        apis: usize,
        workers: usize,
    ) -> anyhow::Result<Self> {
        let database = format!(
            "orderflow_soak_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let mut env = base_env(run, "soak", &database, smtp_port);
        for (k, v) in [
            // Emails follow within a minute of the SMTP server's return.
            ("JOB_BACKOFF_CAP_MS", "60000"),
            ("JOB_MAX_ATTEMPTS", "20"),
            ("WORKER_CONCURRENCY", "8"),
            // Finished jobs' data kept a minute and purged every 15 s: Redis reaches its steady
            // state early, so growth after that is a leak, not retention.
            ("JOB_RETENTION_SECONDS", "60"),
            ("CLEANUP_INTERVAL_SECONDS", "15"),
        ] {
            env.insert(k.into(), v.into());
        }
        let mut fleet = Self {
            apis: Vec::new(),
            workers: Vec::new(),
            db: PgPoolOptions::new()
                .max_connections(1)
                .connect_lazy(&format!("{}/postgres", run.pg_base))?,
            database: database.clone(),
            env,
            run_bin: run.bin_dir.clone(),
            log_dir: run.log_dir.clone(),
        };
        for i in 0..apis {
            fleet
                .apis
                .push(Slot::new(format!("soak-api-{}", i + 1), true));
        }
        for i in 0..workers {
            fleet
                .workers
                .push(Slot::new(format!("soak-worker-{}", i + 1), false));
        }
        // The first API creates the database and runs the migrations before the others start.
        for i in 0..apis {
            fleet.fill_api(i).await?;
        }
        fleet.db = PgPoolOptions::new()
            .max_connections(2)
            .connect(&format!("{}/{database}", run.pg_base))
            .await
            .context("connecting to the soak database")?;
        for i in 0..workers {
            fleet.fill_worker(i).await?;
        }
        Ok(fleet)
    }

    pub fn api_urls(&self) -> Vec<String> {
        self.apis
            .iter()
            .map(|s| format!("http://127.0.0.1:{}", s.port))
            .collect()
    }

    pub async fn fill_api(&mut self, i: usize) -> anyhow::Result<()> {
        let mut env = self.env.clone();
        env.insert("APP_PORT".into(), self.apis[i].port.to_string());
        env.insert("API_METRICS_PORT".into(), free_port().to_string());
        let bin = self.run_bin.join("orderflow-api");
        self.apis[i]
            .fill(&bin, &["serve"], &env, &self.log_dir)
            .await
    }

    pub async fn fill_worker(&mut self, i: usize) -> anyhow::Result<()> {
        let mut env = self.env.clone();
        env.insert("WORKER_HOST".into(), "127.0.0.1".into());
        env.insert("WORKER_PORT".into(), self.workers[i].port.to_string());
        let bin = self.run_bin.join("orderflow-worker");
        self.workers[i].fill(&bin, &[], &env, &self.log_dir).await
    }

    /// Every running process: (slot name, start number, pid).
    pub fn pids(&self) -> Vec<(String, u32, u32)> {
        self.apis
            .iter()
            .chain(&self.workers)
            .filter_map(|s| s.proc.as_ref().map(|p| (s.name.clone(), s.starts, p.pid())))
            .collect()
    }

    /// Stops every process and drops the database.
    pub async fn finish(mut self, pg_base: &str) -> anyhow::Result<()> {
        for slot in self.apis.iter_mut().chain(self.workers.iter_mut()) {
            if let Some(p) = slot.proc.take() {
                p.kill().await;
            }
        }
        self.db.close().await;
        let admin = PgPoolOptions::new()
            .max_connections(1)
            .connect(&format!("{pg_base}/postgres"))
            .await?;
        // The name is ours (letters, digits, '_'), not input.
        let drop = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.database);
        sqlx::query(sqlx::AssertSqlSafe(drop))
            .execute(&admin)
            .await?;
        Ok(())
    }
}

impl Slot {
    fn new(name: String, api: bool) -> Self {
        Self {
            name,
            port: free_port(),
            proc: None,
            starts: 0,
            api,
        }
    }

    async fn fill(
        &mut self,
        bin: &std::path::Path,
        args: &[&str],
        env: &BTreeMap<String, String>,
        log_dir: &std::path::Path,
    ) -> anyhow::Result<()> {
        self.starts += 1;
        let log = format!("{}-{}", self.name, self.starts);
        self.proc = Some(Proc::start(bin, args, env, (log_dir, &log), self.port).await?);
        Ok(())
    }

    /// SIGKILL: the slot is empty until filled again.
    pub async fn kill(&mut self) {
        if let Some(p) = self.proc.take() {
            p.kill().await;
        }
    }

    pub fn is_api(&self) -> bool {
        self.api
    }
}
