//! Reads run a fixed number of SQL statements whatever the number of items or orders.

use reqwest::StatusCode;

use crate::helpers::{StatementCounter, TestApp, json_ok, spawn_app};

/// Waits for the post-commit dispatch of new orders' jobs, which runs in the background on
/// this thread, so that only the measured request's statements are counted.
async fn settle(app: &TestApp, counter: &StatementCounter) {
    for _ in 0..100 {
        let pending = app
            .count(
                "SELECT count(*) FROM outbox WHERE dispatched_at IS NULL AND available_at <= now()",
            )
            .await;
        if pending == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    counter.take();
}

#[tokio::test]
async fn getting_an_order_takes_the_same_statements_for_1_or_10_items() {
    let counter = StatementCounter::install();
    let app = spawn_app().await;
    let admin = app.admin().await;
    let ada = app.customer("ada@example.com").await;
    let mut products = Vec::new();
    for i in 0..10 {
        products.push((
            app.product(&admin, &format!("P-{i}"), "1.00").await["id"]
                .as_i64()
                .unwrap(),
            1,
        ));
    }
    let small = app
        .order(&ada, ada.customer_id.unwrap(), &products[..1])
        .await["id"]
        .as_i64()
        .unwrap();
    let large = app.order(&ada, ada.customer_id.unwrap(), &products).await["id"]
        .as_i64()
        .unwrap();

    settle(&app, &counter).await;
    app.get(&format!("/api/v1/orders/{small}"), &ada.token)
        .await;
    let one = counter.take();
    let response = app
        .get(&format!("/api/v1/orders/{large}"), &ada.token)
        .await;
    let ten = counter.take();
    assert_eq!(
        json_ok(response, StatusCode::OK).await["items"]
            .as_array()
            .unwrap()
            .len(),
        10
    );
    // The user lookup, the order with its customer, its items.
    assert_eq!((one, ten), (3, 3));
}

#[tokio::test]
async fn listing_orders_takes_the_same_statements_for_1_or_20_orders() {
    let counter = StatementCounter::install();
    let app = spawn_app().await;
    let admin = app.admin().await;
    let ada = app.customer("ada@example.com").await;
    let p = app.product(&admin, "P-1", "1.00").await["id"]
        .as_i64()
        .unwrap();
    app.order(&ada, ada.customer_id.unwrap(), &[(p, 1)]).await;
    settle(&app, &counter).await;
    app.get("/api/v1/orders?status=pending", &ada.token).await;
    let one = counter.take();
    for _ in 0..19 {
        app.order(&ada, ada.customer_id.unwrap(), &[(p, 2)]).await;
    }
    settle(&app, &counter).await;
    let response = app.get("/api/v1/orders?status=pending", &ada.token).await;
    let twenty = counter.take();
    assert_eq!(
        json_ok(response, StatusCode::OK).await["items"]
            .as_array()
            .unwrap()
            .len(),
        20
    );
    // The user lookup, the page of orders, the count, all their items.
    assert_eq!((one, twenty), (4, 4));
}
