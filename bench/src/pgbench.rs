//! PostgreSQL's own limit for the same work: pgbench (`-M prepared`) running a script, at each
//! configured client count; the best is reported.

use anyhow::{Context, bail};
use serde::Serialize;
use std::time::Duration;
use tokio::process::Command;

use crate::config::Config;

/// A pgbench script: `\set` lines and SQL using `:name` variables.
pub struct Script {
    pub name: &'static str,
    pub body: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Limit {
    pub script: String,
    /// Transactions (script executions) per second at the best client count.
    pub tps: f64,
    pub clients: u32,
    /// Every client count tried, with its tps.
    pub tried: Vec<(u32, f64)>,
}

/// Runs `script` for `duration` at every configured client count, after `warmup`.
pub async fn limit(
    cfg: &Config,
    script: &Script,
    vars: &[(&str, String)],
    warmup: Duration,
    duration: Duration,
) -> anyhow::Result<Limit> {
    let path = cfg.out_dir.join(format!("pgbench-{}.sql", script.name));
    std::fs::write(&path, &script.body)?;
    let mut tried = Vec::new();
    for &clients in &cfg.pg_clients {
        if !warmup.is_zero() {
            run(cfg, &path, clients, vars, warmup).await?;
        }
        tried.push((clients, run(cfg, &path, clients, vars, duration).await?));
    }
    let (clients, tps) = tried
        .iter()
        .copied()
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .context("no client count configured")?;
    Ok(Limit {
        script: script.name.to_string(),
        tps,
        clients,
        tried,
    })
}

async fn run(
    cfg: &Config,
    path: &std::path::Path,
    clients: u32,
    vars: &[(&str, String)],
    duration: Duration,
) -> anyhow::Result<f64> {
    let mut command = Command::new("pgbench");
    command
        .args(["-n", "-M", "prepared"])
        .arg(format!("-c{clients}"))
        .arg(format!("-j{}", cfg.threads))
        .arg(format!("-T{}", duration.as_secs().max(1)));
    for (k, v) in vars {
        command.arg("-D").arg(format!("{k}={v}"));
    }
    let output = command
        .arg("-f")
        .arg(path)
        .arg(cfg.db_url())
        .output()
        .await
        .context("running pgbench")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        bail!("pgbench {} failed:\n{stdout}\n{stderr}", path.display());
    }
    let failed = stdout
        .lines()
        .find_map(|l| l.strip_prefix("number of failed transactions: "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0);
    if failed > 0 {
        bail!(
            "pgbench {}: {failed} failed transactions\n{stdout}",
            path.display()
        );
    }
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("tps = "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|tps| tps.parse().ok())
        .with_context(|| format!("no tps in pgbench output:\n{stdout}"))
}

/// Turns a statement the API runs, with `$n` placeholders, into a pgbench command: `$n`
/// becomes `(args[n-1])` (a pgbench `:variable`, a literal or an expression), all on one line
/// as pgbench wants, ended by `end` (`";"`, or `" \\gset"` to keep the row's columns).
pub fn from_statement(sql: &str, args: &[&str], end: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(|d| d.is_ascii_digit()) {
            let mut n = String::new();
            while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                n.push(d);
                chars.next();
            }
            let index: usize = n.parse().expect("digits");
            out.push('(');
            out.push_str(args[index - 1]);
            out.push(')');
        } else if c == '\n' {
            out.push(' ');
        } else {
            out.push(c);
        }
    }
    format!("{}{end}\n", out.trim().trim_end_matches(';'))
}

#[cfg(test)]
mod tests {
    use super::from_statement;

    #[test]
    fn placeholders_become_arguments_on_one_line() {
        let args = ["a", "b", "c", "d", "e", "f", "g", "h", "i", ":j"];
        assert_eq!(
            from_statement("SELECT $1,\n $2, $10 FROM t", &args, ";"),
            "SELECT (a),  (b), (:j) FROM t;\n"
        );
    }
}
