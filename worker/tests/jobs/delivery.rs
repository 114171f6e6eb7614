use reqwest::Method;
use serde_json::json;
use std::time::Duration;

use crate::helpers::Stack;

#[tokio::test]
async fn an_order_gets_exactly_one_confirmation_email_with_its_items_and_total() {
    let mut stack = Stack::start(&[]).await;
    stack.spawn_worker().await;
    let admin = stack.admin().await;
    let keyboard = stack
        .product(&admin, "KB-1", "Mechanical keyboard", "89.90")
        .await;
    let cable = stack
        .product(&admin, "CB-1", "USB-C cable <2m>", "4.50")
        .await;
    let (token, customer) = stack.customer("ada@example.com", "Ada Lovelace").await;
    let order = stack
        .order(&token, customer, &[(keyboard, 2), (cable, 3)])
        .await;
    let id = order["id"].as_i64().unwrap();

    let messages = stack.smtp.wait_for(1, Duration::from_secs(5)).await;
    let email = &messages[0];
    assert_eq!(email.to, ["<ada@example.com>"]);
    assert_eq!(email.from, "<orders@orderflow.test>");
    assert_eq!(email.subject(), format!("Order #{id} received"));
    let parsed = email.parsed();
    assert!(parsed.date().is_some(), "Date header");
    assert!(
        parsed
            .message_id()
            .is_some_and(|m| m.ends_with("@orderflow.test")),
        "Message-ID"
    );
    assert_eq!(
        parsed.from().unwrap().first().unwrap().name(),
        Some("OrderFlow")
    );
    let text = email.text();
    for line in [
        "Thank you for your order, Ada Lovelace!",
        "- Mechanical keyboard: 2 x EUR 89.90 = EUR 179.80",
        "- USB-C cable <2m>: 3 x EUR 4.50 = EUR 13.50",
        "Total: EUR 193.30",
        "Status: Pending",
        "orders@orderflow.test",
    ] {
        assert!(text.contains(line), "{line:?} missing from:\n{text}");
    }
    let html = email.html();
    assert!(
        html.contains("USB-C cable &#60;2m&#62;") || html.contains("USB-C cable &lt;2m&gt;"),
        "escaped in HTML"
    );
    assert!(html.contains("193.30") && html.contains("Ada Lovelace"));

    // Nothing else arrives, and the delivery is on record once.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(stack.smtp.messages().len(), 1);
    assert_eq!(
        stack.scalar("SELECT count(*) FROM email_deliveries").await,
        1
    );
    assert_eq!(stack.scalar("SELECT count(*) FROM outbox WHERE kind = 'send_order_confirmation' AND outcome = 'done'").await, 1);
}

#[tokio::test]
async fn shipping_delivering_and_cancelling_send_status_emails() {
    let mut stack = Stack::start(&[]).await;
    stack.spawn_worker().await;
    let admin = stack.admin().await;
    let p = stack.product(&admin, "P-1", "Lamp", "20.00").await;
    let (token, customer) = stack.customer("ada@example.com", "Ada").await;
    let first = stack.order(&token, customer, &[(p, 1)]).await["id"]
        .as_i64()
        .unwrap();
    let second = stack.order(&token, customer, &[(p, 2)]).await["id"]
        .as_i64()
        .unwrap();
    stack.smtp.wait_for(2, Duration::from_secs(5)).await;

    for (id, status) in [
        (first, "processing"),
        (first, "shipped"),
        (first, "delivered"),
        (second, "cancelled"),
    ] {
        let (code, body) = stack
            .call(
                Method::PATCH,
                &format!("/api/v1/orders/{id}/status"),
                &admin,
                Some(json!({"status": status})),
            )
            .await;
        assert_eq!(code, 200, "{body}");
    }
    let messages = stack.smtp.wait_for(5, Duration::from_secs(5)).await;
    let mut subjects: Vec<String> = messages[2..].iter().map(|m| m.subject()).collect();
    subjects.sort();
    let mut expected = vec![
        format!("Order #{first} has shipped"),
        format!("Order #{first} was delivered"),
        format!("Order #{second} was cancelled"),
    ];
    expected.sort();
    assert_eq!(subjects, expected, "processing sends nothing");
    let shipped = messages
        .iter()
        .find(|m| m.subject().ends_with("has shipped"))
        .unwrap();
    assert!(
        shipped.text().contains("Status: Shipped"),
        "{}",
        shipped.text()
    );
}

#[tokio::test]
async fn a_job_delivered_twice_sends_once() {
    let mut stack = Stack::start(&[]).await;
    stack.spawn_worker().await;
    let admin = stack.admin().await;
    let p = stack.product(&admin, "P-1", "Lamp", "20.00").await;
    let (token, customer) = stack.customer("ada@example.com", "Ada").await;
    let order = stack.order(&token, customer, &[(p, 1)]).await["id"]
        .as_i64()
        .unwrap();
    stack.smtp.wait_for(1, Duration::from_secs(5)).await;

    // Push the same job twice more, as an at-least-once queue may.
    let outbox_id: i64 =
        sqlx::query_scalar("SELECT id FROM outbox WHERE kind = 'send_order_confirmation'")
            .fetch_one(&stack.db)
            .await
            .unwrap();
    let queues = stack.queues();
    let job = orderflow_shared::jobs::SendOrderConfirmation {
        order_id: order,
        outbox_id,
        request_id: None,
        trace: None,
    };
    for _ in 0..2 {
        orderflow_shared::dispatch::push_job(&queues.confirmation, job.clone(), None)
            .await
            .unwrap();
    }
    // And a second worker-side attempt on a fresh outbox row for the same order: the delivery
    // record still says "sent".
    sqlx::query("UPDATE outbox SET completed_at = NULL, outcome = NULL WHERE id = $1")
        .bind(outbox_id)
        .execute(&stack.db)
        .await
        .unwrap();
    orderflow_shared::dispatch::push_job(&queues.confirmation, job, None)
        .await
        .unwrap();
    stack.wait_scalar("SELECT count(*) FROM outbox WHERE outcome = 'done' AND kind = 'send_order_confirmation'", 1, Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(stack.smtp.messages().len(), 1);
}
