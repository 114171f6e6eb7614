//! `orderflow-soak`: the hour-long soak under load and faults (scripts/soak.sh builds,
//! prepares the PostgreSQL cluster and calls it). Writes target/soak/report.md; exits
//! non-zero on any loss, duplicate, leak or unexplained 5xx.
//!
//! usage: orderflow-soak [--minutes N] [--bin-dir DIR]
//!        (environment: CHAOS_PG_BASE, CHAOS_PG_CLUSTER="15 faults")

use anyhow::{Context, bail};
use orderflow_chaos::{redis_server::RedisServer, soak, stack::Run};
use std::{path::PathBuf, time::Duration};

const USAGE: &str = "usage: orderflow-soak [--minutes N (default 60)] [--bin-dir DIR]";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("chaos/ has a parent")?
        .to_path_buf();
    let mut minutes = 60;
    let mut bin_dir = root.join("target/release");
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().context(USAGE);
        match arg.as_str() {
            "--minutes" => minutes = value()?.parse().context(USAGE)?,
            "--bin-dir" => bin_dir = value()?.into(),
            _ => bail!(USAGE),
        }
    }
    if minutes < 3 {
        bail!("--minutes must be at least 3 (the flatness checks compare windows)");
    }
    let out = root.join("target/soak");
    let log_dir = out.join("logs");
    std::fs::create_dir_all(&log_dir)?;
    let pg_base =
        std::env::var("CHAOS_PG_BASE").context("CHAOS_PG_BASE (scripts/soak.sh sets it)")?;
    let cluster = std::env::var("CHAOS_PG_CLUSTER").context("CHAOS_PG_CLUSTER")?;
    let (version, name) = cluster
        .split_once(' ')
        .context("CHAOS_PG_CLUSTER=\"VERSION NAME\"")?;
    let redis = RedisServer::start(out.join("redis"))?;
    let run = Run {
        bin_dir,
        log_dir,
        pg_base,
        pg_cluster: (version.into(), name.into()),
        redis_url: redis.url(),
        redis: std::sync::Mutex::new(redis),
        orders: 0,
        smtp_down: Duration::ZERO,
    };
    let pass = soak::run(soak::Options {
        minutes,
        run,
        out_dir: out,
    })
    .await?;
    if !pass {
        bail!(
            "the soak found a loss, a duplicate, a leak or an unexplained failure (target/soak/report.md)"
        );
    }
    Ok(())
}
