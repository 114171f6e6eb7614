//! Request quotas: 429 with `Retry-After` and `RateLimit-*` fields, per user whatever the IP,
//! one quota across instances, a local fallback while Redis is down, and the client's address
//! taken from `X-Forwarded-For` only when a trusted proxy sent it.

use reqwest::{Response, StatusCode};
use serde_json::json;

use crate::helpers::{TestApp, assert_error, spawn_app_with};

fn header(response: &Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
}

fn number(response: &Response, name: &str) -> u64 {
    header(response, name)
        .unwrap_or_else(|| panic!("{name} missing"))
        .parse()
        .unwrap()
}

/// A write that the quota counts but that changes nothing: an invalid customer (422).
async fn write(app: &TestApp, token: &str, forwarded_for: Option<&str>) -> Response {
    let mut request = app
        .client
        .post(app.url("/api/v1/customers"))
        .bearer_auth(token)
        .json(&json!({"name": "", "email": "not-an-email"}));
    if let Some(ip) = forwarded_for {
        request = request.header("x-forwarded-for", ip);
    }
    request.send().await.unwrap()
}

async fn login_from(app: &TestApp, ip: &str) -> Response {
    app.client
        .post(app.url("/api/v1/auth/login"))
        .header("x-forwarded-for", ip)
        .form(&[
            ("username", "nobody@example.com"),
            ("password", "wrong-password"),
        ])
        .send()
        .await
        .unwrap()
}

const THREE_WRITES_A_MINUTE: &[(&str, &str)] = &[
    ("USER_WRITE_RATE_LIMIT_BURST", "3"),
    ("USER_WRITE_RATE_LIMIT_REPLENISH_MS", "20000"),
];

