use reqwest::Method;
use serde_json::Value;
use std::time::Duration;

use crate::helpers::Stack;

async fn one_order(stack: &Stack) -> i64 {
    let admin = stack.admin().await;
    let p = stack.product(&admin, "P-1", "Lamp", "20.00").await;
    let (token, customer) = stack.customer("ada@example.com", "Ada").await;
    stack.order(&token, customer, &[(p, 1)]).await["id"]
        .as_i64()
        .unwrap()
}

#[tokio::test]
async fn smtp_answering_4xx_for_a_while_delivers_after_retries_exactly_once() {
    let mut stack = Stack::start(&[("JOB_MAX_ATTEMPTS", "30")]).await;
    stack.smtp.fail_next(3);
    stack.spawn_worker().await;
    one_order(&stack).await;
    let messages = stack.smtp.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(messages.len(), 1);
    let attempts = stack
        .scalar("SELECT attempts::bigint FROM outbox WHERE kind = 'send_order_confirmation'")
        .await;
    assert_eq!(attempts, 4, "three 451s, then success");
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(stack.smtp.messages().len(), 1);
    assert_eq!(stack.scalar("SELECT count(*) FROM dead_jobs").await, 0);
}

#[tokio::test]
async fn smtp_refusing_connections_for_a_while_delivers_once_it_is_back() {
    let mut stack = Stack::start(&[("JOB_MAX_ATTEMPTS", "30")]).await;
    stack.smtp.refuse_connections(true);
    stack.spawn_worker().await;
    one_order(&stack).await;
    stack
        .wait_scalar("SELECT (attempts >= 2)::int::bigint FROM outbox WHERE kind = 'send_order_confirmation'", 1, Duration::from_secs(10))
        .await;
    assert!(stack.smtp.messages().is_empty());
    stack.smtp.refuse_connections(false);
    stack.smtp.wait_for(1, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(stack.smtp.messages().len(), 1);
}

#[tokio::test]
async fn a_rejected_recipient_is_dead_at_once_listed_and_retry_delivers_it() {
    let mut stack = Stack::start(&[]).await;
    stack.smtp.reject_recipients(true);
    stack.spawn_worker().await;
    let admin = stack.admin().await;
    one_order(&stack).await;
    stack
        .wait_scalar("SELECT count(*) FROM dead_jobs", 1, Duration::from_secs(10))
        .await;

    let (status, page) = stack
        .call(Method::GET, "/api/v1/admin/jobs/dead", &admin, None)
        .await;
    assert_eq!(status, 200);
    let dead: &Value = &page["items"][0];
    assert_eq!(
        (dead["kind"].as_str(), dead["attempts"].as_i64()),
        (Some("send_order_confirmation"), Some(1))
    );
    assert!(
        dead["last_error"].as_str().unwrap().contains("550"),
        "{dead}"
    );
    assert!(stack.smtp.messages().is_empty());

    let (token, _) = stack.customer("eve@example.com", "Eve").await;
    let path = format!("/api/v1/admin/jobs/dead/{}/retry", dead["id"]);
    assert_eq!(stack.call(Method::POST, &path, &token, None).await.0, 403);
    stack.smtp.reject_recipients(false);
    let (status, body) = stack.call(Method::POST, &path, &admin, None).await;
    assert_eq!(status, 202, "{body}");
    assert!(body["retried_at"].is_string());
    stack.smtp.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(stack.call(Method::POST, &path, &admin, None).await.0, 409);
    assert_eq!(
        stack
            .call(
                Method::POST,
                "/api/v1/admin/jobs/dead/999999/retry",
                &admin,
                None
            )
            .await
            .0,
        404
    );
    assert_eq!(
        stack
            .scalar("SELECT count(*) FROM audit_log WHERE action = 'job.retried'")
            .await,
        1
    );
}

#[tokio::test]
async fn transient_failures_go_dead_after_the_configured_attempts() {
    let mut stack = Stack::start(&[("JOB_MAX_ATTEMPTS", "3")]).await;
    stack.smtp.fail_next(1000);
    stack.spawn_worker().await;
    one_order(&stack).await;
    stack
        .wait_scalar("SELECT count(*) FROM dead_jobs", 1, Duration::from_secs(15))
        .await;
    assert_eq!(
        stack.scalar("SELECT attempts::bigint FROM dead_jobs").await,
        3
    );
    assert_eq!(
        stack
            .scalar("SELECT count(*) FROM outbox WHERE outcome = 'dead'")
            .await,
        1
    );
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        stack
            .scalar("SELECT attempts::bigint FROM outbox WHERE kind = 'send_order_confirmation'")
            .await,
        3,
        "no attempt after death"
    );
}
