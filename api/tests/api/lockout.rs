//! Per-account login lockout: counted per email from any address, the same for unknown
//! emails, reset by a success, lifted by an admin (audited).

use reqwest::{Response, StatusCode};

use crate::helpers::{PASSWORD, TestApp, assert_error, json_ok, spawn_app_with};

const LOCK_AFTER_3: &[(&str, &str)] = &[
    ("LOGIN_LOCKOUT_THRESHOLD", "3"),
    ("LOGIN_LOCKOUT_SECONDS", "60"),
    // Each attempt from its own address (the test's own setup calls come from 127.0.0.1),
    // so the per-IP limit is never what stops them.
    ("TRUSTED_PROXIES", "127.0.0.1"),
    ("AUTH_RATE_LIMIT_BURST", "20"),
    ("AUTH_RATE_LIMIT_REPLENISH_MS", "60000"),
];

async fn login_from(app: &TestApp, ip: u8, email: &str, password: &str) -> Response {
    app.client
        .post(app.url("/api/v1/auth/login"))
        .header("x-forwarded-for", format!("198.51.100.{ip}"))
        .form(&[("username", email), ("password", password)])
        .send()
        .await
        .unwrap()
}

async fn fail_times(app: &TestApp, email: &str, n: u8, first_ip: u8) {
    for i in 0..n {
        assert_eq!(
            login_from(app, first_ip + i, email, "wrong-password")
                .await
                .status(),
            StatusCode::UNAUTHORIZED
        );
    }
}

#[tokio::test]
async fn an_account_is_locked_after_n_failures_from_rotating_addresses() {
    let app = spawn_app_with(LOCK_AFTER_3).await;
    app.customer("ada@example.com").await;
    fail_times(&app, "ada@example.com", 3, 1).await;
    // Even the right password, from a fresh address, is refused now.
    let locked = login_from(&app, 50, "ada@example.com", PASSWORD).await;
    let retry_after: u64 = locked.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((50..=60).contains(&retry_after), "{retry_after}");
    let body = assert_error(locked, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;

    // An address nobody has answers exactly alike: the lockout reveals nothing.
    fail_times(&app, "ghost@example.com", 3, 10).await;
    let ghost = login_from(&app, 51, "ghost@example.com", "anything-1").await;
    let ghost_body = assert_error(ghost, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    assert_eq!(ghost_body["detail"], body["detail"]);

    // Other accounts are untouched; the address's case does not dodge the count.
    app.customer("bob@example.com").await;
    assert_eq!(
        login_from(&app, 52, "bob@example.com", PASSWORD)
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        login_from(&app, 53, "ADA@Example.com", PASSWORD)
            .await
            .status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn a_success_resets_the_count() {
    let app = spawn_app_with(LOCK_AFTER_3).await;
    app.customer("ada@example.com").await;
    fail_times(&app, "ada@example.com", 2, 1).await;
    assert_eq!(
        login_from(&app, 20, "ada@example.com", PASSWORD)
            .await
            .status(),
        StatusCode::OK
    );
    fail_times(&app, "ada@example.com", 2, 30).await;
    assert_eq!(
        login_from(&app, 40, "ada@example.com", PASSWORD)
            .await
            .status(),
        StatusCode::OK,
        "four failures in all, but never three in a row"
    );
}

#[tokio::test]
async fn the_lockout_holds_across_instances_and_an_admin_can_lift_it() {
    let app = spawn_app_with(LOCK_AFTER_3).await;
    let other = app.second_instance().await;
    let admin = app.admin().await;
    let ada = app.customer("ada@example.com").await;
    fail_times(&app, "ada@example.com", 2, 1).await;
    fail_times(&other, "ada@example.com", 1, 5).await;
    assert_eq!(
        login_from(&app, 60, "ada@example.com", PASSWORD)
            .await
            .status(),
        StatusCode::TOO_MANY_REQUESTS
    );

    // Only admins may unlock.
    let unlock = format!("/api/v1/users/{}/unlock", ada.user_id);
    let refused = app.post(&unlock, &ada.token, &serde_json::json!({})).await;
    assert_error(refused, StatusCode::FORBIDDEN, "forbidden").await;
    let response = other
        .post(&unlock, &admin.token, &serde_json::json!({}))
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        login_from(&app, 61, "ada@example.com", PASSWORD)
            .await
            .status(),
        StatusCode::OK
    );
    let audit = json_ok(
        app.get(
            &format!(
                "/api/v1/admin/audit-log?entity_type=user&entity_id={}",
                ada.user_id
            ),
            &admin.token,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"user.login_unlocked"), "{audit}");
    assert_error(
        app.post(
            "/api/v1/users/999999/unlock",
            &admin.token,
            &serde_json::json!({}),
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn a_saturated_password_hasher_answers_503_quickly() {
    // One hashing thread, nobody may wait for it, and not for long.
    let app = spawn_app_with(&[
        ("PASSWORD_HASH_CONCURRENCY", "1"),
        ("PASSWORD_HASH_QUEUE", "0"),
        ("PASSWORD_HASH_WAIT_MS", "1"),
    ])
    .await;
    let logins = (0..24).map(|_| app.login("nobody@example.com", "wrong-password"));
    let responses = futures::future::join_all(logins).await;
    let mut busy = 0;
    for response in responses {
        match response.status() {
            StatusCode::UNAUTHORIZED => {}
            StatusCode::SERVICE_UNAVAILABLE => {
                busy += 1;
                assert_eq!(response.headers()["retry-after"], "1");
                assert_error(
                    response,
                    StatusCode::SERVICE_UNAVAILABLE,
                    "service_unavailable",
                )
                .await;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(busy > 0, "24 logins at once on one thread with no queue");
    // And the service is fine afterwards.
    let health = app.client.get(app.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
}
