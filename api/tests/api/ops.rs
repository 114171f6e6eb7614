//! Health, readiness, docs, metrics, migrations and start-up checks.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{
    assert_error, create_database, json_ok, spawn_app, spawn_app_with, start, test_settings,
};

#[tokio::test]
async fn health_and_ready_answer_when_everything_is_up() {
    let app = spawn_app().await;
    let health = json_ok(
        app.client.get(app.url("/health")).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(health["status"], "ok");
    let ready = json_ok(
        app.client.get(app.url("/ready")).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(ready["checks"]["postgres"], "ok");
    assert_eq!(ready["checks"]["redis"], "ok");
}

/// Without Redis the API still takes orders (the outbox holds their jobs; limits and cache
/// fall back): it stays ready, so a load balancer keeps sending it traffic, and says what is
/// degraded.
#[tokio::test]
async fn ready_stays_200_and_says_degraded_when_redis_is_unreachable() {
    let app = spawn_app_with(&[("REDIS_URL", "redis://127.0.0.1:1")]).await;
    let ready = json_ok(
        app.client.get(app.url("/ready")).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(ready["status"], "degraded");
    assert_eq!(ready["checks"]["postgres"], "ok");
    assert_eq!(ready["checks"]["redis"], "unreachable");
}

#[tokio::test]
async fn ready_is_503_naming_postgres_when_the_database_is_unreachable() {
    let database = create_database().await;
    let settings = test_settings(
        &database.name,
        &[
            ("DATABASE_URL", "postgres://postgres@127.0.0.1:1/nowhere"),
            ("MIGRATE_ON_START", "false"),
            ("DATABASE_ACQUIRE_TIMEOUT_SECONDS", "1"),
        ],
    );
    let app = start(settings, database).await;
    let body = assert_error(
        app.client.get(app.url("/ready")).send().await.unwrap(),
        StatusCode::SERVICE_UNAVAILABLE,
        "service_unavailable",
    )
    .await;
    assert_eq!(body["detail"], "Not ready: postgres unreachable");
}

#[tokio::test]
async fn the_openapi_document_shows_the_rate_limits_and_unavailability_of_every_api_route() {
    let app = spawn_app().await;
    let spec = openapi(&app).await;
    let mut operations = 0;
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            if !path.starts_with("/api/v1/") {
                assert!(
                    !responses.contains_key("429"),
                    "{method} {path} is not limited"
                );
                continue;
            }
            operations += 1;
            let limited = &responses["429"];
            assert_eq!(
                limited["content"]["application/json"]["schema"]["$ref"],
                "#/components/schemas/ErrorBody",
                "{method} {path}"
            );
            assert!(
                limited["headers"]["Retry-After"].is_object(),
                "{method} {path}"
            );
            assert!(responses.contains_key("503"), "{method} {path}");
            for (status, response) in responses {
                for name in ["RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"] {
                    assert_eq!(
                        response["headers"][name]["schema"]["type"], "integer",
                        "{method} {path} {status} {name}"
                    );
                }
            }
        }
    }
    assert!(operations >= 25, "{operations}");
}

#[tokio::test]
async fn the_openapi_document_lists_every_route_with_error_responses() {
    let app = spawn_app().await;
    let spec = openapi(&app).await;
    assert!(spec["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = spec["paths"].as_object().unwrap();
    for (path, methods) in [
        ("/api/v1/auth/register", &["post"][..]),
        ("/api/v1/auth/login", &["post"]),
        ("/api/v1/auth/refresh", &["post"]),
        ("/api/v1/auth/logout", &["post"]),
        ("/api/v1/auth/me", &["get"]),
        ("/api/v1/users", &["get"]),
        ("/api/v1/users/{id}", &["get", "patch"]),
        ("/api/v1/customers", &["get", "post"]),
        ("/api/v1/customers/{id}", &["get", "patch", "delete"]),
        ("/api/v1/products", &["get", "post"]),
        ("/api/v1/products/{id}", &["get", "patch", "delete"]),
        ("/api/v1/orders", &["get", "post"]),
        ("/api/v1/orders/summary", &["get"]),
        ("/api/v1/orders/{id}", &["get", "patch", "delete"]),
        ("/api/v1/orders/{id}/status", &["patch"]),
        ("/api/v1/admin/audit-log", &["get"]),
        ("/api/v1/admin/jobs/dead", &["get"]),
        ("/api/v1/admin/jobs/dead/{id}/retry", &["post"]),
    ] {
        for method in methods {
            let op = &paths[path][method];
            assert!(op.is_object(), "{method} {path} missing");
            let codes: Vec<&String> = op["responses"].as_object().unwrap().keys().collect();
            assert!(
                codes.iter().any(|c| c.starts_with('4')),
                "{method} {path} documents no error: {codes:?}"
            );
        }
    }
    let schemes = &spec["components"]["securitySchemes"];
    assert_eq!(
        schemes["oauth2"]["flows"]["password"]["tokenUrl"],
        "/api/v1/auth/login"
    );
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert!(spec["components"]["schemas"]["ErrorBody"].is_object());
    let create = &paths["/api/v1/orders"]["post"];
    assert!(create["requestBody"]["content"]["application/json"]["schema"].is_object());
    assert!(
        spec["components"]["schemas"]["CreateOrderRequest"]["example"].is_object(),
        "orders have examples"
    );
}

#[tokio::test]
async fn swagger_ui_and_redoc_are_served_from_the_binary() {
    let app = spawn_app().await;
    let docs = app.client.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(docs.status(), StatusCode::OK);
    assert!(docs.text().await.unwrap().contains("swagger-ui"));
    let init = app
        .client
        .get(app.url("/docs/swagger-initializer.js"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(init.contains("/openapi.json"), "{init}");
    let redoc = app
        .client
        .get(app.url("/redoc"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(redoc.contains("/redoc/redoc.standalone.js") && !redoc.contains("cdn"));
    let js = app
        .client
        .get(app.url("/redoc/redoc.standalone.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(js.status(), StatusCode::OK);
    assert!(js.text().await.unwrap().len() > 500_000);
}

#[tokio::test]
async fn metrics_count_requests_by_route_template() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    app.get("/api/v1/customers/123456", &admin.token).await;
    // Not on the public port: only on the metrics listener.
    let public = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(public.status(), StatusCode::NOT_FOUND);
    let text = app
        .client
        .get(format!("{}/metrics", app.metrics_address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.lines()
            .any(|l| l.starts_with("orderflow_http_requests_total{")
                && l.contains("route=\"/api/v1/customers/{id}\"")
                && l.contains("status=\"404\"")),
        "{text}"
    );
    assert!(text.contains("orderflow_http_request_duration_seconds_bucket"));
    for name in [
        "orderflow_build_info{",
        "orderflow_http_requests_in_flight",
        "orderflow_db_pool_acquire_seconds_bucket",
        "orderflow_db_pool_max_connections",
        "process_resident_memory_bytes",
        "process_open_fds",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(name)),
            "{name} missing:\n{text}"
        );
    }
}

#[tokio::test]
async fn migrations_go_down_and_up_again() {
    let app = spawn_app().await;
    orderflow_shared::db::undo_migrations(&app.settings.core)
        .await
        .unwrap();
    let tables: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public' AND table_name <> '_sqlx_migrations'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(tables, 0);
    orderflow_shared::db::migrate(&app.settings.core)
        .await
        .unwrap();
    let tables: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert!(tables >= 5);
}

#[test]
fn production_refuses_to_start_with_a_weak_jwt_secret() {
    for secret in [
        None,
        Some("short"),
        Some(orderflow_shared::settings::DEV_JWT_SECRET),
    ] {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_orderflow-api"));
        command
            .arg("serve")
            .env("APP_ENV", "production")
            .env_remove("JWT_SECRET");
        if let Some(secret) = secret {
            command.env("JWT_SECRET", secret);
        }
        let output = command.output().unwrap();
        assert!(!output.status.success(), "{secret:?} accepted");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("JWT_SECRET"), "{stderr}");
    }
}

#[test]
fn with_nothing_but_a_database_url_the_binary_refuses_to_serve() {
    // A directory without a `.env` (the binary would load one from its working directory).
    let empty = std::env::temp_dir().join(format!("orderflow-bare-{}", std::process::id()));
    std::fs::create_dir_all(&empty).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_orderflow-api"))
        .arg("serve")
        .env_clear()
        .env(
            "DATABASE_URL",
            "postgres://postgres@127.0.0.1:5432/never-reached",
        )
        .current_dir(&empty)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir(&empty);
    assert!(!output.status.success(), "started without a secret");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("JWT_SECRET is not set"), "{stderr}");
}

/// The served OpenAPI document.
async fn openapi(app: &crate::helpers::TestApp) -> Value {
    json_ok(
        app.client
            .get(app.url("/openapi.json"))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await
}

#[tokio::test]
async fn ready_reuses_the_instances_redis_connection() {
    // A Redis of its own, to count the connections it receives.
    let redis = orderflow_testkit::redis_server::OwnRedis::start().await;
    let app = crate::helpers::spawn_app_with(&[("REDIS_URL", &redis.url())]).await;
    let client = redis::Client::open(redis.url()).unwrap();
    let mut probe = client.get_multiplexed_async_connection().await.unwrap();
    let received = |info: String| -> u64 {
        info.lines()
            .find_map(|l| l.strip_prefix("total_connections_received:"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let ready = || async {
        let r = app.client.get(app.url("/ready")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.json::<Value>().await.unwrap()["status"], "ready");
    };
    ready().await;
    let info: String = redis::cmd("INFO")
        .arg("stats")
        .query_async(&mut probe)
        .await
        .unwrap();
    let before = received(info);
    for _ in 0..20 {
        ready().await;
    }
    let info: String = redis::cmd("INFO")
        .arg("stats")
        .query_async(&mut probe)
        .await
        .unwrap();
    assert_eq!(
        received(info),
        before,
        "/ready opened new Redis connections"
    );
}
