//! PostgreSQL's own time limits, set on every session of the pool: a transition that waits
//! for a row lock past `lock_timeout`, or runs past `statement_timeout`, is a 503 with
//! `Retry-After` in the error shape — never a 500 — and the connection serves the next
//! request.

use reqwest::StatusCode;
use serde_json::json;
use sqlx::Connection;

use crate::helpers::{assert_error, spawn_app_with};

/// Holds the order's row lock in a transaction of its own while `PATCH …/status` runs.
async fn transition_against_a_held_lock(overrides: &[(&str, &str)]) -> (reqwest::Response, bool) {
    let app = spawn_app_with(overrides).await;
    let admin = app.admin().await;
    let customer = app.customer("ada@example.com").await;
    let order = app.pending_order(&admin, &customer).await;
    // A session of its own, without the app's limits.
    let mut holder = sqlx::PgConnection::connect(app.settings.core.database_url())
        .await
        .unwrap();
    let mut holder = holder.begin().await.unwrap();
    sqlx::query("SELECT id FROM orders WHERE id = $1 FOR UPDATE")
        .bind(order)
        .execute(&mut *holder)
        .await
        .unwrap();
    let response = app
        .patch(
            &format!("/api/v1/orders/{order}/status"),
            &admin.token,
            &json!({"status": "processing"}),
        )
        .await;
    holder.rollback().await.unwrap();
    // The same pool, the lock gone: the transition goes through.
    let after = app
        .patch(
            &format!("/api/v1/orders/{order}/status"),
            &admin.token,
            &json!({"status": "processing"}),
        )
        .await;
    let recovered = after.status() == StatusCode::OK;
    (response, recovered)
}

async fn assert_retry_later(response: reqwest::Response, detail: &str) {
    assert_eq!(response.headers()["retry-after"], "1");
    let body = assert_error(
        response,
        StatusCode::SERVICE_UNAVAILABLE,
        "service_unavailable",
    )
    .await;
    assert_eq!(body["detail"], detail);
}

#[tokio::test]
async fn a_transition_waiting_past_lock_timeout_is_a_503_with_retry_after() {
    let (response, recovered) = transition_against_a_held_lock(&[
        ("DATABASE_LOCK_TIMEOUT_MS", "200"),
        ("DATABASE_STATEMENT_TIMEOUT_MS", "5000"),
    ])
    .await;
    assert_retry_later(
        response,
        "The resource is being changed by another request; try again",
    )
    .await;
    assert!(recovered);
}

#[tokio::test]
async fn a_statement_running_past_statement_timeout_is_a_503_with_retry_after() {
    let (response, recovered) = transition_against_a_held_lock(&[
        ("DATABASE_LOCK_TIMEOUT_MS", "300"),
        ("DATABASE_STATEMENT_TIMEOUT_MS", "300"),
    ])
    .await;
    assert_retry_later(response, "The database took too long to answer; try again").await;
    assert!(recovered);
}

#[tokio::test]
async fn every_session_carries_the_configured_limits() {
    let app = spawn_app_with(&[
        ("REQUEST_TIMEOUT_SECONDS", "10"),
        ("DATABASE_STATEMENT_TIMEOUT_MS", "7000"),
        ("DATABASE_LOCK_TIMEOUT_MS", "1500"),
        ("DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS", "9000"),
    ])
    .await;
    let limits: (String, String, String) = sqlx::query_as(
        "SELECT current_setting('statement_timeout'), current_setting('lock_timeout'), \
         current_setting('idle_in_transaction_session_timeout')",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(limits, ("7s".into(), "1500ms".into(), "9s".into()));
    // The defaults follow the request timeout.
    let app = spawn_app_with(&[("REQUEST_TIMEOUT_SECONDS", "30")]).await;
    let statement: String = sqlx::query_scalar("SELECT current_setting('statement_timeout')")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(statement, "24s");
}
