//! Redis stopped for 30 s while orders are posted (20/s): the API keeps answering 201 (its
//! outbox rows wait in PostgreSQL, the rate limits fall back to each instance, the cache is
//! bypassed); once Redis is back the backlog drains by itself.

use reqwest::StatusCode;
use std::time::{Duration, Instant};

use crate::{
    report::Row,
    stack::{Run, Stack, copies},
};

const OUTAGE: Duration = Duration::from_secs(30);

pub async fn run(run: &Run) -> anyhow::Result<Row> {
    let stack = Stack::start(run, "redis", &[], 2).await?;
    let orderer = stack.orderer();
    let poster = tokio::spawn(async move {
        let mut placed = Vec::new();
        let started = Instant::now();
        while started.elapsed() < OUTAGE + Duration::from_secs(10) {
            placed.push(orderer.place(None).await);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        placed
    });
    tokio::time::sleep(Duration::from_secs(5)).await;
    run.redis.lock().expect("redis lock").down();
    tokio::time::sleep(OUTAGE).await;
    run.redis.lock().expect("redis lock").up()?;
    let back = Instant::now();
    let placed = poster.await?;
    let errors = placed.iter().filter(|p| p.status.is_server_error()).count();
    let created: Vec<i64> = placed
        .iter()
        .filter(|p| p.status == StatusCode::CREATED)
        .filter_map(|p| p.id)
        .collect();
    let confirmed = stack
        .wait_confirmed(&created, Duration::from_secs(120))
        .await;
    let drain = confirmed
        .as_ref()
        .map(|at| at.duration_since(back).as_secs_f64());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (lost, different, same) = copies(&created, &stack.confirmations());
    stack.finish().await?;
    Ok(Row {
        fault: "Redis stopped 30 s while orders are posted (20/s)",
        expected: "201s continue; the backlog drains once Redis is back",
        figures: format!(
            "{} posted, {} × 201; 5xx = {errors}; lost = {lost}; duplicates = {}; drained {} after Redis returned",
            placed.len(),
            created.len(),
            different + same,
            drain.map_or("never".into(), |s| format!("{s:.1} s"))
        ),
        pass: errors == 0
            && created.len() == placed.len()
            && lost == 0
            && different + same == 0
            && confirmed.is_ok(),
    })
}
