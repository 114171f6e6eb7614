use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{PASSWORD, assert_error, error_fields, json_ok, spawn_app};

#[tokio::test]
async fn register_creates_a_customer_user_and_never_returns_the_hash() {
    let app = spawn_app().await;
    let response = app
        .register("  Ada@Example.COM ", PASSWORD, "Ada Lovelace")
        .await;
    assert_eq!(response.headers()["location"], "/api/v1/auth/me");
    let user = json_ok(response, StatusCode::CREATED).await;
    assert_eq!(user["email"], "ada@example.com");
    assert_eq!(user["role"], "customer");
    assert_eq!(user["is_active"], true);
    assert!(user["customer_id"].as_i64().is_some());
    assert!(user.get("password_hash").is_none());

    let (name, email): (String, String) =
        sqlx::query_as("SELECT name, email FROM customers WHERE id = $1")
            .bind(user["customer_id"].as_i64().unwrap())
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(
        (name.as_str(), email.as_str()),
        ("Ada Lovelace", "ada@example.com")
    );
    let stored: String = sqlx::query_scalar("SELECT password_hash FROM users WHERE email = $1")
        .bind("ada@example.com")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(
        stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{stored}"
    );
}

#[tokio::test]
async fn registering_the_same_email_twice_is_a_conflict() {
    let app = spawn_app().await;
    json_ok(
        app.register("ada@example.com", PASSWORD, "Ada").await,
        StatusCode::CREATED,
    )
    .await;
    let body = assert_error(
        app.register("ADA@example.com ", PASSWORD, "Ada again")
            .await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    assert_eq!(body["detail"], "Email already registered");
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE role = 'customer'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(users, 1);
}

#[tokio::test]
async fn invalid_registrations_name_each_bad_field() {
    let app = spawn_app().await;
    let long = "x".repeat(129);
    for (email, password, name, fields) in [
        ("not-an-email", PASSWORD, "Ada", vec!["email"]),
        ("ada@example.com", "short", "Ada", vec!["password"]),
        ("ada@example.com", long.as_str(), "Ada", vec!["password"]),
        ("ada@example.com", PASSWORD, "   ", vec!["name"]),
        ("bad", "short", "", vec!["email", "password", "name"]),
    ] {
        let body = assert_error(
            app.register(email, password, name).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_error",
        )
        .await;
        assert_eq!(error_fields(&body), fields, "{email} {password} {name}");
    }
}

#[tokio::test]
async fn login_returns_a_bearer_pair_and_me_describes_the_user() {
    let app = spawn_app().await;
    json_ok(
        app.register("ada@example.com", PASSWORD, "Ada").await,
        StatusCode::CREATED,
    )
    .await;
    let tokens = json_ok(app.login("ADA@example.com", PASSWORD).await, StatusCode::OK).await;
    assert_eq!(tokens["token_type"], "bearer");
    assert_eq!(tokens["expires_in"], 900);
    assert!(tokens["refresh_token"].as_str().unwrap().len() >= 43);
    let token = tokens["access_token"].as_str().unwrap();
    let me = json_ok(app.get("/api/v1/auth/me", token).await, StatusCode::OK).await;
    let keys: Vec<_> = me.as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        keys,
        [
            "created_at",
            "customer_id",
            "email",
            "email_verified",
            "id",
            "is_active",
            "name",
            "role"
        ]
    );
    assert_eq!(me["email"], "ada@example.com");
}

#[tokio::test]
async fn wrong_password_and_unknown_email_get_the_same_401() {
    let app = spawn_app().await;
    json_ok(
        app.register("ada@example.com", PASSWORD, "Ada").await,
        StatusCode::CREATED,
    )
    .await;
    for (email, password) in [
        ("ada@example.com", "wrong-password"),
        ("nobody@example.com", PASSWORD),
        ("not an email", PASSWORD),
    ] {
        let response = app.login(email, password).await;
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        let body = assert_error(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
        assert_eq!(body["detail"], "Incorrect email or password");
    }
}

#[tokio::test]
async fn login_accepts_the_form_swagger_ui_sends_and_refuses_json() {
    let app = spawn_app().await;
    json_ok(
        app.register("ada@example.com", PASSWORD, "Ada").await,
        StatusCode::CREATED,
    )
    .await;
    let swagger_form = [
        ("grant_type", "password"),
        ("username", "ada@example.com"),
        ("password", PASSWORD),
        ("scope", ""),
        ("client_id", ""),
    ];
    let response = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .form(&swagger_form)
        .send()
        .await
        .unwrap();
    json_ok(response, StatusCode::OK).await;

    let response = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"username": "ada@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_error(
        response,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
}

#[tokio::test]
async fn a_deactivated_user_can_neither_use_its_token_nor_log_in() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let ada = app.customer("ada@example.com").await;
    let path = format!("/api/v1/users/{}", ada.user_id);
    json_ok(
        app.patch(&path, &admin.token, &json!({"is_active": false}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_error(
        app.get("/api/v1/auth/me", &ada.token).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    assert_error(
        app.login("ada@example.com", PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
}
