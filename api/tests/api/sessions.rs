//! Sessions that end: logout ends the access token at once (on every instance), a session
//! has an absolute lifetime whatever its refreshes, logout-all, a password change and a
//! deactivation end every session.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{PASSWORD, Session, TestApp, assert_error, json_ok, spawn_app_with};

async fn refresh(app: &TestApp, token: &str) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/auth/refresh"))
        .json(&json!({"refresh_token": token}))
        .send()
        .await
        .unwrap()
}

async fn me(app: &TestApp, token: &str) -> StatusCode {
    app.get("/api/v1/auth/me", token).await.status()
}

async fn logged_out(app: &TestApp, session: &Session) {
    assert_eq!(me(app, &session.token).await, StatusCode::UNAUTHORIZED);
    assert_error(
        refresh(app, &session.refresh_token).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
}

#[tokio::test]
async fn logout_ends_the_access_token_at_once_on_every_instance() {
    let app = spawn_app_with(&[]).await;
    app.user_cache_live().await;
    let other = app.second_instance().await;
    other.user_cache_live().await;
    let ada = app.customer("ada@example.com").await;
    let phone = app.session("ada@example.com", PASSWORD).await;
    // Both instances know the session (and cache the user).
    assert_eq!(me(&app, &ada.token).await, StatusCode::OK);
    assert_eq!(me(&other, &ada.token).await, StatusCode::OK);
    let response = app
        .client
        .post(app.url("/api/v1/auth/logout"))
        .json(&json!({"refresh_token": ada.refresh_token}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(me(&app, &ada.token).await, StatusCode::UNAUTHORIZED);
    // The other instance hears of it from PostgreSQL.
    let mut refused = false;
    for _ in 0..100 {
        if me(&other, &ada.token).await == StatusCode::UNAUTHORIZED {
            refused = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(
        refused,
        "the other instance still accepts a logged-out token"
    );
    logged_out(&app, &ada).await;
    // Another login of the same user is untouched.
    assert_eq!(me(&other, &phone.token).await, StatusCode::OK);
}

#[tokio::test]
async fn a_session_ends_at_its_absolute_lifetime_whatever_its_refreshes() {
    let app = spawn_app_with(&[("SESSION_MAX_SECONDS", "2")]).await;
    let ada = app.customer("ada@example.com").await;
    let mut refresh_token = ada.refresh_token.clone();
    for _ in 0..2 {
        let pair = json_ok(refresh(&app, &refresh_token).await, StatusCode::OK).await;
        refresh_token = pair["refresh_token"].as_str().unwrap().to_string();
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let body = assert_error(
        refresh(&app, &refresh_token).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    assert_eq!(body["detail"], "Invalid or expired refresh token");
    let stored: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT max(expires_at) FROM refresh_tokens")
            .fetch_one(&app.db)
            .await
            .unwrap();
    let session_end: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT max(expires_at) FROM sessions")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(
        stored <= session_end,
        "a refresh token outlived its session"
    );
}

#[tokio::test]
async fn logout_all_a_password_change_and_a_deactivation_each_end_every_session() {
    let app = spawn_app_with(&[]).await;
    let admin = app.admin().await;
    // logout-all
    let ada = app.customer("ada@example.com").await;
    let laptop = app.session("ada@example.com", PASSWORD).await;
    let response = app
        .client
        .post(app.url("/api/v1/auth/logout-all"))
        .bearer_auth(&ada.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    logged_out(&app, &ada).await;
    logged_out(&app, &laptop).await;

    // A password change needs the current password, then ends every session.
    let session = app.session("ada@example.com", PASSWORD).await;
    let other = app.session("ada@example.com", PASSWORD).await;
    let change = |current: &str| {
        app.client
            .post(app.url("/api/v1/auth/change-password"))
            .bearer_auth(&session.token)
            .json(&json!({"current_password": current, "new_password": "a-new-password-42"}))
            .send()
    };
    assert_error(
        change("wrong").await.unwrap(),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    assert_eq!(me(&app, &session.token).await, StatusCode::OK);
    assert_eq!(
        change(PASSWORD).await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    logged_out(&app, &session).await;
    logged_out(&app, &other).await;
    assert_eq!(
        app.login("ada@example.com", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let renewed = app.session("ada@example.com", "a-new-password-42").await;

    // Deactivation by an admin.
    let patched = app
        .patch(
            &format!("/api/v1/users/{}", renewed.user_id),
            &admin.token,
            &json!({"is_active": false}),
        )
        .await;
    assert_eq!(patched.status(), StatusCode::OK);
    logged_out(&app, &renewed).await;
    let live: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM sessions WHERE user_id = $1 AND revoked_at IS NULL",
    )
    .bind(renewed.user_id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(live, 0);
}
