//! The login lockout: failures lock the (account, client network) pair — the attacker's —
//! while the account as a whole only slows down, so the owner on another network still logs
//! in; attempts count before the password is hashed; unknown emails answer alike; admins and
//! a reset lift locks.

use reqwest::{Response, StatusCode};
use std::time::{Duration, Instant};

use crate::helpers::{PASSWORD, TestApp, assert_error, json_ok, spawn_app_with};

const LOCK_AFTER_3: &[(&str, &str)] = &[
    ("LOGIN_LOCKOUT_THRESHOLD", "3"),
    ("LOGIN_LOCKOUT_SECONDS", "60"),
    // Networks are told apart by X-Forwarded-For from the test (a trusted proxy).
    ("TRUSTED_PROXIES", "127.0.0.1"),
    ("AUTH_RATE_LIMIT_BURST", "1000"),
];

async fn login_from(app: &TestApp, network: &str, email: &str, password: &str) -> Response {
    app.client
        .post(app.url("/api/v1/auth/login"))
        .header("x-forwarded-for", network)
        .form(&[("username", email), ("password", password)])
        .send()
        .await
        .unwrap()
}

async fn fail_times(app: &TestApp, network: &str, email: &str, n: usize) {
    for _ in 0..n {
        assert_eq!(
            login_from(app, network, email, "wrong-password")
                .await
                .status(),
            StatusCode::UNAUTHORIZED
        );
    }
}

fn retry_after(r: &Response) -> u64 {
    r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

const ATTACKER: &str = "203.0.113.66";
const OWNER: &str = "198.51.100.7";

#[tokio::test]
async fn failures_lock_the_attackers_network_not_the_owner() {
    let app = spawn_app_with(LOCK_AFTER_3).await;
    app.customer("ada@example.com").await;
    fail_times(&app, ATTACKER, "ada@example.com", 3).await;
    // The attacker's network is locked, even with the right password…
    let locked = login_from(&app, ATTACKER, "ada@example.com", PASSWORD).await;
    assert!((50..=60).contains(&retry_after(&locked)));
    let body = assert_error(locked, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // …the owner's is not.
    let owner = login_from(&app, OWNER, "ada@example.com", PASSWORD).await;
    assert_eq!(owner.status(), StatusCode::OK);
    // An address nobody has answers exactly alike: the lockout reveals nothing.
    fail_times(&app, ATTACKER, "ghost@example.com", 3).await;
    let ghost = login_from(&app, ATTACKER, "ghost@example.com", "anything-1").await;
    let ghost_body = assert_error(ghost, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    assert_eq!(ghost_body["detail"], body["detail"]);
    // The address's case does not dodge the count.
    assert_eq!(
        login_from(&app, ATTACKER, "ADA@Example.com", PASSWORD)
            .await
            .status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn an_attacker_probing_at_every_retry_after_never_locks_the_owner_out() {
    let app = spawn_app_with(&[
        ("LOGIN_LOCKOUT_THRESHOLD", "3"),
        ("LOGIN_LOCKOUT_SECONDS", "1"),
        ("LOGIN_LOCKOUT_MAX_SECONDS", "1"),
        ("LOGIN_SLOWDOWN_THRESHOLD", "5"),
        ("LOGIN_SLOWDOWN_MS", "100"),
        ("LOGIN_SLOWDOWN_MAX_MS", "200"),
        ("TRUSTED_PROXIES", "127.0.0.1"),
        ("AUTH_RATE_LIMIT_BURST", "1000"),
    ])
    .await;
    app.customer("ada@example.com").await;
    let until = Instant::now() + Duration::from_secs(6);
    let (mut guesses, mut refused) = (0, 0);
    while Instant::now() < until {
        let r = login_from(&app, ATTACKER, "ada@example.com", "wrong-password").await;
        match r.status() {
            StatusCode::UNAUTHORIZED => guesses += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                refused += 1;
                // Exactly when told it may try again.
                tokio::time::sleep(Duration::from_secs(retry_after(&r))).await;
            }
            other => panic!("attacker got {other}"),
        }
        // Meanwhile the owner, from its own network with its password, always gets in
        // (slowed down once the account's failures pass the slowdown threshold).
        let started = Instant::now();
        let owner = login_from(&app, OWNER, "ada@example.com", PASSWORD).await;
        assert_eq!(owner.status(), StatusCode::OK, "after {guesses} guesses");
        assert!(started.elapsed() < Duration::from_secs(2));
    }
    assert!(
        guesses >= 5 && refused >= 2,
        "{guesses} guesses, {refused} refusals"
    );
}

#[tokio::test]
async fn parallel_guesses_never_check_more_passwords_than_the_threshold() {
    let app = spawn_app_with(&[
        ("LOGIN_LOCKOUT_THRESHOLD", "10"),
        ("TRUSTED_PROXIES", "127.0.0.1"),
        ("AUTH_RATE_LIMIT_BURST", "1000"),
        ("PASSWORD_HASH_CONCURRENCY", "2"),
        ("PASSWORD_HASH_QUEUE", "64"),
        ("PASSWORD_HASH_WAIT_MS", "30000"),
    ])
    .await;
    app.customer("ada@example.com").await;
    let guesses = (0..40).map(|_| login_from(&app, ATTACKER, "ada@example.com", "wrong-password"));
    let statuses: Vec<StatusCode> = futures::future::join_all(guesses)
        .await
        .iter()
        .map(Response::status)
        .collect();
    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(checked + refused, 40, "{statuses:?}");
    assert!(
        checked <= 10,
        "{checked} passwords checked for a threshold of 10"
    );
}

#[tokio::test]
async fn a_success_forgets_its_networks_failures() {
    let app = spawn_app_with(LOCK_AFTER_3).await;
    app.customer("ada@example.com").await;
    fail_times(&app, OWNER, "ada@example.com", 2).await;
    let ok = login_from(&app, OWNER, "ada@example.com", PASSWORD).await;
    assert_eq!(ok.status(), StatusCode::OK);
    fail_times(&app, OWNER, "ada@example.com", 2).await;
    assert_eq!(
        login_from(&app, OWNER, "ada@example.com", PASSWORD)
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
    fail_times(&app, ATTACKER, "ada@example.com", 2).await;
    fail_times(&other, ATTACKER, "ada@example.com", 1).await;
    assert_eq!(
        login_from(&app, ATTACKER, "ada@example.com", PASSWORD)
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
        login_from(&app, ATTACKER, "ada@example.com", PASSWORD)
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
        ("LOGIN_LOCKOUT_THRESHOLD", "100"),
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
