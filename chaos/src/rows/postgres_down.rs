//! PostgreSQL stopped for 30 s (the run's own cluster, never the shared one): orders get fast
//! 503s and `/ready` says 503; nothing is half-written; service resumes by itself.

use reqwest::StatusCode;
use std::time::{Duration, Instant};

use crate::{
    report::Row,
    stack::{Run, Stack},
};

const OUTAGE: Duration = Duration::from_secs(30);

fn p99(mut took: Vec<Duration>) -> Duration {
    took.sort();
    took.get((took.len() * 99).div_ceil(100).saturating_sub(1))
        .copied()
        .unwrap_or_default()
}

pub async fn run(run: &Run) -> anyhow::Result<Row> {
    let stack = Stack::start(run, "postgres", &[], 1).await?;
    let orderer = stack.orderer();
    let poster = tokio::spawn(async move {
        let mut placed = Vec::new();
        let started = Instant::now();
        while started.elapsed() < OUTAGE + Duration::from_secs(15) {
            let at = Instant::now();
            placed.push((at, orderer.place(None).await));
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        placed
    });
    tokio::time::sleep(Duration::from_secs(5)).await;
    run.postgres("stop")?;
    let down = Instant::now();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let ready = stack.client.get(stack.url("/ready")).send().await?.status();
    tokio::time::sleep(OUTAGE - Duration::from_secs(5)).await;
    // The outage ends when the start is issued (the server accepts connections before
    // pg_ctlcluster returns).
    let up = Instant::now();
    run.postgres("start")?;
    let placed = poster.await?;

    let during: Vec<_> = placed
        .iter()
        .filter(|(at, _)| *at >= down + Duration::from_secs(1) && *at < up)
        .collect();
    let refused = during
        .iter()
        .filter(|(_, p)| p.status == StatusCode::SERVICE_UNAVAILABLE)
        .count();
    let outage_p99 = p99(during.iter().map(|(_, p)| p.took).collect());
    let recovered = placed
        .iter()
        .find(|(at, p)| *at >= up && p.status == StatusCode::CREATED)
        .map(|(at, p)| (*at + p.took).duration_since(up));
    let created: Vec<i64> = placed
        .iter()
        .filter(|(_, p)| p.status == StatusCode::CREATED)
        .filter_map(|(_, p)| p.id)
        .collect();
    let other = placed
        .iter()
        .filter(|(_, p)| {
            !matches!(
                p.status,
                StatusCode::CREATED | StatusCode::SERVICE_UNAVAILABLE
            )
        })
        .count();
    let emailed = stack
        .wait_confirmed(&created, Duration::from_secs(120))
        .await;
    let orders = stack.scalar("SELECT count(*) FROM orders").await?;
    let half_written = stack
        .scalar(
            "SELECT count(*) FROM orders o \
             WHERE NOT EXISTS (SELECT 1 FROM order_items i WHERE i.order_id = o.id) \
                OR NOT EXISTS (SELECT 1 FROM outbox x WHERE x.kind = 'send_order_confirmation' \
                               AND (x.payload->>'order_id')::bigint = o.id)",
        )
        .await?;
    stack.finish().await?;
    Ok(Row {
        fault: "PostgreSQL stopped 30 s (the script's own cluster)",
        expected: "fast 503s, /ready 503, recovers alone; nothing half-written",
        figures: format!(
            "{} requests during the outage: {refused} × 503, p99 {:.0} ms; /ready {}; other statuses = {other}; \
             half-written orders = {half_written}; orders in the database = {orders} = 201s answered {}; \
             first 201 {} after PostgreSQL started",
            during.len(),
            outage_p99.as_secs_f64() * 1000.0,
            ready.as_u16(),
            created.len(),
            recovered.map_or("never".into(), |d| format!("{:.1} s", d.as_secs_f64()))
        ),
        pass: refused == during.len()
            && !during.is_empty()
            && outage_p99 < Duration::from_secs(2)
            && ready == StatusCode::SERVICE_UNAVAILABLE
            && other == 0
            && half_written == 0
            && orders == created.len() as i64
            && recovered.is_some()
            && emailed.is_ok(),
    })
}
