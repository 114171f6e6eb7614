//! HTTP load with wrk (Debian's package): fixed connection count, a Lua script per scenario
//! that prints its figures as one JSON line (`bench/wrk/common.lua`).
//!
//! wrk rather than oha: it is packaged by Debian (no toolchain needed on a new machine), its
//! Lua hooks build per-request bodies and headers (fresh Idempotency-Keys, many users' tokens)
//! at a few microseconds each, and it stays well under a core at these rates.

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::process::Command;

use crate::config::Config;

#[derive(Debug, Deserialize)]
struct Raw {
    requests: u64,
    duration_us: u64,
    connect_errors: u64,
    read_errors: u64,
    write_errors: u64,
    status_errors: u64,
    timeouts: u64,
    p50_us: u64,
    p95_us: u64,
    p99_us: u64,
    max_us: u64,
}

/// One measured run.
#[derive(Debug, Clone, Serialize)]
pub struct Load {
    pub requests: u64,
    pub seconds: f64,
    pub rps: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Responses with status ≥ 400.
    pub non_2xx: u64,
    /// Connect, read and write errors and timeouts.
    pub socket_errors: u64,
    /// CPU seconds wrk itself used per 1,000 requests (it shares the machine).
    pub wrk_cpu_seconds_per_1k: f64,
}

/// Runs `script` against `base_url` for `duration` and returns its figures.
pub async fn run(
    cfg: &Config,
    script: &str,
    base_url: &str,
    duration: Duration,
    env: &[(&str, String)],
) -> anyhow::Result<Load> {
    run_with(cfg, script, base_url, duration, env, cfg.connections).await
}

/// `run` with its own connection count.
pub async fn run_with(
    cfg: &Config,
    script: &str,
    base_url: &str,
    duration: Duration,
    env: &[(&str, String)],
    connections: u32,
) -> anyhow::Result<Load> {
    // Through bash, whose `times` reports the CPU wrk used.
    let output = Command::new("bash")
        .arg("-c")
        .arg("wrk \"$@\" && times")
        .arg("wrk")
        .arg(format!("-t{}", cfg.threads))
        .arg(format!("-c{connections}"))
        .arg(format!("-d{}s", duration.as_secs().max(1)))
        .arg("--timeout")
        .arg("10s")
        .arg("-s")
        .arg(cfg.assets.join("wrk").join(format!("{script}.lua")))
        .arg(base_url)
        .env("BENCH_LUA_DIR", cfg.assets.join("wrk"))
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .await
        .context("running wrk")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let Some(line) = stdout.lines().find_map(|l| l.strip_prefix("BENCH_JSON ")) else {
        bail!(
            "wrk {script} printed no result:\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    let raw: Raw = serde_json::from_str(line).with_context(|| format!("wrk output {line}"))?;
    let seconds = raw.duration_us as f64 / 1e6;
    // `times` prints the shell's user/system time, then its children's: "0m1.234s 0m0.567s".
    let wrk_cpu = stdout
        .lines()
        .rfind(|l| l.contains('m') && l.ends_with('s'))
        .map(|l| {
            l.split_whitespace()
                .filter_map(minutes_seconds)
                .sum::<f64>()
        })
        .unwrap_or(f64::NAN);
    Ok(Load {
        requests: raw.requests,
        seconds,
        rps: raw.requests as f64 / seconds,
        p50_ms: raw.p50_us as f64 / 1e3,
        p95_ms: raw.p95_us as f64 / 1e3,
        p99_ms: raw.p99_us as f64 / 1e3,
        max_ms: raw.max_us as f64 / 1e3,
        non_2xx: raw.status_errors,
        socket_errors: raw.connect_errors + raw.read_errors + raw.write_errors + raw.timeouts,
        wrk_cpu_seconds_per_1k: wrk_cpu / raw.requests.max(1) as f64 * 1000.0,
    })
}

/// "1m2.500s" → 62.5
fn minutes_seconds(s: &str) -> Option<f64> {
    let (m, rest) = s.split_once('m')?;
    Some(m.parse::<f64>().ok()? * 60.0 + rest.strip_suffix('s')?.parse::<f64>().ok()?)
}
