//! Account emails end to end (API, outbox, worker, SMTP): the verification email and what an
//! unverified address does not get, password reset, the unlock link. Every token comes from
//! the email the SMTP server received, as a person would copy it from the link.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

use crate::helpers::{PASSWORD, Stack};

const WAIT: Duration = Duration::from_secs(20);

async fn stack(extra: &[(&str, &str)]) -> Stack {
    let mut vars = vec![
        ("EMAIL_VERIFICATION_REQUIRED", "true"),
        ("APP_PUBLIC_URL", "https://shop.example.test"),
    ];
    vars.extend_from_slice(extra);
    let mut stack = Stack::start(&vars).await;
    stack.spawn_worker().await;
    stack
}

/// The token of the `n`-th email (0-based, in arrival order) to `to` whose subject has
/// `subject`, from its link `…/{path}?token=…`.
async fn token_from_email(stack: &Stack, to: &str, subject: &str, path: &str) -> String {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let found = stack
            .smtp
            .messages()
            .into_iter()
            .find(|m| m.to.iter().any(|t| t.contains(to)) && m.subject().contains(subject));
        if let Some(message) = found {
            let text = message.text();
            let prefix = format!("https://shop.example.test{path}?token=");
            let start = text.find(&prefix).expect("the link") + prefix.len();
            let token: String = text[start..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .collect();
            assert_eq!(token.len(), 43, "{text}");
            // The same link in the HTML part.
            assert!(message.html().contains(&format!("{prefix}{token}")));
            return token;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {subject:?} email to {to}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn post(stack: &Stack, path: &str, body: Value) -> (StatusCode, Value) {
    let r = stack
        .client
        .post(stack.url(path))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn emails_to(stack: &Stack, to: &str) -> Vec<String> {
    stack
        .smtp
        .messages()
        .iter()
        .filter(|m| m.to.iter().any(|t| t.contains(to)))
        .map(|m| m.subject())
        .collect()
}

#[tokio::test]
async fn an_unverified_address_gets_the_verification_email_and_nothing_else_until_verified() {
    let stack = stack(&[]).await;
    let admin = stack.admin().await;
    let p = stack.product(&admin, "P-1", "Lamp", "20.00").await;
    let (token, customer) = stack.customer("ada@example.com", "Ada").await;
    let verify = token_from_email(
        &stack,
        "ada@example.com",
        "Confirm your email",
        "/verify-email",
    )
    .await;
    // Orders can be placed before verifying; their emails are not sent.
    let before = stack.order(&token, customer, &[(p, 1)]).await["id"]
        .as_i64()
        .unwrap();
    stack
        .wait_scalar(
            "SELECT count(*) FROM outbox WHERE kind = 'send_order_confirmation' AND outcome = 'skipped'",
            1,
            WAIT,
        )
        .await;
    assert_eq!(
        emails_to(&stack, "ada@example.com"),
        ["Confirm your email address"]
    );
    let (_, me) = stack
        .call(Method::GET, "/api/v1/auth/me", &token, None)
        .await;
    assert_eq!(me["email_verified"], false);

    // A wrong or made-up token: one 4xx; the right one: verified, once.
    for bad in ["made-up", &format!("{verify}x")] {
        let (status, body) = post(&stack, "/api/v1/auth/verify-email", json!({"token": bad})).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("bad_request"))
        );
    }
    let (status, _) = post(
        &stack,
        "/api/v1/auth/verify-email",
        json!({"token": verify}),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = post(
        &stack,
        "/api/v1/auth/verify-email",
        json!({"token": verify}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a used token");
    let (_, me) = stack
        .call(Method::GET, "/api/v1/auth/me", &token, None)
        .await;
    assert_eq!(me["email_verified"], true);

    let after = stack.order(&token, customer, &[(p, 1)]).await["id"]
        .as_i64()
        .unwrap();
    let messages = stack.smtp.wait_for(2, WAIT).await;
    let orders: Vec<String> = messages
        .iter()
        .filter_map(|m| {
            m.parsed()
                .header_raw("X-OrderFlow-Order-Id")
                .map(|v| v.trim().to_string())
        })
        .collect();
    assert_eq!(
        orders,
        [after.to_string()],
        "the order placed before verifying stays unmailed ({before})"
    );
    // Verified: a resend sends nothing.
    let (status, _) = stack
        .call(
            Method::POST,
            "/api/v1/auth/resend-verification",
            &token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn verification_tokens_expire_and_resends_are_limited() {
    let stack = stack(&[
        ("VERIFY_EMAIL_TTL_SECONDS", "1"),
        ("ACCOUNT_EMAILS_PER_HOUR", "2"),
    ])
    .await;
    let (token, _) = stack.customer("ada@example.com", "Ada").await;
    let first = token_from_email(
        &stack,
        "ada@example.com",
        "Confirm your email",
        "/verify-email",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (status, _) = post(&stack, "/api/v1/auth/verify-email", json!({"token": first})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "an expired token");
    let resend = || {
        stack.call(
            Method::POST,
            "/api/v1/auth/resend-verification",
            &token,
            None,
        )
    };
    assert_eq!(resend().await.0, StatusCode::ACCEPTED);
    assert_eq!(resend().await.0, StatusCode::ACCEPTED);
    let (status, body) = resend().await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("rate_limited"))
    );
    stack.smtp.wait_for(3, WAIT).await;
    assert_eq!(emails_to(&stack, "ada@example.com").len(), 3);
}

#[tokio::test]
async fn a_password_reset_answers_alike_for_anyone_and_ends_every_session() {
    let stack = stack(&[("EMAIL_VERIFICATION_REQUIRED", "false")]).await;
    let (token, _) = stack.customer("ada@example.com", "Ada").await;
    let refresh = {
        let r = stack
            .client
            .post(stack.url("/api/v1/auth/login"))
            .form(&[("username", "ada@example.com"), ("password", PASSWORD)])
            .send()
            .await
            .unwrap();
        r.json::<Value>().await.unwrap()["refresh_token"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let known = post(
        &stack,
        "/api/v1/auth/forgot-password",
        json!({"email": "ada@example.com"}),
    )
    .await;
    let unknown = post(
        &stack,
        "/api/v1/auth/forgot-password",
        json!({"email": "nobody@example.com"}),
    )
    .await;
    assert_eq!(known.0, StatusCode::ACCEPTED);
    assert_eq!(
        known, unknown,
        "the same answer whether or not the account exists"
    );
    let reset = token_from_email(
        &stack,
        "ada@example.com",
        "Reset your password",
        "/reset-password",
    )
    .await;
    stack
        .wait_scalar(
            "SELECT count(*) FROM outbox WHERE kind = 'send_account_email' AND outcome = 'skipped'",
            1,
            WAIT,
        )
        .await;
    assert!(emails_to(&stack, "nobody@example.com").is_empty());

    // The policy first, then the token: once.
    let (status, _) = post(
        &stack,
        "/api/v1/auth/reset-password",
        json!({"token": reset, "password": "short"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = post(
        &stack,
        "/api/v1/auth/reset-password",
        json!({"token": reset, "password": "a-brand-new-password"}),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = post(
        &stack,
        "/api/v1/auth/reset-password",
        json!({"token": reset, "password": "another-new-password"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Every session ended: the access token, the refresh token; the old password is gone.
    assert_eq!(
        stack
            .call(Method::GET, "/api/v1/auth/me", &token, None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    let (status, _) = post(
        &stack,
        "/api/v1/auth/refresh",
        json!({"refresh_token": refresh}),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    stack.login("ada@example.com", "a-brand-new-password").await;
}

#[tokio::test]
async fn an_account_under_attack_mails_its_owner_a_link_that_lifts_every_lock() {
    let stack = stack(&[
        ("EMAIL_VERIFICATION_REQUIRED", "false"),
        ("LOGIN_LOCKOUT_THRESHOLD", "2"),
        ("LOGIN_SLOWDOWN_THRESHOLD", "4"),
        ("LOGIN_SLOWDOWN_MS", "10"),
        ("TRUSTED_PROXIES", "127.0.0.1"),
    ])
    .await;
    stack.customer("ada@example.com", "Ada").await;
    let login_from = |network: &'static str, password: &'static str| {
        stack
            .client
            .post(stack.url("/api/v1/auth/login"))
            .header("x-forwarded-for", network)
            .form(&[("username", "ada@example.com"), ("password", password)])
            .send()
    };
    // Two networks, two failures each: both locked, and the account starts slowing down.
    for network in ["203.0.113.1", "203.0.113.2"] {
        for _ in 0..2 {
            assert_eq!(
                login_from(network, "wrong-password")
                    .await
                    .unwrap()
                    .status(),
                StatusCode::UNAUTHORIZED
            );
        }
        assert_eq!(
            login_from(network, PASSWORD).await.unwrap().status(),
            StatusCode::TOO_MANY_REQUESTS
        );
    }
    let unlock = token_from_email(
        &stack,
        "ada@example.com",
        "Sign-in attempts",
        "/unlock-account",
    )
    .await;
    let (status, _) = post(&stack, "/api/v1/auth/unlock", json!({"token": unlock})).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for network in ["203.0.113.1", "203.0.113.2"] {
        assert_eq!(
            login_from(network, PASSWORD).await.unwrap().status(),
            StatusCode::OK
        );
    }
    let (status, _) = post(&stack, "/api/v1/auth/unlock", json!({"token": unlock})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "single use");
}
