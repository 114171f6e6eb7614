//! Redis failing at the wrong moment: down when the order is created (the API still answers
//! 201 and the email arrives once Redis is back; uses its own redis-server so other tests keep
//! theirs), or losing a job after it was dispatched.

use std::time::Duration;

use crate::helpers::{Stack, free_port};

async fn redis_server(port: u16) -> orderflow_testkit::redis_server::OwnRedis {
    orderflow_testkit::redis_server::OwnRedis::start_on(port).await
}

#[tokio::test]
async fn an_order_made_while_redis_is_down_is_emailed_after_it_returns() {
    let port = free_port();
    let redis = redis_server(port).await;
    let url = format!("redis://127.0.0.1:{port}");
    let mut stack = Stack::start(&[("REDIS_URL", &url)]).await;
    stack.spawn_worker().await;
    let admin = stack.admin().await;
    let p = stack.product(&admin, "P-1", "Lamp", "20.00").await;
    let (token, customer) = stack.customer("ada@example.com", "Ada").await;

    drop(redis);
    let order = stack.order(&token, customer, &[(p, 1)]).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(stack.smtp.messages().is_empty());
    assert_eq!(stack.scalar("SELECT count(*) FROM outbox WHERE kind = 'send_order_confirmation' AND dispatched_at IS NULL").await, 1);

    let _redis = redis_server(port).await;
    let messages = stack.smtp.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(
        messages[0].subject(),
        format!("Order #{} received", order["id"])
    );
}

#[tokio::test]
async fn a_job_redis_lost_after_dispatch_is_dispatched_again() {
    let mut stack = Stack::start(&[("JOB_REDISPATCH_AFTER_SECONDS", "2")]).await;
    let admin = stack.admin().await;
    let p = stack.product(&admin, "P-1", "Lamp", "20.00").await;
    let (token, customer) = stack.customer("ada@example.com", "Ada").await;
    let order = stack.order(&token, customer, &[(p, 1)]).await;
    // A sweep hands the job to Redis; then Redis loses it before any worker runs it.
    let queues = stack.queues();
    assert_eq!(
        orderflow_shared::dispatch::sweep(&stack.db, &queues)
            .await
            .unwrap(),
        1
    );
    assert_eq!(stack.scalar("SELECT count(*) FROM outbox WHERE kind = 'send_order_confirmation' AND dispatched_at IS NOT NULL").await, 1);
    stack.lose_redis_data().await;
    stack.spawn_worker().await;
    let messages = stack.smtp.wait_for(1, Duration::from_secs(15)).await;
    assert_eq!(
        messages[0].subject(),
        format!("Order #{} received", order["id"])
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        stack.smtp.messages().len(),
        1,
        "re-dispatched once, sent once"
    );
}

/// A Redis stall (`DEBUG SLEEP 3`) while the worker is idle: orders placed after it are still
/// emailed. (apalis' interval strategy lost its wake-up here and the worker never fetched
/// again: worker/src/poll.rs.)
#[tokio::test]
async fn after_a_redis_stall_the_worker_fetches_again() {
    let port = free_port();
    let _redis = redis_server(port).await;
    let url = format!("redis://127.0.0.1:{port}");
    let mut stack = Stack::start(&[("REDIS_URL", &url)]).await;
    stack.spawn_worker().await;
    let admin = stack.admin().await;
    let p = stack.product(&admin, "P-1", "Lamp", "20.00").await;
    let (token, customer) = stack.customer("ada@example.com", "Ada").await;
    // Orders keep coming before, during and after the stall, so jobs finish (and their
    // acknowledgements wait on Redis) while it lasts, as under real load.
    let stall = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1500));
        let mut conn = redis::Client::open(url).unwrap().get_connection().unwrap();
        redis::cmd("DEBUG")
            .arg("SLEEP")
            .arg(3)
            .query::<()>(&mut conn)
            .unwrap();
    });
    let mut placed = 0;
    while !stall.is_finished() {
        stack.order(&token, customer, &[(p, 1)]).await;
        placed += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    for _ in 0..3 {
        stack.order(&token, customer, &[(p, 1)]).await;
        placed += 1;
    }
    let messages = stack.smtp.wait_for(placed, Duration::from_secs(15)).await;
    assert_eq!(messages.len(), placed);
}
