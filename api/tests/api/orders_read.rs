use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{Session, TestApp, assert_error, error_fields, json_ok, spawn_app};

fn ids(page: &Value) -> Vec<i64> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_i64().unwrap())
        .collect()
}

/// Ada has three orders (totals 10, 30, 20), Bob one (5).
async fn shop() -> (TestApp, Session, Session, Session, Vec<i64>) {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let ada = app.customer("ada@example.com").await;
    let bob = app.customer("bob@example.com").await;
    let p = app.product(&admin, "P-1", "5.00").await["id"]
        .as_i64()
        .unwrap();
    let mut orders = Vec::new();
    for (who, qty) in [(&ada, 2), (&ada, 6), (&ada, 4), (&bob, 1)] {
        orders.push(
            app.order(who, who.customer_id.unwrap(), &[(p, qty)]).await["id"]
                .as_i64()
                .unwrap(),
        );
    }
    (app, admin, ada, bob, orders)
}

#[tokio::test]
async fn customers_see_only_their_own_orders() {
    let (app, admin, ada, bob, orders) = shop().await;
    let bobs = format!("/api/v1/orders/{}", orders[3]);
    json_ok(
        app.get(&format!("/api/v1/orders/{}", orders[0]), &ada.token)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_error(
        app.get(&bobs, &ada.token).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    json_ok(app.get(&bobs, &admin.token).await, StatusCode::OK).await;
    assert_error(
        app.get("/api/v1/orders/999999", &admin.token).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;

    let mine = json_ok(app.get("/api/v1/orders", &ada.token).await, StatusCode::OK).await;
    assert_eq!(ids(&mine), [orders[2], orders[1], orders[0]]);
    let path = format!("/api/v1/orders?customer_id={}", bob.customer_id.unwrap());
    let peek = json_ok(app.get(&path, &ada.token).await, StatusCode::OK).await;
    assert_eq!((ids(&peek).len(), peek["total"].as_i64()), (0, Some(0)));
    let all = json_ok(
        app.get("/api/v1/orders", &admin.token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(all["total"], 4);
    let bobs_list = json_ok(app.get(&path, &admin.token).await, StatusCode::OK).await;
    assert_eq!(ids(&bobs_list), [orders[3]]);
}

#[tokio::test]
async fn lists_filter_sort_and_page() {
    let (app, admin, _, _, orders) = shop().await;
    app.force_status(orders[1], "shipped").await;
    let get = |query: &str| {
        let path = format!("/api/v1/orders?{query}");
        let token = admin.token.clone();
        let app = &app;
        async move { json_ok(app.get(&path, &token).await, StatusCode::OK).await }
    };
    assert_eq!(ids(&get("status=shipped").await), [orders[1]]);
    assert_eq!(
        ids(&get("min_total=10&max_total=20&sort=total").await),
        [orders[0], orders[2]]
    );
    assert_eq!(
        ids(&get("sort=-total").await),
        [orders[1], orders[2], orders[0], orders[3]]
    );
    assert_eq!(ids(&get("sort=id").await), orders);
    assert_eq!(ids(&get("sort=created_at").await), orders);
    let page = get("sort=id&page=2&page_size=3").await;
    assert_eq!(
        (ids(&page), page["total_pages"].as_i64()),
        (vec![orders[3]], Some(2))
    );
    assert_eq!(
        get("created_from=2000-01-01T00:00:00Z&created_to=2000-01-02T00:00:00Z").await["total"],
        0
    );
    assert_eq!(
        get("created_from=2000-01-01T00:00:00%2B02:00").await["total"],
        4
    );
    let first = get("sort=id").await["items"][0]["items"][0]["product_name"].clone();
    assert_eq!(first, "Product P-1", "lists carry their items");

    for (query, field) in [
        ("sort=price", "sort"),
        ("status=lost", "status"),
        ("created_from=yesterday", "created_from"),
        (
            "created_from=2026-02-01T00:00:00Z&created_to=2026-01-01T00:00:00Z",
            "created_to",
        ),
        ("min_total=50&max_total=10", "max_total"),
        ("min_total=abc", "min_total"),
        ("page_size=0", "page_size"),
    ] {
        let body = assert_error(
            app.get(&format!("/api/v1/orders?{query}"), &admin.token)
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_error",
        )
        .await;
        assert_eq!(error_fields(&body), [field], "{query}");
    }
}

#[tokio::test]
async fn the_summary_aggregates_by_status_and_product_for_staff_only() {
    let (app, admin, ada, _, orders) = shop().await;
    let other = app.product(&admin, "P-2", "1.00").await["id"]
        .as_i64()
        .unwrap();
    app.order(&ada, ada.customer_id.unwrap(), &[(other, 7)])
        .await;
    app.force_status(orders[1], "cancelled").await;

    let summary = json_ok(
        app.get("/api/v1/orders/summary", &admin.token).await,
        StatusCode::OK,
    )
    .await;
    let by_status: Vec<(String, i64, String)> = summary["by_status"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["status"].as_str().unwrap().into(),
                s["count"].as_i64().unwrap(),
                s["revenue"].as_str().unwrap().into(),
            )
        })
        .collect();
    let expect = |s: &str, c: i64, r: &str| (s.to_string(), c, r.to_string());
    assert_eq!(
        by_status,
        [
            expect("pending", 4, "42.00"),
            expect("processing", 0, "0.00"),
            expect("shipped", 0, "0.00"),
            expect("delivered", 0, "0.00"),
            expect("cancelled", 1, "30.00"),
        ]
    );
    assert_eq!(
        (
            summary["total_orders"].as_i64(),
            summary["total_revenue"].as_str()
        ),
        (Some(5), Some("42.00"))
    );
    let top: Vec<(String, i64)> = summary["top_products"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["product_name"].as_str().unwrap().into(),
                p["quantity"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        top,
        [
            ("Product P-1".to_string(), 7),
            ("Product P-2".to_string(), 7)
        ]
    );

    let empty = json_ok(
        app.get(
            "/api/v1/orders/summary?created_to=2000-01-01T00:00:00Z",
            &admin.token,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (
            empty["total_orders"].as_i64(),
            empty["top_products"].as_array().unwrap().len()
        ),
        (Some(0), 0)
    );
    assert_error(
        app.get("/api/v1/orders/summary", &ada.token).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
}
