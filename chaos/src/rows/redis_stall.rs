//! Redis stalls (`DEBUG SLEEP 3`): nobody gets an answer for 3 s. Requests keep being served
//! (each Redis call has a deadline) and the workers resume by themselves.

use reqwest::StatusCode;
use std::time::{Duration, Instant};

use crate::{
    report::Row,
    stack::{Run, Stack, copies},
};

pub async fn run(run: &Run) -> anyhow::Result<Row> {
    let stack = Stack::start(run, "stall", &[], 2).await?;
    let orderer = stack.orderer();
    let poster = tokio::spawn(async move {
        let mut placed = Vec::new();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(8) {
            placed.push(orderer.place(None).await);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        placed
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    let redis_url = run.redis_url.clone();
    tokio::task::spawn_blocking(move || {
        let mut conn = redis::Client::open(redis_url)?.get_connection()?;
        redis::cmd("DEBUG")
            .arg("SLEEP")
            .arg(3)
            .query::<()>(&mut conn)
    })
    .await??;
    let stall_over = Instant::now();
    // The first order placed after the stall: how long until its email.
    let probe = stack.orderer().place(None).await;
    let probe_id = probe.id.filter(|_| probe.status == StatusCode::CREATED);
    let resumed = match probe_id {
        Some(id) => stack
            .wait_confirmed(&[id], Duration::from_secs(60))
            .await
            .ok(),
        None => None,
    };
    let placed = poster.await?;
    let errors = placed.iter().filter(|p| p.status.is_server_error()).count();
    let mut created: Vec<i64> = placed.iter().filter_map(|p| p.id).collect();
    created.extend(probe_id);
    let all = stack
        .wait_confirmed(&created, Duration::from_secs(120))
        .await;
    let (lost, different, same) = copies(&created, &stack.confirmations());
    stack.finish().await?;
    let resume = resumed.map(|at| at.duration_since(stall_over).as_secs_f64());
    Ok(Row {
        fault: "Redis stalls (DEBUG SLEEP 3)",
        expected: "workers resume by themselves; requests keep being served",
        figures: format!(
            "{} orders around the stall; 5xx = {errors}; lost = {lost}; duplicates = {}; an order placed after the stall emailed {} after it ended",
            created.len(),
            different + same,
            resume.map_or("never".into(), |s| format!("{s:.2} s"))
        ),
        pass: errors == 0
            && lost == 0
            && different + same == 0
            && all.is_ok()
            && resume.is_some_and(|s| s < 10.0),
    })
}
