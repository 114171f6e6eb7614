//! Cursor pages on every list: `next` in the body and the `Link` header, every row exactly
//! once (also while orders are created and change status), cursors good only for the request
//! they were made for, page numbers bounded.

use rand::{Rng, SeedableRng, rngs::StdRng};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use crate::helpers::{Session, TestApp, assert_error, error_fields, json_ok, spawn_app};

/// Follows `next` from `first` to the last page; returns every item. Checks on each page that
/// the `Link` header says what the body says, and that the last page has neither.
async fn walk(app: &TestApp, token: &str, first: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut path = first.to_string();
    for _ in 0..10_000 {
        let response = app.get(&path, token).await;
        let link = response
            .headers()
            .get("link")
            .map(|l| l.to_str().unwrap().to_string());
        let page = json_ok(response, StatusCode::OK).await;
        items.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next"].as_str() {
            Some(next) => {
                assert_eq!(link, Some(format!("<{next}>; rel=\"next\"")), "{path}");
                assert!(page["page"].is_null() || path == first, "{page}");
                path = next.to_string();
            }
            None => {
                assert_eq!(link, None, "the last page links nowhere: {path}");
                return items;
            }
        }
    }
    panic!("{first}: no last page after 10,000");
}

fn ids(items: &[Value]) -> Vec<i64> {
    items.iter().map(|i| i["id"].as_i64().unwrap()).collect()
}

/// The `cursor` parameter of a `next` link.
fn cursor_of(next: &str) -> String {
    let query = next.split_once('?').unwrap().1;
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "cursor")
        .map(|(_, v)| v.into_owned())
        .expect("a next link has a cursor")
}

async fn next_of(app: &TestApp, token: &str, path: &str) -> String {
    json_ok(app.get(path, token).await, StatusCode::OK).await["next"]
        .as_str()
        .unwrap_or_else(|| panic!("{path} has a next page"))
        .to_string()
}

/// Seven products, customers, users and dead jobs; orders of two customers.
async fn shop(app: &TestApp) -> (Session, Session, Session, Vec<i64>) {
    let admin = app.admin().await;
    let ada = app.customer("ada@example.com").await;
    let bob = app.customer("bob@example.com").await;
    let mut products = Vec::new();
    for n in 0..7 {
        let product = app.product(&admin, &format!("P-{n}"), "2.50").await;
        products.push(product["id"].as_i64().unwrap());
    }
    for n in 0..5 {
        app.customer(&format!("c{n}@example.com")).await;
    }
    for n in 0..7 {
        sqlx::query(
            "INSERT INTO dead_jobs (kind, payload, last_error, attempts, died_at) \
             VALUES ('send_order_confirmation', '{}', 'permanent: 550', 5, \
                     now() - make_interval(secs => $1))",
        )
        // Two deaths at the same instant: the cursor's id breaks the tie.
        .bind((n / 2) as f64)
        .execute(&app.db)
        .await
        .unwrap();
    }
    for (n, who) in [&ada, &bob, &ada, &ada, &bob, &ada, &ada, &bob]
        .iter()
        .enumerate()
    {
        let items = [(products[n % 7], 1 + (n as i64 % 3))];
        app.order(who, who.customer_id.unwrap(), &items).await;
    }
    (admin, ada, bob, products)
}

#[tokio::test]
async fn every_list_pages_by_cursor_with_each_row_once() {
    let app = spawn_app().await;
    let (admin, ada, _bob, _) = shop(&app).await;
    for (list, sorted_by) in [
        ("/api/v1/products", "id"),
        ("/api/v1/customers", "id"),
        ("/api/v1/users", "id"),
        ("/api/v1/admin/audit-log", "-id"),
        ("/api/v1/admin/jobs/dead", "-died_at"),
        ("/api/v1/orders?sort=id", "id"),
        ("/api/v1/orders", "-created_at"),
        ("/api/v1/orders?sort=created_at", "created_at"),
        ("/api/v1/orders?sort=total", "total"),
        ("/api/v1/orders?sort=-total", "-total"),
        ("/api/v1/orders?sort=-total&status=pending", "-total"),
    ] {
        let all = json_ok(
            app.get(&with(list, "page_size=100"), &admin.token).await,
            StatusCode::OK,
        )
        .await;
        let expected = ids(all["items"].as_array().unwrap());
        assert!(expected.len() >= 7, "{list}: {all}");
        assert!(all["next"].is_null(), "{list}: one page holds all");
        for size in [1, 2, 3] {
            let walked = ids(&walk(
                &app,
                &admin.token,
                &with(list, &format!("page_size={size}")),
            )
            .await);
            assert_eq!(walked, expected, "{list} by {sorted_by}, pages of {size}");
        }
    }
    // A customer's own list pages the same way, and only over its orders.
    let mine = walk(&app, &ada.token, "/api/v1/orders?page_size=2").await;
    assert_eq!(mine.len(), 5);
    assert!(
        mine.iter()
            .all(|o| o["customer_id"] == ada.customer_id.unwrap())
    );
}

