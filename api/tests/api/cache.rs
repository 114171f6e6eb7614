//! The Redis read cache of single orders and products: it serves repeated reads, every write
//! that changes a response invalidates it (on every instance), a hit is authorised like a
//! database read, and with Redis unreachable reads are answered by PostgreSQL.

use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

use crate::helpers::{Session, TestApp, assert_error, json_ok, spawn_app, spawn_app_with};

async fn read(app: &TestApp, session: &Session, path: &str) -> Value {
    json_ok(app.get(path, &session.token).await, StatusCode::OK).await
}

/// Changes the order's notes behind the API's back: a cached copy keeps the old ones.
async fn change_notes_in_the_database(app: &TestApp, id: i64, notes: &str) {
    sqlx::query("UPDATE orders SET notes = $2 WHERE id = $1")
        .bind(id)
        .bind(notes)
        .execute(&app.db)
        .await
        .unwrap();
}

async fn setup(app: &TestApp) -> (Session, Session, i64) {
    let admin = app.admin().await;
    let ada = app.customer("ada@example.com").await;
    let id = app.pending_order(&admin, &ada).await;
    (admin, ada, id)
}

#[tokio::test]
async fn a_read_order_is_served_from_the_cache_until_a_write_through_the_api_replaces_it() {
    let app = spawn_app().await;
    let (admin, ada, id) = setup(&app).await;
    let path = format!("/api/v1/orders/{id}");
    let first = read(&app, &ada, &path).await;
    assert_eq!(first["notes"], Value::Null);

    // Proof that reads come from the cache: a change made outside the API is not seen.
    change_notes_in_the_database(&app, id, "changed behind the API's back").await;
    assert_eq!(read(&app, &ada, &path).await, first);

    // Every write through the API is seen by the very next read.
    let patched = json_ok(
        app.patch(&path, &ada.token, &json!({"notes": "Ring twice"}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(read(&app, &ada, &path).await, patched);
    assert_eq!(read(&app, &admin, &path).await["notes"], "Ring twice");

    let moved = json_ok(
        app.patch(
            &format!("{path}/status"),
            &admin.token,
            &json!({"status": "processing"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(read(&app, &ada, &path).await, moved);
    assert_eq!(moved["status"], "processing");

    // The customer's name shows on its orders: a rename reaches the cached copy.
    json_ok(
        app.patch(
            &format!("/api/v1/customers/{}", ada.customer_id.unwrap()),
            &admin.token,
            &json!({"name": "Ada King"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(read(&app, &ada, &path).await["customer_name"], "Ada King");

    assert_eq!(
        app.delete(&path, &admin.token).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_error(
        app.get(&path, &admin.token).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn a_cached_order_is_still_only_shown_to_its_customer_and_staff() {
    let app = spawn_app().await;
    let (admin, ada, id) = setup(&app).await;
    let bob = app.customer("bob@example.com").await;
    let path = format!("/api/v1/orders/{id}");
    // Cached by its owner's read, then asked for by another customer: 404, not the order.
    let cached = read(&app, &ada, &path).await;
    change_notes_in_the_database(&app, id, "marker").await;
    let refused = assert_error(
        app.get(&path, &bob.token).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert!(!refused.to_string().contains("Test Customer"), "{refused}");
    // Staff see it, from the cache (the marker is not there).
    assert_eq!(read(&app, &admin, &path).await, cached);

    // The other way round: cached by staff, still refused to the wrong customer.
    let product = app.product(&admin, "P-2", "3.00").await["id"]
        .as_i64()
        .unwrap();
    let second = app
        .order(&ada, ada.customer_id.unwrap(), &[(product, 1)])
        .await["id"]
        .as_i64()
        .unwrap();
    let path = format!("/api/v1/orders/{second}");
    read(&app, &admin, &path).await;
    assert_error(
        app.get(&path, &bob.token).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    read(&app, &ada, &path).await;
}

#[tokio::test]
async fn product_changes_reach_cached_products_and_inactive_ones_stay_hidden_from_customers() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let ada = app.customer("ada@example.com").await;
    let id = app.product(&admin, "P-1", "10.00").await["id"]
        .as_i64()
        .unwrap();
    let path = format!("/api/v1/products/{id}");
    assert_eq!(read(&app, &ada, &path).await["price"], "10.00");
    sqlx::query("UPDATE products SET name = 'changed directly' WHERE id = $1")
        .bind(id)
        .execute(&app.db)
        .await
        .unwrap();
    assert_eq!(
        read(&app, &ada, &path).await["name"],
        "Product P-1",
        "cached"
    );

    json_ok(
        app.patch(&path, &admin.token, &json!({"price": "12.50"}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(read(&app, &ada, &path).await["price"], "12.50");

    assert_eq!(
        app.delete(&path, &admin.token).await.status(),
        StatusCode::NO_CONTENT
    );
    // Cached as inactive by the admin's read; a customer still gets 404.
    assert_eq!(read(&app, &admin, &path).await["is_active"], false);
    assert_error(
        app.get(&path, &ada.token).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn a_write_through_one_instance_is_never_read_stale_through_another() {
    let a = spawn_app().await;
    let b = a.second_instance().await;
    let (admin, ada, id) = setup(&a).await;
    let path = format!("/api/v1/orders/{id}");
    for round in 0..5 {
        // B caches the order, A changes it, B's next read shows the change.
        read(&b, &ada, &path).await;
        let notes = format!("round {round}");
        json_ok(
            a.patch(&path, &ada.token, &json!({"notes": notes})).await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(read(&b, &ada, &path).await["notes"], notes.as_str());
        assert_eq!(read(&b, &admin, &path).await["notes"], notes.as_str());
    }
}

#[tokio::test]
async fn with_redis_unreachable_reads_and_writes_still_succeed_from_postgresql() {
    // Nothing listens on this port: every cache operation fails at once.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("redis://127.0.0.1:{port}");
    let app = spawn_app_with(&[("REDIS_URL", &url)]).await;
    let (admin, ada, id) = setup(&app).await;
    let path = format!("/api/v1/orders/{id}");
    let started = Instant::now();
    for i in 0..20 {
        assert_eq!(read(&app, &ada, &path).await["id"], id);
        let notes = format!("note {i}");
        json_ok(
            app.patch(&path, &admin.token, &json!({"notes": notes}))
                .await,
            StatusCode::OK,
        )
        .await;
        // With no cache, the database answers, so every write is seen at once.
        assert_eq!(read(&app, &ada, &path).await["notes"], notes.as_str());
    }
    // 60 requests: the cache's timeout and back-off keep Redis from slowing them down.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn with_the_cache_turned_off_every_read_goes_to_postgresql() {
    let app = spawn_app_with(&[("CACHE_TTL_SECONDS", "0")]).await;
    let (_, ada, id) = setup(&app).await;
    let path = format!("/api/v1/orders/{id}");
    read(&app, &ada, &path).await;
    change_notes_in_the_database(&app, id, "seen at once").await;
    assert_eq!(read(&app, &ada, &path).await["notes"], "seen at once");
}

#[tokio::test]
async fn a_read_that_started_before_an_invalidation_cannot_refill_the_cache() {
    use orderflow_shared::cache::{Entity, ReadCache};
    let namespace = format!("orderflow-test-cache-{}", uuid::Uuid::new_v4().simple());
    let settings = crate::helpers::test_settings("unused", &[("REDIS_KEY_PREFIX", &namespace)]);
    let conn = orderflow_shared::dispatch::redis_connection(&settings.core).unwrap();
    let cache = ReadCache::new(
        conn,
        &namespace,
        Duration::from_secs(30),
        Duration::from_millis(200),
    );

    // Reader 1 reads the database (old version)...
    let read_started = Instant::now();
    // ...a writer commits and invalidates...
    cache.invalidate(Entity::Order, &[1]).await;
    // ...and reader 1's fill arrives after: refused, the next read misses.
    cache
        .fill(Entity::Order, 1, 7, b"{\"old\":true}", read_started)
        .await;
    assert_eq!(cache.get(Entity::Order, 1).await, None);

    // A fill from a database read older than a second is never written.
    let old_read = Instant::now() - Duration::from_secs(2);
    cache
        .fill(Entity::Order, 2, 7, b"{\"old\":true}", old_read)
        .await;
    assert_eq!(cache.get(Entity::Order, 2).await, None);

    // A fresh read fills, and a hit carries its authorisation tag.
    cache
        .fill(Entity::Order, 3, 7, b"{\"id\":3}", Instant::now())
        .await;
    let hit = cache.get(Entity::Order, 3).await.expect("a hit");
    assert_eq!((hit.tag, hit.body.as_slice()), (7, &b"{\"id\":3}"[..]));
    orderflow_testkit::delete_redis_keys(&namespace).await;
}
