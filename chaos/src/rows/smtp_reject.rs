//! The SMTP server rejects the recipient (550): the job dies at once (no retry can help),
//! shows in `GET /api/v1/admin/jobs/dead`, and a replay after the cause is fixed sends
//! exactly one email.

use reqwest::StatusCode;
use serde_json::Value;
use std::time::{Duration, Instant};

use crate::{
    report::Row,
    stack::{Run, Stack},
};

pub async fn run(run: &Run) -> anyhow::Result<Row> {
    let stack = Stack::start(run, "reject", &[], 1).await?;
    stack.smtp.reject_recipients(true);
    let order = stack
        .orderer()
        .place(None)
        .await
        .id
        .ok_or_else(|| anyhow::anyhow!("order refused"))?;
    let deadline = Instant::now() + Duration::from_secs(30);
    let dead = loop {
        let page: Value = stack
            .client
            .get(stack.url("/api/v1/admin/jobs/dead"))
            .bearer_auth(&stack.admin)
            .send()
            .await?
            .json()
            .await?;
        if page["total"].as_i64() == Some(1) {
            break page["items"][0].clone();
        }
        anyhow::ensure!(Instant::now() < deadline, "no dead job after 30 s: {page}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let attempts = dead["attempts"].as_i64().unwrap_or(-1);
    stack.smtp.reject_recipients(false);
    let replay = stack
        .client
        .post(stack.url(&format!("/api/v1/admin/jobs/dead/{}/retry", dead["id"])))
        .bearer_auth(&stack.admin)
        .send()
        .await?
        .status();
    let sent = stack
        .wait_confirmed(&[order], Duration::from_secs(30))
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let copies = stack.confirmations().get(&order).map_or(0, Vec::len);
    stack.finish().await?;
    Ok(Row {
        fault: "SMTP rejects the recipient permanently (550)",
        expected: "dead job, visible, replayable",
        figures: format!(
            "attempts = {attempts}; dead jobs listed = 1; replay {}; emails after the replay = {copies}",
            replay.as_u16()
        ),
        pass: attempts == 1 && replay == StatusCode::ACCEPTED && sent.is_ok() && copies == 1,
    })
}