fn with(path: &str, param: &str) -> String {
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{path}{sep}{param}")
}

#[tokio::test]
async fn a_cursor_is_good_only_for_the_request_it_was_made_for() {
    let app = spawn_app().await;
    let (admin, ada, bob, _) = shop(&app).await;
    let staff_next = next_of(
        &app,
        &admin.token,
        "/api/v1/orders?status=pending&page_size=2",
    )
    .await;
    let cursor = cursor_of(&staff_next);
    let bad = |body: Value| {
        assert!(
            body["detail"].as_str().unwrap().contains("cursor"),
            "{body}"
        );
    };
    // The same request with its cursor: fine.
    json_ok(app.get(&staff_next, &admin.token).await, StatusCode::OK).await;
    for (path, token) in [
        // Other filters, another sort, another list.
        (
            format!("/api/v1/orders?status=shipped&cursor={cursor}"),
            &admin.token,
        ),
        (
            format!("/api/v1/orders?status=pending&sort=total&cursor={cursor}"),
            &admin.token,
        ),
        (format!("/api/v1/orders?cursor={cursor}"), &admin.token),
        (format!("/api/v1/customers?cursor={cursor}"), &admin.token),
        // Another caller's scope: a customer replaying the staff cursor.
        (
            format!("/api/v1/orders?status=pending&cursor={cursor}"),
            &ada.token,
        ),
        // Not a cursor, an altered one.
        (
            "/api/v1/orders?status=pending&cursor=abc".to_string(),
            &admin.token,
        ),
        (
            format!("/api/v1/orders?status=pending&cursor={cursor}A"),
            &admin.token,
        ),
        (
            format!("/api/v1/orders?status=pending&cursor=A{cursor}"),
            &admin.token,
        ),
    ] {
        bad(assert_error(
            app.get(&path, token).await,
            StatusCode::BAD_REQUEST,
            "bad_request",
        )
        .await);
    }
    // A customer's cursor does not open another customer's list.
    let adas_next = next_of(&app, &ada.token, "/api/v1/orders?page_size=1").await;
    assert_error(
        app.get(&adas_next, &bob.token).await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    // A cursor says where to start: a page number with it is a mistake.
    let body = assert_error(
        app.get(&format!("{staff_next}&page=2"), &admin.token).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_error",
    )
    .await;
    assert_eq!(error_fields(&body), ["page"]);
    // Page numbers reach 10,000 rows deep; beyond, the answer names the cursor.
    json_ok(
        app.get("/api/v1/orders?page=500&page_size=20", &admin.token)
            .await,
        StatusCode::OK,
    )
    .await;
    for path in [
        "/api/v1/orders?page=501&page_size=20",
        "/api/v1/products?page=101&page_size=100",
        "/api/v1/admin/audit-log?page=10001&page_size=1",
    ] {
        let body = assert_error(
            app.get(path, &admin.token).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_error",
        )
        .await;
        assert_eq!(error_fields(&body), ["cursor"], "{path}");
    }
}

#[tokio::test]
async fn totals_are_exact_by_status_and_bounded_otherwise() {
    let app = spawn_app().await;
    let (admin, ada, _, _) = shop(&app).await;
    let page = |path: &'static str, token: String| {
        let app = &app;
        async move { json_ok(app.get(path, &token).await, StatusCode::OK).await }
    };
    let all = page("/api/v1/orders?page_size=1", admin.token.clone()).await;
    assert_eq!(
        (all["total"].as_i64(), all["total_exact"].as_bool()),
        (Some(8), Some(true))
    );
    assert_eq!(all["total_pages"], 8);
    let pending = page("/api/v1/orders?status=pending", admin.token.clone()).await;
    assert_eq!(pending["total"], 8);
    let shipped = page("/api/v1/orders?status=shipped", admin.token.clone()).await;
    assert_eq!(
        (
            shipped["total"].as_i64(),
            shipped["items"].as_array().unwrap().len()
        ),
        (Some(0), 0)
    );
    let mine = page("/api/v1/orders", ada.token.clone()).await;
    assert_eq!(
        (mine["total"].as_i64(), mine["total_exact"].as_bool()),
        (Some(5), Some(true))
    );
    // Past 1,000 matching rows a count stops: "at least 1,000".
    sqlx::query(
        "INSERT INTO audit_log (action, entity_type, entity_id) \
         SELECT 'test.bulk', 'test', g FROM generate_series(1, 1200) g",
    )
    .execute(&app.db)
    .await
    .unwrap();
    let audit = page(
        "/api/v1/admin/audit-log?action=test.bulk",
        admin.token.clone(),
    )
    .await;
    assert_eq!(
        (
            audit["total"].as_i64(),
            audit["total_exact"].as_bool(),
            audit["total_pages"].as_i64()
        ),
        (Some(1000), Some(false), Some(50))
    );
    let walked = walk(
        &app,
        &admin.token,
        "/api/v1/admin/audit-log?action=test.bulk&page_size=100",
    )
    .await;
    assert_eq!(walked.len(), 1200, "cursors go where counts stop");
}

