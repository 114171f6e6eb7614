//! Refresh-token rotation and every way an access token can be bad.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{assert_error, json_ok, spawn_app};

async fn refresh(app: &crate::helpers::TestApp, token: &str) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/auth/refresh"))
        .json(&json!({"refresh_token": token}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn refresh_rotates_and_reusing_a_used_token_revokes_the_family() {
    let app = spawn_app().await;
    let ada = app.customer("ada@example.com").await;

    let second = json_ok(refresh(&app, &ada.refresh_token).await, StatusCode::OK).await;
    let second_refresh = second["refresh_token"].as_str().unwrap();
    assert_ne!(second_refresh, ada.refresh_token);
    json_ok(
        app.get("/api/v1/auth/me", second["access_token"].as_str().unwrap())
            .await,
        StatusCode::OK,
    )
    .await;

    // The first token again: theft suspected, the whole family dies.
    let body = assert_error(
        refresh(&app, &ada.refresh_token).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    assert!(body["detail"].as_str().unwrap().contains("already used"));
    assert_error(
        refresh(&app, second_refresh).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    let live: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM refresh_tokens WHERE revoked_at IS NULL AND used_at IS NULL",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(live, 0);
}

#[tokio::test]
async fn logout_revokes_the_refresh_token_and_unknown_tokens_are_refused() {
    let app = spawn_app().await;
    let ada = app.customer("ada@example.com").await;
    let response = app
        .client
        .post(app.url("/api/v1/auth/logout"))
        .json(&json!({"refresh_token": ada.refresh_token}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_error(
        refresh(&app, &ada.refresh_token).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    assert_error(
        refresh(&app, "made-up").await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
}

#[tokio::test]
async fn expired_refresh_tokens_are_refused() {
    let app = spawn_app().await;
    let ada = app.customer("ada@example.com").await;
    sqlx::query("UPDATE refresh_tokens SET expires_at = now() - interval '1 second'")
        .execute(&app.db)
        .await
        .unwrap();
    assert_error(
        refresh(&app, &ada.refresh_token).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
}

fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

fn sign(claims: &Value, kid: Option<&str>, secret: &str) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = kid.map(str::to_string);
    jsonwebtoken::encode(
        &header,
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn b64(value: &Value) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
}

#[tokio::test]
async fn every_kind_of_bad_access_token_is_a_401_with_www_authenticate() {
    let app = spawn_app().await;
    let ada = app.customer("ada@example.com").await;
    let secret = orderflow_shared::settings::DEV_JWT_SECRET;
    let sid: uuid::Uuid = sqlx::query_scalar("SELECT id FROM sessions WHERE user_id = $1")
        .bind(ada.user_id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    let claims = |exp: u64, iss: &str, aud: &str| json!({"sub": ada.user_id.to_string(), "sid": sid, "role": "customer", "iat": now() - 10, "exp": exp, "iss": iss, "aud": aud});
    let good = claims(now() + 600, "orderflow", "orderflow-api");
    // Control: the test's own signing reproduces a valid token, so the failures below are
    // caused by the one thing each changes.
    json_ok(
        app.get("/api/v1/auth/me", &sign(&good, Some("k1"), secret))
            .await,
        StatusCode::OK,
    )
    .await;

    let alg_none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT", "kid": "k1"})),
        b64(&good)
    );
    let cases = [
        ("alg none", alg_none),
        (
            "wrong signature",
            sign(&good, Some("k1"), "another-secret-entirely-0123456789"),
        ),
        (
            "expired",
            sign(
                &claims(now() - 120, "orderflow", "orderflow-api"),
                Some("k1"),
                secret,
            ),
        ),
        (
            "wrong issuer",
            sign(
                &claims(now() + 600, "someone-else", "orderflow-api"),
                Some("k1"),
                secret,
            ),
        ),
        (
            "wrong audience",
            sign(
                &claims(now() + 600, "orderflow", "other-api"),
                Some("k1"),
                secret,
            ),
        ),
        ("unknown kid", sign(&good, Some("k9"), secret)),
        ("no session", {
            let mut no_sid = good.clone();
            no_sid.as_object_mut().unwrap().remove("sid");
            sign(&no_sid, Some("k1"), secret)
        }),
        ("a session that does not exist", {
            let mut other = good.clone();
            other["sid"] = json!(uuid::Uuid::new_v4());
            sign(&other, Some("k1"), secret)
        }),
        ("no kid", sign(&good, None, secret)),
        ("malformed", "not.a.jwt".to_string()),
        ("garbage", "%%%".to_string()),
    ];
    for (case, token) in cases {
        let response = app.get("/api/v1/auth/me", &token).await;
        assert_eq!(
            response
                .headers()
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap()),
            Some("Bearer"),
            "{case}"
        );
        assert_error(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
    let response = app
        .client
        .get(app.url("/api/v1/auth/me"))
        .send()
        .await
        .unwrap();
    assert_error(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let response = app
        .client
        .get(app.url("/api/v1/auth/me"))
        .header("authorization", format!("Basic {}", ada.token))
        .send()
        .await
        .unwrap();
    assert_error(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
}
