//! A backlog larger than apalis-redis can promote in one fetch (its `fetch_next.lua` moves all
//! due jobs with one Lua `unpack`, which fails past ~8,000 and then on every fetch) must still
//! drain: the sweep never lets more than `dispatch::MAX_QUEUED` jobs wait in Redis per queue.

use std::time::Duration;

use crate::helpers::Stack;

#[tokio::test]
async fn a_backlog_of_ten_thousand_jobs_drains_without_jamming_the_queue() {
    let mut stack = Stack::start(&[("WORKER_CONCURRENCY", "32")]).await;
    // 10,000 due expiry jobs whose orders do not exist: each is skipped quickly.
    sqlx::query(
        "INSERT INTO outbox (kind, payload) SELECT 'expire_pending_order', \
         jsonb_build_object('order_id', 1000000000 + g) FROM generate_series(1, 10000) g",
    )
    .execute(&stack.db)
    .await
    .unwrap();
    // A sweep runs while nothing consumes (as when a worker's queue monitors are still
    // restarting after a Redis outage and another worker's sweep is already back): it stops
    // at the bound instead of pushing the whole backlog.
    let queues = stack.queues();
    let mut pushed = 0;
    loop {
        let moved = orderflow_shared::dispatch::sweep(&stack.db, &queues)
            .await
            .unwrap();
        if moved == 0 {
            break;
        }
        pushed += moved;
    }
    assert_eq!(pushed, orderflow_shared::dispatch::MAX_QUEUED);
    stack.spawn_worker().await;
    let mut most_waiting = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    loop {
        let waiting: usize = queues.waiting().await.unwrap().iter().map(|(_, n)| n).sum();
        most_waiting = most_waiting.max(waiting);
        let done = stack
            .scalar("SELECT count(*) FROM outbox WHERE outcome = 'skipped'")
            .await;
        if done == 10_000 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {done} of 10000 jobs finished"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        most_waiting <= orderflow_shared::dispatch::MAX_QUEUED,
        "{most_waiting} jobs waited in Redis"
    );
}
