use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{assert_error, error_fields, json_ok, spawn_app};

#[tokio::test]
async fn a_customer_places_an_order_priced_from_product_snapshots() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let ada = app.customer("ada@example.com").await;
    let keyboard = app.product(&admin, "KB-1", "10.00").await;
    let sticker = app.product(&admin, "ST-1", "0.10").await;
    let (kb, st) = (
        keyboard["id"].as_i64().unwrap(),
        sticker["id"].as_i64().unwrap(),
    );
    let me = ada.customer_id.unwrap();

    let response = app
        .post("/api/v1/orders", &ada.token, &json!({"customer_id": me, "items": [{"product_id": kb, "quantity": 2}, {"product_id": st, "quantity": 3}], "notes": " gift "}))
        .await;
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let order = json_ok(response, StatusCode::CREATED).await;
    assert_eq!(location, format!("/api/v1/orders/{}", order["id"]));
    assert_eq!(order["status"], "pending");
    assert_eq!(order["total"], "20.30");
    assert_eq!(order["notes"], "gift");
    assert_eq!(order["customer_id"], me);
    assert_eq!(order["customer_name"], "Test Customer");
    let items = order["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(
        (
            items[0]["product_name"].as_str(),
            items[0]["unit_price"].as_str(),
            items[0]["line_total"].as_str()
        ),
        (Some("Product KB-1"), Some("10.00"), Some("20.00"))
    );
    assert_eq!(
        (
            items[1]["quantity"].as_i64(),
            items[1]["line_total"].as_str()
        ),
        (Some(3), Some("0.30"))
    );

    // Later price and name changes do not touch the order.
    let path = format!("/api/v1/products/{kb}");
    json_ok(
        app.patch(
            &path,
            &admin.token,
            &json!({"price": "99.00", "name": "Renamed"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let again = json_ok(app.get(&location, &ada.token).await, StatusCode::OK).await;
    assert_eq!(
        (
            again["total"].as_str(),
            again["items"][0]["product_name"].as_str()
        ),
        (Some("20.30"), Some("Product KB-1"))
    );
    let total: rust_decimal::Decimal = sqlx::query_scalar("SELECT total FROM orders")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(total.to_string(), "20.30");
}

#[tokio::test]
async fn lines_of_the_same_product_are_merged_before_the_rules() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let ada = app.customer("ada@example.com").await;
    let p = app.product(&admin, "P-1", "1.50").await["id"]
        .as_i64()
        .unwrap();
    let order = app
        .order(&ada, ada.customer_id.unwrap(), &[(p, 2), (p, 3)])
        .await;
    assert_eq!(order["items"].as_array().unwrap().len(), 1);
    assert_eq!(
        (
            order["items"][0]["quantity"].as_i64(),
            order["total"].as_str()
        ),
        (Some(5), Some("7.50"))
    );
    // 12 + 9 of one product is 21 units: over the limit once merged.
    let body = assert_error(
        app.place_order(&ada, ada.customer_id.unwrap(), &[(p, 12), (p, 9)])
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_error",
    )
    .await;
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("Order item limit exceeded")
    );
}

#[tokio::test]
async fn every_rule_violation_is_a_422_naming_the_field_and_writes_nothing() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let ada = app.customer("ada@example.com").await;
    let me = ada.customer_id.unwrap();
    let on = app.product(&admin, "ON-1", "1.00").await["id"]
        .as_i64()
        .unwrap();
    let off = app.product(&admin, "OFF-1", "1.00").await["id"]
        .as_i64()
        .unwrap();
    app.delete(&format!("/api/v1/products/{off}"), &admin.token)
        .await;
    let inactive_customer = json_ok(
        app.post(
            "/api/v1/customers",
            &admin.token,
            &json!({"name": "Gone", "email": "gone@example.com"}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await["id"]
        .as_i64()
        .unwrap();
    app.delete(
        &format!("/api/v1/customers/{inactive_customer}"),
        &admin.token,
    )
    .await;

    let item = |product: i64, quantity: i64| json!({"product_id": product, "quantity": quantity});
    let cases = [
        (json!({"customer_id": me, "items": []}), vec!["items"]),
        (
            json!({"customer_id": me, "items": [item(on, 0)]}),
            vec!["items[0].quantity"],
        ),
        (
            json!({"customer_id": me, "items": [item(on, 1), item(on, -2)]}),
            vec!["items[1].quantity"],
        ),
        (
            json!({"customer_id": me, "items": [item(on, 21)]}),
            vec!["items"],
        ),
        (
            json!({"customer_id": me, "items": [item(on, 1)], "notes": "n".repeat(501)}),
            vec!["notes"],
        ),
        (
            json!({"customer_id": me, "items": [item(on, 1)], "status": "shipped"}),
            vec!["status"],
        ),
        (
            json!({"customer_id": me, "items": [item(on, 1)], "total": "0.01"}),
            vec!["total"],
        ),
        (
            json!({"customer_id": me, "items": [item(on, 1)], "created_at": "2020-01-01T00:00:00Z"}),
            vec!["created_at"],
        ),
        (
            json!({"customer_id": me, "items": [{"product_id": on, "quantity": 1, "unit_price": "0.01"}]}),
            vec!["items[0].unit_price"],
        ),
        (
            json!({"customer_id": me, "items": [item(on, 1), item(424242, 1)]}),
            vec!["items[1].product_id"],
        ),
        (
            json!({"customer_id": me, "items": [item(on, 1), item(off, 1)]}),
            vec!["items[1].product_id"],
        ),
        (
            json!({"customer_id": me, "items": [{"product_id": on, "quantity": "two"}]}),
            vec!["items[0].quantity"],
        ),
        (json!({"items": [item(on, 1)]}), vec!["customer_id"]),
    ];
    for (body, fields) in cases {
        let response = app.post("/api/v1/orders", &ada.token, &body).await;
        let error = assert_error(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_error",
        )
        .await;
        assert_eq!(error_fields(&error), fields, "{body}");
    }
    for customer in [inactive_customer, 987654] {
        let response = app.place_order(&admin, customer, &[(on, 1)]).await;
        let error = assert_error(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_error",
        )
        .await;
        assert_eq!(error_fields(&error), ["customer_id"]);
    }
    assert_eq!(app.count("SELECT count(*) FROM orders").await, 0);
    assert_eq!(app.count("SELECT count(*) FROM order_items").await, 0);
}

#[tokio::test]
async fn customers_order_only_for_themselves_and_staff_for_anyone() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let staff = app.staff("staff@example.com").await;
    let ada = app.customer("ada@example.com").await;
    let bob = app.customer("bob@example.com").await;
    let p = app.product(&admin, "P-1", "5.00").await["id"]
        .as_i64()
        .unwrap();
    let body = assert_error(
        app.place_order(&ada, bob.customer_id.unwrap(), &[(p, 1)])
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_eq!(
        body["detail"],
        "Customers may only place orders for themselves"
    );
    let order = app.order(&staff, bob.customer_id.unwrap(), &[(p, 1)]).await;
    assert_eq!(order["customer_id"], bob.customer_id.unwrap());
    let unauthenticated = app
        .client
        .post(app.url("/api/v1/orders"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_error(unauthenticated, StatusCode::UNAUTHORIZED, "unauthorized").await;
}
