//! Concurrency on one key and one order: 50 simultaneous POSTs with the same Idempotency-Key
//! make one order; 50 simultaneous transitions of one order to the same status have one
//! winner.

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::json;

use crate::{
    report::Row,
    stack::{Run, Stack},
};

pub async fn run(run: &Run) -> anyhow::Result<Row> {
    let stack = Stack::start(run, "races", &[], 1).await?;
    let orderer = stack.orderer();
    let key = format!("race-{}", uuid::Uuid::new_v4().simple());
    let placed = join_all((0..50).map(|_| orderer.place(Some(&key)))).await;
    let orders = stack.scalar("SELECT count(*) FROM orders").await?;
    let ids: std::collections::BTreeSet<_> = placed.iter().filter_map(|p| p.id).collect();
    let statuses = |list: &[StatusCode]| {
        let mut counts = std::collections::BTreeMap::new();
        for s in list {
            *counts.entry(s.as_u16()).or_insert(0) += 1;
        }
        counts
            .iter()
            .map(|(s, n)| format!("{n} × {s}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let post_statuses = statuses(&placed.iter().map(|p| p.status).collect::<Vec<_>>());

    let target = orderer
        .place(None)
        .await
        .id
        .ok_or_else(|| anyhow::anyhow!("order refused"))?;
    let url = stack.url(&format!("/api/v1/orders/{target}/status"));
    let answers = join_all((0..50).map(|_| {
        stack
            .client
            .patch(&url)
            .bearer_auth(&stack.admin)
            .json(&json!({"status": "processing"}))
            .send()
    }))
    .await;
    let answers: Vec<StatusCode> = answers
        .into_iter()
        .map(|r| r.map_or(StatusCode::BAD_GATEWAY, |r| r.status()))
        .collect();
    let winners = answers.iter().filter(|s| **s == StatusCode::OK).count();
    let losers_409 = answers
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    let audited = stack
        .scalar("SELECT count(*) FROM audit_log WHERE action = 'order.status_changed'")
        .await?;
    stack.finish().await?;
    Ok(Row {
        fault: "50 concurrent same-key POSTs; 50 racing transitions to one target",
        expected: "one order; one winner",
        figures: format!(
            "POSTs: {post_statuses}; orders = {orders} (ids answered: {}); transitions: winners = \
             {winners}, 409 = {losers_409}, audited changes = {audited}",
            ids.len()
        ),
        pass: orders == 1 && ids.len() == 1 && winners == 1 && losers_409 == 49 && audited == 1,
    })
}
