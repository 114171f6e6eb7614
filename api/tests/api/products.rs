use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{assert_error, error_fields, json_ok, spawn_app};

#[tokio::test]
async fn admins_manage_products_and_prices_are_exact_decimal_strings() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let response = app
        .post(
            "/api/v1/products",
            &admin.token,
            &json!({"sku": "kb-001", "name": "Keyboard", "price": "89.9"}),
        )
        .await;
    assert!(
        response.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/api/v1/products/")
    );
    let product = json_ok(response, StatusCode::CREATED).await;
    assert_eq!(
        (product["sku"].as_str(), product["price"].as_str()),
        (Some("KB-001"), Some("89.90"))
    );

    let path = format!("/api/v1/products/{}", product["id"]);
    let updated = json_ok(
        app.patch(
            &path,
            &admin.token,
            &json!({"price": "79.95", "name": "Keyboard v2"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (updated["price"].as_str(), updated["name"].as_str()),
        (Some("79.95"), Some("Keyboard v2"))
    );
    let stored: rust_decimal::Decimal =
        sqlx::query_scalar("SELECT price FROM products WHERE id = $1")
            .bind(product["id"].as_i64().unwrap())
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(stored.to_string(), "79.95");

    assert_eq!(
        app.delete(&path, &admin.token).await.status(),
        StatusCode::NO_CONTENT
    );
    let gone = json_ok(app.get(&path, &admin.token).await, StatusCode::OK).await;
    assert_eq!(gone["is_active"], false);
}

#[tokio::test]
async fn invalid_prices_skus_and_duplicates_are_refused() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    app.product(&admin, "KB-001", "10.00").await;
    assert_error(
        app.post(
            "/api/v1/products",
            &admin.token,
            &json!({"sku": "kb-001", "name": "Again", "price": "1.00"}),
        )
        .await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    for (price, sku) in [
        (json!("0"), "A-1"),
        (json!("-5.00"), "A-2"),
        (json!("1.001"), "A-3"),
        (json!("abc"), "A-4"),
        (json!(null), "A-5"),
    ] {
        let body = assert_error(
            app.post(
                "/api/v1/products",
                &admin.token,
                &json!({"sku": sku, "name": "P", "price": price}),
            )
            .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_error",
        )
        .await;
        assert_eq!(error_fields(&body), ["price"], "{price}");
    }
    let body = assert_error(
        app.post(
            "/api/v1/products",
            &admin.token,
            &json!({"sku": "has space", "name": "", "price": "1.00"}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_error",
    )
    .await;
    assert_eq!(error_fields(&body), ["sku", "name"]);
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM products")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(count, 1);
}

#[tokio::test]
async fn customers_see_only_active_products() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let ada = app.customer("ada@example.com").await;
    app.product(&admin, "ON-1", "1.00").await;
    let off = app.product(&admin, "OFF-1", "2.00").await;
    let path = format!("/api/v1/products/{}", off["id"]);
    assert_eq!(
        app.delete(&path, &admin.token).await.status(),
        StatusCode::NO_CONTENT
    );

    let page = json_ok(
        app.get("/api/v1/products?is_active=false", &ada.token)
            .await,
        StatusCode::OK,
    )
    .await;
    let skus: Vec<_> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["sku"].as_str().unwrap())
        .collect();
    assert_eq!(skus, ["ON-1"]);
    assert_error(
        app.get(&path, &ada.token).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let page = json_ok(
        app.get("/api/v1/products", &admin.token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(page["total"], 2);
}
