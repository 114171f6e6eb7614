//! The one error contract, status by status, from every layer.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{assert_error, error_fields, spawn_app, spawn_app_with};

#[tokio::test]
async fn client_errors_from_every_layer_share_the_json_shape() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let post_raw = |body: &'static str, content_type: &'static str| {
        app.client
            .post(app.url("/api/v1/customers"))
            .bearer_auth(&admin.token)
            .header("content-type", content_type)
            .body(body)
            .send()
    };

    // 400: not JSON at all, or trailing garbage.
    let body = assert_error(
        post_raw("{\"name\": ", "application/json").await.unwrap(),
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .starts_with("Malformed JSON")
    );
    assert_error(
        post_raw("{} {}", "application/json").await.unwrap(),
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    // 401, 403 are covered per route; 404 unknown route and unknown id; 405 wrong method.
    assert_error(
        app.get("/api/v1/nothing-here", &admin.token).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_error(
        app.get("/api/v1/customers/987654", &admin.token).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let response = app
        .client
        .put(app.url("/api/v1/customers"))
        .send()
        .await
        .unwrap();
    assert!(response.headers().contains_key("allow"));
    assert_error(
        response,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;
    // 413: a body over 1 MiB.
    let huge = format!("{{\"name\": \"{}\"}}", "x".repeat(1_100_000));
    let response = app
        .client
        .post(app.url("/api/v1/customers"))
        .bearer_auth(&admin.token)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_error(response, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    // 415: wrong or missing content type.
    assert_error(
        post_raw("name=x", "text/plain").await.unwrap(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    // 422: wrong types, missing and unknown fields, bad path parameters.
    for (body, field) in [
        (json!({"name": 5, "email": "a@example.com"}), "name"),
        (json!({"email": "a@example.com"}), "name"),
        (
            json!({"name": "A", "email": "a@example.com", "is_vip": true}),
            "is_vip",
        ),
        (json!([1, 2]), "body"),
    ] {
        let body = assert_error(
            app.post("/api/v1/customers", &admin.token, &body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_error",
        )
        .await;
        assert_eq!(error_fields(&body), [field]);
    }
    let body = assert_error(
        app.get("/api/v1/customers/abc", &admin.token).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_error",
    )
    .await;
    assert_eq!(error_fields(&body), ["path"]);
}

#[tokio::test]
async fn too_many_login_attempts_get_429_with_retry_after() {
    let app = spawn_app_with(&[
        ("AUTH_RATE_LIMIT_BURST", "3"),
        ("AUTH_RATE_LIMIT_REPLENISH_MS", "60000"),
    ])
    .await;
    for _ in 0..3 {
        assert_eq!(
            app.login("x@example.com", "whatever-1").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let response = app.login("x@example.com", "whatever-1").await;
    assert!(
        response.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    assert_error(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // Other routes have their own, larger budget.
    assert_eq!(
        app.client
            .get(app.url("/api/v1/auth/me"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn an_internal_failure_is_a_fixed_500_without_details() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    sqlx::query("DROP TABLE products CASCADE")
        .execute(&app.db)
        .await
        .unwrap();
    let body = assert_error(
        app.get("/api/v1/products", &admin.token).await,
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_error",
    )
    .await;
    assert_eq!(body["detail"], "Internal server error");
    assert!(!body.to_string().contains("products"), "{body}");
}

#[tokio::test]
async fn an_unreachable_database_is_a_503() {
    let database = crate::helpers::create_database().await;
    let settings = crate::helpers::test_settings(
        &database.name,
        &[
            ("DATABASE_URL", "postgres://postgres@127.0.0.1:1/nowhere"),
            ("MIGRATE_ON_START", "false"),
            ("DATABASE_ACQUIRE_TIMEOUT_SECONDS", "1"),
        ],
    );
    let app = crate::helpers::start(settings, database).await;
    let body = assert_error(
        app.login("ada@example.com", "whatever-1").await,
        StatusCode::SERVICE_UNAVAILABLE,
        "service_unavailable",
    )
    .await;
    assert_eq!(body["detail"], "Database unavailable");
}

#[tokio::test]
async fn request_ids_are_the_servers_and_a_clients_id_is_never_taken_for_one() {
    let app = spawn_app().await;
    let send = |id: &'static str| {
        app.client
            .get(app.url("/health"))
            .header("x-request-id", id)
            .send()
    };
    let too_long: &'static str = Box::leak("x".repeat(65).into_boxed_str());
    let mut seen = std::collections::HashSet::new();
    for id in ["client-id-123", "has space", too_long] {
        let response = send(id).await.unwrap();
        let answered = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_string();
        assert_ne!(answered, id);
        assert_eq!(answered.len(), 36, "a generated UUID");
        assert!(seen.insert(answered), "ids are unique");
    }
    let response = app
        .client
        .get(app.url("/nowhere"))
        .header("x-request-id", "trace-me")
        .send()
        .await
        .unwrap();
    let header = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    let body = assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(body["request_id"], header.as_str());
}
