use orderflow_shared::{dispatch::queue_config, jobs::JobKind};
use orderflow_worker::cleanup;
use std::time::Duration;

use crate::helpers::Stack;

#[tokio::test]
async fn cleanup_removes_expired_keys_stale_tokens_old_outbox_rows_and_redis_job_data() {
    let mut stack = Stack::start(&[]).await;
    stack.spawn_worker().await;
    let admin = stack.admin().await;
    let p = stack.product(&admin, "P-1", "Lamp", "20.00").await;
    let (token, customer) = stack.customer("ada@example.com", "Ada").await;
    stack.order(&token, customer, &[(p, 1)]).await;
    stack.smtp.wait_for(1, Duration::from_secs(5)).await;
    stack
        .wait_scalar(
            "SELECT count(*) FROM outbox WHERE outcome = 'done'",
            1,
            Duration::from_secs(5),
        )
        .await;

    // Age what should go; keep a fresh copy of each kind that should stay.
    for sql in [
        "UPDATE outbox SET completed_at = now() - interval '30 days' WHERE outcome = 'done'",
        "UPDATE refresh_tokens SET expires_at = now() - interval '1 hour' WHERE id = (SELECT id FROM refresh_tokens ORDER BY created_at LIMIT 1)",
        "INSERT INTO idempotency_keys (user_id, key, request_hash, status_code, response_body, expires_at) \
         SELECT id, 'old', '\\x00', 201, '{}', now() - interval '1 second' FROM users LIMIT 1",
        "INSERT INTO idempotency_keys (user_id, key, request_hash, status_code, response_body, expires_at) \
         SELECT id, 'fresh', '\\x00', 201, '{}', now() + interval '1 day' FROM users LIMIT 1",
    ] {
        sqlx::query(sql).execute(&stack.db).await.unwrap();
    }
    let settings = stack.settings();
    let redis = orderflow_shared::dispatch::redis_connection(&settings.core).unwrap();
    let report = cleanup::run_once(&stack.db, &redis, &settings)
        .await
        .unwrap()
        .expect("lock taken");
    assert_eq!(
        (
            report.idempotency_keys,
            report.refresh_tokens,
            report.outbox_rows
        ),
        (1, 1, 1)
    );
    assert_eq!(
        stack.scalar("SELECT count(*) FROM idempotency_keys").await,
        1
    );
    assert_eq!(
        stack
            .scalar("SELECT count(*) FROM outbox WHERE kind = 'expire_pending_order'")
            .await,
        1,
        "pending jobs stay"
    );

    // Redis: finished task data goes too (here with zero retention).
    let config = queue_config(
        &settings.core.key_prefix,
        JobKind::OrderConfirmation,
        settings.queue_tuning(),
    );
    let mut conn = redis.clone();
    // apalis acknowledges a job (moves it to the done set) after its handler returned, which
    // is after the outbox row was marked done: wait for the acknowledgement.
    let mut done: i64 = 0;
    for _ in 0..100 {
        done = redis::cmd("SCARD")
            .arg(config.done_jobs_set())
            .query_async(&mut conn)
            .await
            .unwrap();
        if done >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(done >= 1);
    let purged = cleanup::purge_done(redis.clone(), &config, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(purged as i64, done);
    let done: i64 = redis::cmd("SCARD")
        .arg(config.done_jobs_set())
        .query_async(&mut conn)
        .await
        .unwrap();
    let data: i64 = redis::cmd("HLEN")
        .arg(config.job_data_hash())
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!((done, data), (0, 0));
}
