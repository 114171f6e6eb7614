//! What one benchmark run does: durations, sizes and where things are. `--quick` shrinks
//! everything so the whole command finishes in a couple of minutes.

use anyhow::{Context, bail};
use std::{path::PathBuf, time::Duration};

#[derive(Debug, Clone)]
pub struct Config {
    pub quick: bool,
    /// Load before each measured run, not counted.
    pub warmup: Duration,
    /// Each measured run.
    pub duration: Duration,
    /// wrk connections and threads.
    pub connections: u32,
    pub threads: u32,
    /// pgbench client counts tried for each script; the best is PostgreSQL's limit.
    pub pg_clients: Vec<u32>,
    pub customers: i64,
    pub products: i64,
    pub orders: i64,
    /// `--orders N,N,…`: the growth run instead of the usual one, one database per size (see
    /// `growth.rs`).
    pub sizes: Vec<i64>,
    /// Reads by id pick from the first `hot_orders` orders (a hot set, as real traffic has).
    pub hot_orders: i64,
    /// Emails queued for each worker drain run.
    pub emails: usize,
    /// Scenarios to run (all when empty): health, read, read-cached, list, create, login, limits,
    /// tracing, worker.
    pub only: Vec<String>,
    pub bin_dir: PathBuf,
    /// pgbench beside each scenario (off with `--no-pgbench`: its SQL is this build's, so it
    /// means nothing beside another build's binaries).
    pub pgbench: bool,
    /// `bench/` in the repository: wrk scripts live there.
    pub assets: PathBuf,
    pub out_dir: PathBuf,
    pub pg_base: String,
    pub redis_url: String,
}

const USAGE: &str = "usage: orderflow-bench [--quick] [--duration SECONDS] [--warmup SECONDS] \
                     [--only health,read,read-cached,list,create,login,limits,tracing,worker] [--out DIR] \
                     [--bin-dir DIR] [--no-pgbench] [--connections N] [--orders N,N,…]";

impl Config {
    pub fn from_args() -> anyhow::Result<Self> {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .context("bench/ has a parent")?
            .to_path_buf();
        let mut cfg = Self {
            quick: false,
            warmup: Duration::from_secs(5),
            duration: Duration::from_secs(20),
            connections: 64,
            threads: 2,
            pg_clients: vec![16, 64],
            customers: 1_000,
            products: 200,
            orders: 100_000,
            sizes: Vec::new(),
            hot_orders: 1_000,
            emails: 4_000,
            only: Vec::new(),
            bin_dir: root.join("target/release"),
            pgbench: true,
            assets: root.join("bench"),
            out_dir: root.join("target/bench"),
            pg_base: orderflow_testkit::pg_base(),
            redis_url: orderflow_testkit::redis_url(),
        };
        let mut args = std::env::args().skip(1);
        let seconds = |v: Option<String>, name: &str| -> anyhow::Result<Duration> {
            let v = v.with_context(|| format!("{name} needs a value\n{USAGE}"))?;
            Ok(Duration::from_secs(
                v.parse().with_context(|| format!("{name} {v:?}"))?,
            ))
        };
        let (mut duration, mut warmup) = (None, None);
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--quick" => cfg.quick = true,
                "--duration" => duration = Some(seconds(args.next(), "--duration")?),
                "--warmup" => warmup = Some(seconds(args.next(), "--warmup")?),
                "--only" => {
                    cfg.only = args
                        .next()
                        .context(USAGE)?
                        .split(',')
                        .map(str::to_string)
                        .collect()
                }
                "--connections" => {
                    let v = args.next().context(USAGE)?;
                    cfg.connections = v.parse().with_context(|| format!("--connections {v:?}"))?;
                }
                // The growth run: the same requests at each database size (e.g.
                // 100000,1000000,10000000), figures side by side.
                "--orders" => {
                    let v = args.next().context(USAGE)?;
                    cfg.sizes = v
                        .split(',')
                        .map(|n| n.trim().replace('_', "").parse::<i64>())
                        .collect::<Result<_, _>>()
                        .with_context(|| format!("--orders {v:?}"))?;
                    if cfg.sizes.iter().any(|&n| n < 1_000) {
                        bail!("--orders: at least 1000 orders per size");
                    }
                }
                "--no-pgbench" => cfg.pgbench = false,
                "--out" => cfg.out_dir = PathBuf::from(args.next().context(USAGE)?),
                // Another build of orderflow-api and orderflow-worker (e.g. an older commit's,
                // to compare before and after on one machine).
                "--bin-dir" => cfg.bin_dir = PathBuf::from(args.next().context(USAGE)?),
                "-h" | "--help" => {
                    println!("{USAGE}");
                    std::process::exit(0);
                }
                other => bail!("unknown argument {other:?}\n{USAGE}"),
            }
        }
        if cfg.quick {
            cfg.warmup = Duration::from_secs(2);
            cfg.duration = Duration::from_secs(5);
            cfg.pg_clients = vec![16];
            cfg.orders = 20_000;
            cfg.emails = 1_000;
        }
        cfg.duration = duration.unwrap_or(cfg.duration);
        cfg.warmup = warmup.unwrap_or(cfg.warmup);
        std::fs::create_dir_all(&cfg.out_dir)?;
        Ok(cfg)
    }

    pub fn runs(&self, scenario: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|s| s == scenario)
    }

    pub fn db_url(&self) -> String {
        format!("{}/orderflow_bench", self.pg_base)
    }
}
