//! The SMTP server refuses every session (421 at the greeting) for `run.smtp_down`: the job
//! retries with growing delays and, once the server is back, exactly one email goes out.
//! Runs with JOB_BACKOFF_CAP_MS=60000 and JOB_MAX_ATTEMPTS=20 so the email follows within a
//! minute of the server's return (with the defaults, 600 s and 10, a job rides out at least
//! 8.5 minutes of outage but may wait up to 10 minutes more).

use std::time::{Duration, Instant};

use crate::{
    report::Row,
    stack::{Run, Stack},
};

pub async fn run(run: &Run) -> anyhow::Result<Row> {
    let extra = [
        ("JOB_BACKOFF_CAP_MS", "60000".to_string()),
        ("JOB_MAX_ATTEMPTS", "20".to_string()),
    ];
    let stack = Stack::start(run, "smtpdown", &extra, 1).await?;
    stack.smtp.refuse_connections(true);
    let before = stack.smtp.sessions();
    let order = stack
        .orderer()
        .place(None)
        .await
        .id
        .ok_or_else(|| anyhow::anyhow!("order refused"))?;
    let started = Instant::now();
    let mut attempts_at = Vec::new();
    let mut seen = before;
    while started.elapsed() < run.smtp_down {
        let now = stack.smtp.sessions();
        if now > seen {
            attempts_at.push(started.elapsed());
            seen = now;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stack.smtp.refuse_connections(false);
    let back = Instant::now();
    let sent = stack
        .wait_confirmed(&[order], Duration::from_secs(90))
        .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let copies = stack.confirmations().get(&order).map_or(0, Vec::len);
    let attempts = stack
        .scalar("SELECT COALESCE(max(attempts), 0)::bigint FROM outbox WHERE kind = 'send_order_confirmation'")
        .await?;
    let dead = stack.scalar("SELECT count(*) FROM dead_jobs").await?;
    stack.finish().await?;
    let gaps: Vec<f64> = attempts_at
        .windows(2)
        .map(|w| (w[1] - w[0]).as_secs_f64())
        .collect();
    // Equal jitter: each delay is in [base·2^(n-1), base·2^n], so delays never shrink
    // before the cap (60 s, reached by the 6th).
    let growing = gaps
        .iter()
        .take(5)
        .zip(gaps.iter().skip(1))
        .all(|(a, b)| b >= a);
    Ok(Row {
        fault: "SMTP down (421 to every session)",
        expected: "retries with growing delay, then exactly one email",
        figures: format!(
            "down {} s: {} attempts, delays {} s; {attempts} attempts in all; emails = {copies}; \
             duplicates = {}; dead = {dead}; sent {} after the server returned",
            run.smtp_down.as_secs(),
            attempts_at.len(),
            gaps.iter()
                .map(|g| format!("{g:.0}"))
                .collect::<Vec<_>>()
                .join(", "),
            copies.saturating_sub(1),
            sent.as_ref().map_or("never".into(), |at| format!(
                "{:.1} s",
                at.duration_since(back).as_secs_f64()
            ))
        ),
        pass: copies == 1 && dead == 0 && growing && attempts_at.len() >= 3 && sent.is_ok(),
    })
}
