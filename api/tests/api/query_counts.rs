//! Hot paths run a fixed, small number of SQL statements whatever the number of items or
//! orders (each statement is one round trip: sqlx no longer pings connections on acquire).

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{PASSWORD, StatementCounter, json_ok, spawn_app, spawn_app_with};

#[tokio::test]
async fn getting_an_order_takes_one_statement_for_1_or_10_items_and_none_when_cached() {
    let counter = StatementCounter::install();
    let app = spawn_app().await;
    app.user_cache_live().await;
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

    counter.take();
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
    // The order, its customer and its items, restricted to the caller's own orders, in one
    // statement; the user comes from the instance's user cache.
    assert_eq!((one, ten), (1, 1));

    let again = app
        .get(&format!("/api/v1/orders/{large}"), &ada.token)
        .await;
    assert_eq!(counter.take(), 0, "a cached order costs no statement");
    assert_eq!(
        json_ok(again, StatusCode::OK).await["items"]
            .as_array()
            .unwrap()
            .len(),
        10
    );
}

#[tokio::test]
async fn listing_orders_takes_one_statement_for_1_or_20_orders() {
    let counter = StatementCounter::install();
    let app = spawn_app().await;
    app.user_cache_live().await;
    let admin = app.admin().await;
    let ada = app.customer("ada@example.com").await;
    let p = app.product(&admin, "P-1", "1.00").await["id"]
        .as_i64()
        .unwrap();
    app.order(&ada, ada.customer_id.unwrap(), &[(p, 1)]).await;
    counter.take();
    app.get("/api/v1/orders?status=pending", &ada.token).await;
    let one = counter.take();
    for _ in 0..19 {
        app.order(&ada, ada.customer_id.unwrap(), &[(p, 2)]).await;
    }
    counter.take();
    let response = app.get("/api/v1/orders?status=pending", &ada.token).await;
    let twenty = counter.take();
    let page = json_ok(response, StatusCode::OK).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 20);
    assert_eq!(page["total"], 20);
    // The count, the page of orders, their customers and all their items: one statement.
    assert_eq!((one, twenty), (1, 1));

    // A page past the end still knows the total, in the same one statement.
    let response = app
        .get("/api/v1/orders?status=pending&page=5", &ada.token)
        .await;
    assert_eq!(counter.take(), 1);
    let page = json_ok(response, StatusCode::OK).await;
    assert_eq!(
        (
            page["items"].as_array().unwrap().len(),
            page["total"].as_i64()
        ),
        (0, Some(20))
    );

    // A page reached by its cursor: the same one statement, for staff too.
    let first = json_ok(
        app.get("/api/v1/orders?page_size=7", &admin.token).await,
        StatusCode::OK,
    )
    .await;
    counter.take();
    let response = app.get(first["next"].as_str().unwrap(), &admin.token).await;
    assert_eq!(counter.take(), 1);
    let page = json_ok(response, StatusCode::OK).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 7);
}

#[tokio::test]
async fn placing_an_order_takes_one_read_and_one_write_with_or_without_a_key() {
    let counter = StatementCounter::install();
    let app = spawn_app().await;
    app.user_cache_live().await;
    let admin = app.admin().await;
    let ada = app.customer("ada@example.com").await;
    let mut products = Vec::new();
    for sku in ["P-0", "P-1", "P-2"] {
        products.push(
            app.product(&admin, sku, "2.50").await["id"]
                .as_i64()
                .unwrap(),
        );
    }
    let body = json!({
        "customer_id": ada.customer_id.unwrap(),
        "items": products.iter().map(|p| json!({"product_id": p, "quantity": 2})).collect::<Vec<_>>(),
    });
    counter.take();
    json_ok(
        app.post("/api/v1/orders", &ada.token, &body).await,
        StatusCode::CREATED,
    )
    .await;
    let plain = counter.take();
    let keyed = app
        .client
        .post(app.url("/api/v1/orders"))
        .bearer_auth(&ada.token)
        .header("idempotency-key", "count-me")
        .json(&body)
        .send()
        .await
        .unwrap();
    json_ok(keyed, StatusCode::CREATED).await;
    let with_key = counter.take();
    // Read (customer, products, stored key, new ids), then one write statement: the order,
    // its items, its outbox rows and the key, committed together.
    assert_eq!((plain, with_key), (2, 2));
    assert_eq!(
        app.count("SELECT count(*) FROM outbox WHERE kind <> 'send_account_email'")
            .await,
        4
    );
}

#[tokio::test]
async fn a_users_first_request_reads_the_user_once_and_later_ones_never() {
    let counter = StatementCounter::install();
    let app = spawn_app_with(&[("CACHE_TTL_SECONDS", "0")]).await;
    app.user_cache_live().await;
    json_ok(
        app.register("ada@example.com", PASSWORD, "Ada").await,
        StatusCode::CREATED,
    )
    .await;
    let tokens = json_ok(app.login("ada@example.com", PASSWORD).await, StatusCode::OK).await;
    let token = tokens["access_token"].as_str().unwrap();
    counter.take();
    app.get("/api/v1/orders", token).await;
    assert_eq!(counter.take(), 2, "the user row, then the list");
    for _ in 0..3 {
        app.get("/api/v1/orders", token).await;
    }
    assert_eq!(counter.take(), 3, "one list statement each, no user reads");
}
