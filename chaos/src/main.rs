//! `orderflow-chaos`: the fault script's engine (scripts/chaos.sh builds, prepares the
//! PostgreSQL cluster and calls it). Each fault gets a fresh stack of real processes on
//! loopback; the table of figures goes to stdout and target/chaos/report.md; the exit code
//! is non-zero when any expectation fails.
//!
//! usage: orderflow-chaos [--only kill,term,…] [--orders N] [--smtp-down SECONDS]
//!        [--bin-dir DIR]   (environment: CHAOS_PG_BASE, CHAOS_PG_CLUSTER="15 faults")

use anyhow::{Context, bail};
use orderflow_chaos::{redis_server, report, report::Row, rows, stack::Run};
use std::{path::PathBuf, time::Duration};

fn usage() -> anyhow::Error {
    anyhow::anyhow!(
        "usage: orderflow-chaos [--only {}] [--orders N] [--smtp-down SECONDS] [--bin-dir DIR]",
        rows::ALL.join(",")
    )
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("chaos/ has a parent")?
        .to_path_buf();
    let mut only: Vec<String> = Vec::new();
    let mut orders = 1000;
    let mut smtp_down = Duration::from_secs(300);
    let mut bin_dir = root.join("target/release");
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(usage);
        match arg.as_str() {
            "--only" => only = value()?.split(',').map(str::to_owned).collect(),
            "--orders" => orders = value()?.parse().map_err(|_| usage())?,
            "--smtp-down" => {
                smtp_down = Duration::from_secs(value()?.parse().map_err(|_| usage())?)
            }
            "--bin-dir" => bin_dir = value()?.into(),
            _ => return Err(usage()),
        }
    }
    if let Some(unknown) = only.iter().find(|o| !rows::ALL.contains(&o.as_str())) {
        bail!("unknown fault {unknown}; known: {}", rows::ALL.join(","));
    }
    let out = root.join("target/chaos");
    let log_dir = out.join("logs");
    std::fs::create_dir_all(&log_dir)?;
    let pg_base =
        std::env::var("CHAOS_PG_BASE").context("CHAOS_PG_BASE (scripts/chaos.sh sets it)")?;
    let cluster = std::env::var("CHAOS_PG_CLUSTER").context("CHAOS_PG_CLUSTER")?;
    let (version, name) = cluster
        .split_once(' ')
        .context("CHAOS_PG_CLUSTER=\"VERSION NAME\"")?;
    let redis = redis_server::RedisServer::start(out.join("redis"))?;
    let run = Run {
        bin_dir,
        log_dir,
        pg_base,
        pg_cluster: (version.into(), name.into()),
        redis_url: redis.url(),
        redis: std::sync::Mutex::new(redis),
        orders,
        smtp_down,
    };

    let mut table: Vec<Row> = Vec::new();
    for fault in rows::ALL {
        if !only.is_empty() && !only.iter().any(|o| o == fault) {
            continue;
        }
        eprintln!("[chaos] {fault}");
        let row = match fault {
            "kill" => rows::worker_kill::run(&run).await,
            "term" => rows::worker_term::run(&run).await,
            "redis-down" => rows::redis_down::run(&run).await,
            "redis-stall" => rows::redis_stall::run(&run).await,
            "postgres-down" => rows::postgres_down::run(&run).await,
            "smtp-down" => rows::smtp_down::run(&run).await,
            "smtp-reject" => rows::smtp_reject::run(&run).await,
            _ => rows::races::run(&run).await,
        };
        let row = row.unwrap_or_else(|e| Row {
            fault,
            expected: "the fault runs to its end",
            figures: format!("error: {e:#}"),
            pass: false,
        });
        eprintln!(
            "[chaos] {fault}: {} — {}",
            if row.pass { "pass" } else { "FAIL" },
            row.figures
        );
        table.push(row);
    }
    let text = report::table(&table);
    println!("{text}");
    std::fs::write(out.join("report.md"), &text)?;
    let failed = table.iter().filter(|r| !r.pass).count();
    if failed > 0 {
        bail!(
            "{failed} of {} faults did not meet their expectation",
            table.len()
        );
    }
    Ok(())
}
