//! The benchmark's results: a Markdown table on stdout (pasted into `docs/benchmarks.md`) and
//! a machine-readable `summary.json`.

use serde::Serialize;
use std::fmt::Write as _;

use crate::{
    jobs::{DrainResult, LatencyResult, NoopResult},
    pgbench::Limit,
    wrk::Load,
};

#[derive(Debug, Clone, Serialize)]
pub struct ApiRow {
    pub scenario: String,
    pub load: Load,
    pub api_cpu_seconds_per_1k: f64,
    pub api_peak_rss_mib: f64,
    /// pgbench running exactly the SQL the endpoint issues.
    pub exact: Option<Limit>,
    /// pgbench running the least SQL that does the same work.
    pub minimal: Option<Limit>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub memory_gib: f64,
    pub kernel: String,
    pub postgres: String,
    pub redis: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub started_at: String,
    pub machine: Machine,
    pub quick: bool,
    pub warmup_seconds: u64,
    pub duration_seconds: u64,
    pub connections: u32,
    pub seeded: Seeded,
    pub api: Vec<ApiRow>,
    pub noop: Option<NoopResult>,
    pub drains: Vec<DrainResult>,
    pub latency: Option<LatencyResult>,
    /// Cache hits / (hits + misses) during the warm read run, from the API's metrics.
    pub cache_hit_ratio: Option<f64>,
    pub limits: Option<LimitsResult>,
}

/// Reads beside a login burst, and the rate limiter's cost.
#[derive(Debug, Clone, Serialize)]
pub struct LimitsResult {
    pub read_alone: Load,
    pub read_during_logins: Load,
    /// The burst itself; its non-2xx are the 503s of saturated password hashing.
    pub logins: Load,
    /// The cache-off read run (rate limiter on, 64 connections), if it ran.
    pub read_limited_rps: Option<f64>,
    pub read_unlimited: Load,
}

#[derive(Debug, Clone, Serialize)]
pub struct Seeded {
    pub customers: i64,
    pub products: i64,
    pub orders: i64,
    pub items: i64,
    pub seconds: f64,
}

fn ratio(api: f64, limit: &Option<Limit>) -> String {
    match limit {
        Some(l) => format!(
            "{:.0} (c={}) | {:.0}%",
            l.tps,
            l.clients,
            100.0 * api / l.tps
        ),
        None => "– | –".into(),
    }
}

