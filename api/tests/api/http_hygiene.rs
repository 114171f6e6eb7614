//! Security headers on every kind of response, and CORS for allowed and refused origins.

use reqwest::{Method, Response, StatusCode};

use crate::helpers::{spawn_app, spawn_app_with};

fn header<'a>(response: &'a Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).map(|v| v.to_str().unwrap())
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let cases = [
        ("/health", None, "default-src 'none'", false),
        ("/api/v1/orders", None, "default-src 'none'", true),
        (
            "/api/v1/orders",
            Some(&admin.token),
            "default-src 'none'",
            true,
        ),
        ("/api/v1/no-such-route", None, "default-src 'none'", true),
        ("/openapi.json", None, "default-src 'none'", false),
        ("/docs/", None, "script-src 'self'", false),
        ("/redoc", None, "script-src 'self'", false),
    ];
    for (path, token, csp, no_store) in cases {
        let mut request = app.client.get(app.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        assert_ne!(
            response.status(),
            StatusCode::INTERNAL_SERVER_ERROR,
            "{path}"
        );
        assert_eq!(
            header(&response, "x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
        assert_eq!(
            header(&response, "referrer-policy"),
            Some("no-referrer"),
            "{path}"
        );
        assert_eq!(header(&response, "x-frame-options"), Some("DENY"), "{path}");
        let policy = header(&response, "content-security-policy").unwrap_or_default();
        assert!(policy.starts_with("default-src 'none'"), "{path}: {policy}");
        assert!(policy.contains(csp), "{path}: {policy}");
        assert!(
            policy.contains("frame-ancestors 'none'"),
            "{path}: {policy}"
        );
        assert_eq!(
            header(&response, "cache-control") == Some("no-store"),
            no_store,
            "{path}: {:?}",
            header(&response, "cache-control")
        );
    }
    // Token responses are never stored.
    let login = app
        .login(crate::helpers::ADMIN_EMAIL, crate::helpers::ADMIN_PASSWORD)
        .await;
    assert_eq!(login.status(), StatusCode::OK);
    assert_eq!(header(&login, "cache-control"), Some("no-store"));
}

async fn preflight(app: &crate::helpers::TestApp, origin: &str) -> Response {
    app.client
        .request(Method::OPTIONS, app.url("/api/v1/orders"))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type, idempotency-key",
        )
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn cors_answers_allowed_origins_only() {
    let app = spawn_app_with(&[("CORS_ORIGINS", "https://shop.example.com")]).await;
    let admin = app.admin().await;

    let allowed = preflight(&app, "https://shop.example.com").await;
    assert!(allowed.status().is_success(), "{}", allowed.status());
    assert_eq!(
        header(&allowed, "access-control-allow-origin"),
        Some("https://shop.example.com")
    );
    let methods = header(&allowed, "access-control-allow-methods").unwrap_or_default();
    assert!(methods.contains("POST"), "{methods}");
    let headers = header(&allowed, "access-control-allow-headers")
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(headers.contains("idempotency-key"), "{headers}");
    assert!(headers.contains("traceparent"), "{headers}");

    for origin in [
        "https://evil.example.com",
        "http://shop.example.com",
        "null",
    ] {
        let refused = preflight(&app, origin).await;
        assert_eq!(
            header(&refused, "access-control-allow-origin"),
            None,
            "{origin}"
        );
    }

    let get = |origin: &'static str| {
        app.client
            .get(app.url("/api/v1/orders"))
            .bearer_auth(&admin.token)
            .header("origin", origin)
            .send()
    };
    let ok = get("https://shop.example.com").await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(
        header(&ok, "access-control-allow-origin"),
        Some("https://shop.example.com")
    );
    let exposed = header(&ok, "access-control-expose-headers")
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(exposed.contains("ratelimit-remaining"), "{exposed}");
    let other = get("https://evil.example.com").await.unwrap();
    assert_eq!(header(&other, "access-control-allow-origin"), None);
}