#[tokio::test]
async fn writes_past_the_users_quota_get_429_with_the_ratelimit_fields() {
    let app = spawn_app_with(THREE_WRITES_A_MINUTE).await;
    let admin = app.admin().await;
    for remaining in [2, 1, 0] {
        let response = write(&app, &admin.token, None).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(number(&response, "ratelimit-limit"), 3);
        assert_eq!(number(&response, "ratelimit-remaining"), remaining);
        assert!(number(&response, "ratelimit-reset") <= 60);
        assert_eq!(header(&response, "ratelimit-policy").unwrap(), "3;w=60");
    }
    let refused = write(&app, &admin.token, None).await;
    let retry_after = number(&refused, "retry-after");
    assert!((1..=20).contains(&retry_after), "{retry_after}");
    assert_eq!(number(&refused, "ratelimit-remaining"), 0);
    assert_eq!(number(&refused, "ratelimit-limit"), 3);
    assert_error(refused, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;

    // Reads have their own, looser quota: still served.
    let read = app.get("/api/v1/customers", &admin.token).await;
    assert_eq!(read.status(), StatusCode::OK);
    assert_eq!(number(&read, "ratelimit-limit"), 10000);
}

#[tokio::test]
async fn a_users_quota_follows_the_user_not_the_address() {
    let mut settings = THREE_WRITES_A_MINUTE.to_vec();
    settings.push(("TRUSTED_PROXIES", "127.0.0.1"));
    let app = spawn_app_with(&settings).await;
    let admin = app.admin().await;
    let ada = app.customer("ada@example.com").await;
    // Three writes from three addresses use up the user's quota …
    for ip in ["198.51.100.1", "198.51.100.2", "198.51.100.3"] {
        assert_eq!(
            write(&app, &admin.token, Some(ip)).await.status(),
            StatusCode::UNPROCESSABLE_ENTITY
        );
    }
    // … so a fourth address does not help,
    assert_eq!(
        write(&app, &admin.token, Some("198.51.100.4"))
            .await
            .status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // while another user behind the same address keeps its own quota.
    assert_eq!(
        write(&app, &ada.token, Some("198.51.100.1")).await.status(),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn two_instances_draw_from_one_quota() {
    let a = spawn_app_with(THREE_WRITES_A_MINUTE).await;
    let b = a.second_instance().await;
    let admin = a.admin().await;
    let statuses = [
        write(&a, &admin.token, None).await.status(),
        write(&b, &admin.token, None).await.status(),
        write(&a, &admin.token, None).await.status(),
        write(&b, &admin.token, None).await.status(),
        write(&a, &admin.token, None).await.status(),
    ];
    assert_eq!(
        statuses,
        [
            StatusCode::UNPROCESSABLE_ENTITY,
            StatusCode::UNPROCESSABLE_ENTITY,
            StatusCode::UNPROCESSABLE_ENTITY,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::TOO_MANY_REQUESTS,
        ]
    );
}

#[tokio::test]
async fn with_redis_down_each_instance_limits_alone_and_never_fails() {
    // Nothing listens on this port: every Redis call fails at once.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("redis://{}", closed.local_addr().unwrap());
    drop(closed);
    let app = spawn_app_with(&[
        ("REDIS_URL", &url),
        ("AUTH_RATE_LIMIT_BURST", "3"),
        ("AUTH_RATE_LIMIT_REPLENISH_MS", "20000"),
    ])
    .await;
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let response = app.login("nobody@example.com", "wrong-password").await;
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(number(&response, "retry-after") >= 1);
            assert_eq!(number(&response, "ratelimit-limit"), 3);
        }
        statuses.push(response.status());
    }
    assert_eq!(
        statuses,
        [
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::TOO_MANY_REQUESTS,
        ]
    );
}

#[tokio::test]
async fn forwarded_for_from_an_untrusted_peer_is_ignored() {
    let app = spawn_app_with(&[
        ("AUTH_RATE_LIMIT_BURST", "2"),
        ("AUTH_RATE_LIMIT_REPLENISH_MS", "20000"),
    ])
    .await;
    let statuses: Vec<StatusCode> = [
        login_from(&app, "203.0.113.1").await.status(),
        login_from(&app, "203.0.113.2").await.status(),
        login_from(&app, "203.0.113.3").await.status(),
    ]
    .to_vec();
    assert_eq!(
        statuses,
        [
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::TOO_MANY_REQUESTS
        ],
        "a client choosing its own address would have escaped the limit"
    );
}

#[tokio::test]
async fn forwarded_for_from_a_trusted_proxy_names_the_client() {
    let app = spawn_app_with(&[
        ("AUTH_RATE_LIMIT_BURST", "2"),
        ("AUTH_RATE_LIMIT_REPLENISH_MS", "20000"),
        ("TRUSTED_PROXIES", "127.0.0.0/8"),
    ])
    .await;
    // Different clients behind the proxy have their own quotas …
    for ip in ["203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.4"] {
        assert_eq!(
            login_from(&app, ip).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    // … one client's is used up after two, and a hop it forged on the left changes nothing.
    assert_eq!(
        login_from(&app, "203.0.113.1").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login_from(&app, "10.9.9.9, 203.0.113.1").await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn leases_never_admit_more_than_the_shared_quota() {
    // A busy user's instances lease up to 10 reads at a time from a quota of 200.
    let a = spawn_app_with(&[
        ("USER_READ_RATE_LIMIT_BURST", "200"),
        ("USER_READ_RATE_LIMIT_REPLENISH_MS", "600000"),
    ])
    .await;
    let b = a.second_instance().await;
    let admin = a.admin().await;
    let mut allowed = 0;
    for n in 0..260 {
        let app = if n % 2 == 0 { &a } else { &b };
        let response = app.get("/api/v1/products", &admin.token).await;
        match response.status() {
            StatusCode::OK => allowed += 1,
            StatusCode::TOO_MANY_REQUESTS => {}
            other => panic!("unexpected {other}"),
        }
    }
    // Never more than the quota; fewer only by leased reads that lapsed unused (≤ 10 each).
    assert!((180..=200).contains(&allowed), "{allowed} of 200 admitted");
}