/// While one task places orders and another moves orders along their statuses, a client
/// follows `next` through several lists: no order shows twice, and every order that existed
/// before the walk and matched the filter throughout shows exactly once. (Page numbers fail
/// this: an order placed during the walk shifts every later page by one.)
#[tokio::test]
async fn following_next_sees_every_order_once_while_orders_change() {
    let app = Arc::new(spawn_app().await);
    let admin = app.admin().await;
    let ada = app.customer("ada@example.com").await;
    let mut products = Vec::new();
    for n in 0..4 {
        let price = format!("{}.00", 1 + n);
        products.push(
            app.product(&admin, &format!("P-{n}"), &price).await["id"]
                .as_i64()
                .unwrap(),
        );
    }
    let customer = ada.customer_id.unwrap();
    for n in 0..90 {
        app.order(&ada, customer, &[(products[n % 4], 1 + (n as i64 % 5))])
            .await;
    }
    let statuses = || async {
        let rows: Vec<(i64, String)> = sqlx::query_as("SELECT id, status FROM orders")
            .fetch_all(&app.db)
            .await
            .unwrap();
        rows.into_iter().collect::<HashMap<_, _>>()
    };

    let stop = Arc::new(AtomicBool::new(false));
    let creator = tokio::spawn({
        let (app, ada, stop) = (app.clone(), ada.clone(), stop.clone());
        let products = products.clone();
        async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                app.order(&ada, customer, &[(products[n % 4], 1 + (n as i64 % 4))])
                    .await;
                n += 1;
            }
            n
        }
    });
    let mover = tokio::spawn({
        let (app, admin, stop) = (app.clone(), admin.clone(), stop.clone());
        async move {
            let mut rng = StdRng::seed_from_u64(18);
            let mut moved = 0;
            while !stop.load(Ordering::Relaxed) {
                let (id, status): (i64, String) = sqlx::query_as(
                    "SELECT id, status FROM orders WHERE status IN ('pending', 'processing') \
                     ORDER BY random() LIMIT 1",
                )
                .fetch_one(&app.db)
                .await
                .unwrap();
                let next = match (status.as_str(), rng.random_range(0..4)) {
                    ("pending", 0) => "cancelled",
                    ("pending", _) => "processing",
                    _ => "shipped",
                };
                let path = format!("/api/v1/orders/{id}/status");
                let response = app
                    .patch(&path, &admin.token, &json!({"status": next}))
                    .await;
                assert!(
                    response.status().is_success() || response.status() == StatusCode::CONFLICT
                );
                moved += 1;
            }
            moved
        }
    });

    let lists = [
        ("/api/v1/orders?page_size=7", None),
        ("/api/v1/orders?page_size=7&sort=created_at", None),
        ("/api/v1/orders?page_size=5&sort=-total", None),
        (
            "/api/v1/orders?page_size=4&sort=total&status=pending",
            Some("pending"),
        ),
        (
            "/api/v1/orders?page_size=6&status=processing",
            Some("processing"),
        ),
    ];
    for (first, status) in lists {
        let before = statuses().await;
        let token = if status.is_some() {
            &admin.token
        } else {
            &ada.token
        };
        let seen = ids(&walk(&app, token, first).await);
        let after = statuses().await;
        let unique: HashSet<i64> = seen.iter().copied().collect();
        assert_eq!(unique.len(), seen.len(), "{first}: an order shown twice");
        let steady = before.iter().filter(|(id, was)| match status {
            None => after.contains_key(id),
            Some(s) => *was == s && after.get(id).map(String::as_str) == Some(s),
        });
        for (id, _) in steady {
            assert!(unique.contains(id), "{first}: order {id} never shown");
        }
    }
    stop.store(true, Ordering::Relaxed);
    let (created, moved) = (creator.await.unwrap(), mover.await.unwrap());
    assert!(
        created > 5 && moved > 5,
        "the writers ran ({created} created, {moved} moved)"
    );
    // The counts the concurrent writes kept (in their own statements) match a recount.
    for status in ["pending", "processing", "shipped", "cancelled"] {
        let path = format!("/api/v1/orders?status={status}&page_size=1");
        let page = json_ok(app.get(&path, &admin.token).await, StatusCode::OK).await;
        let counted: i64 = sqlx::query_scalar("SELECT count(*) FROM orders WHERE status = $1")
            .bind(status)
            .fetch_one(&app.db)
            .await
            .unwrap();
        assert_eq!(page["total"], counted, "{status}");
    }
}
