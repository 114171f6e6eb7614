//! SIGKILL one of three workers every 1.5 s while the confirmations of `run.orders` orders go
//! out: every order is emailed; a copy can only come from the window between the SMTP
//! server's "250 queued" and the commit that records the send, and then it carries the same
//! deterministic Message-ID.

use std::time::{Duration, Instant};

use crate::{
    report::Row,
    stack::{Run, Stack, copies},
};

pub async fn run(run: &Run) -> anyhow::Result<Row> {
    let extra = [("WORKER_CONCURRENCY", "4".to_string())];
    let mut stack = Stack::start(run, "kill", &extra, 3).await?;
    // A few milliseconds per message at the server, as a real relay takes: sends are in
    // flight when the kills land.
    stack.smtp.delay_data(Duration::from_millis(20));
    let placing = tokio::spawn({
        let (orderer, n) = (stack.orderer(), run.orders);
        async move { orderer.place_many(n, 16).await }
    });
    let started = Instant::now();
    let mut kills = 0;
    let mut placed = None;
    tokio::pin!(placing);
    // Kill while placing, and on until every order is confirmed (or 5 minutes).
    let orders = loop {
        tokio::select! {
            ids = &mut placing, if placed.is_none() => { placed = Some(ids??); }
            _ = tokio::time::sleep(Duration::from_millis(1500)) => {}
        }
        if let Some(ids) = &placed {
            let got = stack.confirmations();
            if ids.iter().all(|o| got.contains_key(o)) {
                break ids.clone();
            }
        }
        if started.elapsed() > Duration::from_secs(300) {
            anyhow::bail!("orders not all confirmed within 300 s");
        }
        let victim = rand::random_range(0..stack.workers.len());
        stack.workers.swap_remove(victim).kill().await;
        kills += 1;
        stack.start_worker().await?;
    };
    let drained = started.elapsed();
    // Late copies (a lease running out, an orphan re-enqueued) would arrive within the
    // 6 s lease and the orphan re-enqueue: wait past both before counting.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let (lost, different, same) = copies(&orders, &stack.confirmations());
    stack.finish().await?;
    Ok(Row {
        fault: "SIGKILL one of 3 workers every 1.5 s while orders' emails go out",
        expected: "every order emailed; copies only with the same Message-ID",
        figures: format!(
            "{} orders, {kills} kills; lost = {lost}; copies with a different Message-ID = \
             {different}; copies with the same Message-ID = {same} ({:.2}%); drained in {:.1} s",
            orders.len(),
            same as f64 * 100.0 / orders.len() as f64,
            drained.as_secs_f64()
        ),
        pass: lost == 0 && different == 0,
    })
}
