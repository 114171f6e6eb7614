//! SIGTERM one of three workers while confirmations go out: it stops fetching, lets the jobs
//! it holds finish and exits; nothing is lost, nothing is sent twice, no job runs twice.

use std::time::Duration;

use crate::{
    report::Row,
    stack::{Run, Stack, copies},
};

pub async fn run(run: &Run) -> anyhow::Result<Row> {
    let extra = [("WORKER_CONCURRENCY", "8".to_string())];
    let mut stack = Stack::start(run, "term", &extra, 3).await?;
    stack.smtp.delay_data(Duration::from_millis(20));
    let n = run.orders / 2;
    let orders = stack.orderer().place_many(n, 16).await?;
    // Under load: a tenth of the emails out, the rest in flight or queued.
    while stack.smtp.count() < n / 10 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (shutdown, clean) = stack
        .workers
        .remove(0)
        .terminate(Duration::from_secs(60))
        .await?;
    stack
        .wait_confirmed(&orders, Duration::from_secs(120))
        .await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (lost, different, same) = copies(&orders, &stack.confirmations());
    // One attempt per job: a job the stopping worker held would otherwise run again.
    let extra_attempts = stack
        .scalar("SELECT COALESCE(sum(attempts - 1), 0)::bigint FROM outbox WHERE kind = 'send_order_confirmation'")
        .await?;
    stack.finish().await?;
    Ok(Row {
        fault: "SIGTERM a worker under load",
        expected: "in-flight jobs finish; exit 0 within WORKER_SHUTDOWN_TIMEOUT_SECONDS (30)",
        figures: format!(
            "{n} orders; shutdown {:.2} s (exit {}); lost = {lost}; duplicates = {}; extra \
             attempts = {extra_attempts}",
            shutdown.as_secs_f64(),
            if clean { "0" } else { "non-zero" },
            different + same
        ),
        pass: clean
            && shutdown <= Duration::from_secs(30)
            && lost == 0
            && different + same == 0
            && extra_attempts == 0,
    })
}
