use reqwest::Method;
use serde_json::json;
use std::time::Duration;

use crate::helpers::Stack;

#[tokio::test]
async fn expiry_cancels_a_still_pending_order_and_leaves_a_processed_one_alone() {
    let mut stack = Stack::start(&[("PENDING_ORDER_TTL_SECONDS", "2")]).await;
    stack.spawn_worker().await;
    let admin = stack.admin().await;
    let p = stack.product(&admin, "P-1", "Lamp", "20.00").await;
    let (token, customer) = stack.customer("ada@example.com", "Ada").await;
    let stale = stack.order(&token, customer, &[(p, 1)]).await["id"]
        .as_i64()
        .unwrap();
    let moving = stack.order(&token, customer, &[(p, 1)]).await["id"]
        .as_i64()
        .unwrap();
    let (status, _) = stack
        .call(
            Method::PATCH,
            &format!("/api/v1/orders/{moving}/status"),
            &admin,
            Some(json!({"status": "processing"})),
        )
        .await;
    assert_eq!(status, 200);
    // Both are in the API's read cache before the worker changes the stale one.
    for id in [stale, moving] {
        let (status, order) = stack
            .call(Method::GET, &format!("/api/v1/orders/{id}"), &admin, None)
            .await;
        assert_eq!(status, 200);
        assert_ne!(order["status"], "cancelled");
    }

    stack.wait_scalar("SELECT count(*) FROM outbox WHERE kind = 'expire_pending_order' AND completed_at IS NOT NULL", 2, Duration::from_secs(10)).await;
    let (_, order) = stack
        .call(
            Method::GET,
            &format!("/api/v1/orders/{stale}"),
            &admin,
            None,
        )
        .await;
    // The worker invalidated the cached copy when it cancelled the order.
    assert_eq!(order["status"], "cancelled");
    let (_, order) = stack
        .call(
            Method::GET,
            &format!("/api/v1/orders/{moving}"),
            &admin,
            None,
        )
        .await;
    assert_eq!(order["status"], "processing");
    assert_eq!(
        stack
            .scalar("SELECT count(*) FROM audit_log WHERE action = 'order.expired'")
            .await,
        1
    );
    let messages = stack.smtp.wait_for(3, Duration::from_secs(5)).await;
    assert!(
        messages
            .iter()
            .any(|m| m.subject() == format!("Order #{stale} was cancelled"))
    );
}
