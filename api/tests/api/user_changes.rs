//! Deactivation and role changes take effect at once, although each API instance keeps the
//! users it authenticated in memory: the instance that makes a change forgets the user before
//! answering, and PostgreSQL's NOTIFY (a trigger on `users`) tells every other instance,
//! whoever made the change.

use reqwest::StatusCode;
use serde_json::json;
use std::time::{Duration, Instant};

use crate::helpers::{Session, TestApp, json_ok, spawn_app};

/// Requests `path` until it answers `expected`; returns how long that took and how many
/// answers came before it.
async fn until_status(
    app: &TestApp,
    session: &Session,
    path: &str,
    expected: StatusCode,
) -> (Duration, usize) {
    let started = Instant::now();
    let mut before = 0;
    loop {
        if app.get(path, &session.token).await.status() == expected {
            return (started.elapsed(), before);
        }
        before += 1;
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{path} never answered {expected} ({before} other answers)"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::test]
async fn a_user_deactivated_through_the_api_is_refused_on_its_next_request() {
    let app = spawn_app().await;
    app.user_cache_live().await;
    let admin = app.admin().await;
    let ada = app.customer("ada@example.com").await;
    for _ in 0..3 {
        json_ok(app.get("/api/v1/auth/me", &ada.token).await, StatusCode::OK).await;
    }
    json_ok(
        app.patch(
            &format!("/api/v1/users/{}", ada.user_id),
            &admin.token,
            &json!({"is_active": false}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        app.get("/api/v1/orders", &ada.token).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_change_made_through_one_instance_reaches_another_through_postgresql() {
    let a = spawn_app().await;
    let b = a.second_instance().await;
    b.user_cache_live().await;
    let admin = a.admin().await;
    let sam = a.staff("sam@example.com").await;
    // B has Sam cached as staff.
    for _ in 0..3 {
        json_ok(b.get("/api/v1/customers", &sam.token).await, StatusCode::OK).await;
    }
    // A demotes Sam to customer: B refuses staff routes from then on.
    json_ok(
        a.patch(
            &format!("/api/v1/users/{}", sam.user_id),
            &admin.token,
            &json!({"role": "customer"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let (demoted_in, stale) =
        until_status(&b, &sam, "/api/v1/customers", StatusCode::FORBIDDEN).await;
    // A deactivation through A: B refuses everything.
    json_ok(
        a.patch(
            &format!("/api/v1/users/{}", sam.user_id),
            &admin.token,
            &json!({"is_active": false}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let (deactivated_in, stale_after) =
        until_status(&b, &sam, "/api/v1/orders", StatusCode::UNAUTHORIZED).await;
    eprintln!(
        "other instance: role change seen after {demoted_in:?} ({stale} stale answers), \
         deactivation after {deactivated_in:?} ({stale_after} stale answers)"
    );
}

#[tokio::test]
async fn a_change_made_directly_in_the_database_is_noticed_too() {
    let app = spawn_app().await;
    app.user_cache_live().await;
    let ada = app.customer("ada@example.com").await;
    json_ok(app.get("/api/v1/auth/me", &ada.token).await, StatusCode::OK).await;
    sqlx::query("UPDATE users SET is_active = false WHERE id = $1")
        .bind(ada.user_id)
        .execute(&app.db)
        .await
        .unwrap();
    let (after, stale) =
        until_status(&app, &ada, "/api/v1/auth/me", StatusCode::UNAUTHORIZED).await;
    eprintln!("direct UPDATE seen after {after:?} ({stale} stale answers)");
}

#[tokio::test]
async fn losing_the_notification_connection_turns_the_cache_off_instead_of_going_stale() {
    let app = spawn_app().await;
    app.user_cache_live().await;
    let ada = app.customer("ada@example.com").await;
    json_ok(app.get("/api/v1/auth/me", &ada.token).await, StatusCode::OK).await;
    // Kill the instance's LISTEN connection, then change the user while it reconnects.
    let killed: i64 = sqlx::query_scalar(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE datname = current_database() AND query LIKE 'LISTEN%'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(killed, 1);
    sqlx::query("UPDATE users SET is_active = false WHERE id = $1")
        .bind(ada.user_id)
        .execute(&app.db)
        .await
        .unwrap();
    until_status(&app, &ada, "/api/v1/auth/me", StatusCode::UNAUTHORIZED).await;
    // It reconnects by itself.
    app.user_cache_live().await;
}