impl Summary {
    pub fn table(&self) -> String {
        let mut t = String::new();
        let m = &self.machine;
        let _ = writeln!(
            t,
            "Machine: {} ({} cores, {:.0} GiB), {}, {}, {}. Started {}.",
            m.cpu, m.cores, m.memory_gib, m.kernel, m.postgres, m.redis, self.started_at
        );
        let _ = writeln!(
            t,
            "Seeded {} customers, {} products, {} orders ({} items) in {:.1} s. wrk: {} connections, \
             {} s warm-up, {} s measured{}.\n",
            self.seeded.customers,
            self.seeded.products,
            self.seeded.orders,
            self.seeded.items,
            self.seeded.seconds,
            self.connections,
            self.warmup_seconds,
            self.duration_seconds,
            if self.quick { " (--quick)" } else { "" }
        );
        let _ = writeln!(
            t,
            "| scenario | rps | p50 ms | p95 ms | p99 ms | non-2xx | socket errors | API CPU s / 1k req | wrk CPU s / 1k req | API peak RSS MiB | pgbench, exact SQL (tps) | api / exact | pgbench, minimal SQL (tps) | api / minimal |"
        );
        let _ = writeln!(
            t,
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        );
        for row in &self.api {
            let l = &row.load;
            let _ = writeln!(
                t,
                "| {} | {:.0} | {:.2} | {:.2} | {:.2} | {} | {} | {:.3} | {:.3} | {:.1} | {} | {} |",
                row.scenario,
                l.rps,
                l.p50_ms,
                l.p95_ms,
                l.p99_ms,
                l.non_2xx,
                l.socket_errors,
                row.api_cpu_seconds_per_1k,
                l.wrk_cpu_seconds_per_1k,
                row.api_peak_rss_mib,
                ratio(l.rps, &row.exact),
                ratio(l.rps, &row.minimal),
            );
        }
        if let Some(ratio) = self.cache_hit_ratio {
            let _ = writeln!(
                t,
                "\nCache hit ratio during the warm read run: {:.1}%.",
                100.0 * ratio
            );
        }
        if let Some(l) = &self.limits {
            let _ = writeln!(
                t,
                "\n| limits | figure |\n|---|---|\n\
                 | GET /orders/{{id}}, 16 connections alone | {:.0} rps, p50 {:.2} ms, p99 {:.2} ms |\n\
                 | the same during 200 concurrent logins | {:.0} rps, p50 {:.2} ms, p99 {:.2} ms ({:.1}× the p99 alone) |\n\
                 | the logins | {:.0} rps answered: {} × 200 and {} × 503 (saturated hashing), p99 {:.0} ms |\n\
                 | GET /orders/{{id}} (cache off, 64 connections): rate limiter on / off | {} / {:.0} rps ({}) |",
                l.read_alone.rps,
                l.read_alone.p50_ms,
                l.read_alone.p99_ms,
                l.read_during_logins.rps,
                l.read_during_logins.p50_ms,
                l.read_during_logins.p99_ms,
                l.read_during_logins.p99_ms / l.read_alone.p99_ms,
                l.logins.rps,
                l.logins.requests - l.logins.non_2xx,
                l.logins.non_2xx,
                l.logins.p99_ms,
                l.read_limited_rps.map_or("–".into(), |r| format!("{r:.0}")),
                l.read_unlimited.rps,
                l.read_limited_rps.map_or("–".into(), |r| format!(
                    "{:.0}% of the unlimited rate",
                    100.0 * r / l.read_unlimited.rps
                )),
            );
        }
        let _ = writeln!(t, "\n| worker | figure |\n|---|---|");
        if let Some(n) = &self.noop {
            let _ = writeln!(
                t,
                "| no-op jobs through apalis-redis (baseline) | {:.0} jobs/s ({} jobs; push {:.0}/s) |",
                n.jobs_per_s, n.jobs, n.push_per_s
            );
        }
        for d in &self.drains {
            let _ = writeln!(
                t,
                "| confirmation emails, {} worker process{} | {:.0} emails/s ({} emails in {:.2} s; duplicates {}; worker CPU {:.1} s; peak RSS {:.0} MiB) |",
                d.workers,
                if d.workers == 1 { "" } else { "es" },
                d.emails_per_s,
                d.emails,
                d.drain_seconds,
                d.duplicates,
                d.worker_cpu_seconds,
                d.worker_peak_rss_mib
            );
        }
        if let Some(l) = &self.latency {
            let _ = writeln!(
                t,
                "| enqueue→email, {} workers, {:.0} orders/s through the API | p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms ({} orders) |",
                l.workers, l.orders_per_s, l.p50_ms, l.p99_ms, l.max_ms, l.orders
            );
        }
        t
    }
}

pub fn machine() -> Machine {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let cpu = read("/proc/cpuinfo")
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let memory_gib = read("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|l| l.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0 / 1024.0);
    let command = |program: &str, args: &[&str]| {
        std::process::Command::new(program)
            .args(args)
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    };
    Machine {
        cpu,
        cores: std::thread::available_parallelism().map_or(0, usize::from),
        memory_gib,
        kernel: format!("Linux {}", command("uname", &["-r"])),
        postgres: command("pgbench", &["--version"])
            .replace("pgbench (PostgreSQL) ", "PostgreSQL "),
        redis: command("redis-server", &["--version"])
            .split_whitespace()
            .find(|w| w.starts_with("v="))
            .map(|v| format!("Redis {}", &v[2..]))
            .unwrap_or_default(),
    }
}
