use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Session, TestApp, assert_error, json_ok, spawn_app};

async fn post_with_key(
    app: &TestApp,
    session: &Session,
    key: &str,
    body: &Value,
) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/orders"))
        .bearer_auth(&session.token)
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn setup() -> (TestApp, Session, Value) {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let ada = app.customer("ada@example.com").await;
    let p = app.product(&admin, "P-1", "2.50").await["id"]
        .as_i64()
        .unwrap();
    let body = json!({"customer_id": ada.customer_id.unwrap(), "items": [{"product_id": p, "quantity": 2}], "notes": "n"});
    (app, ada, body)
}

#[tokio::test]
async fn the_same_key_and_body_replays_the_stored_response() {
    let (app, ada, body) = setup().await;
    let first = post_with_key(&app, &ada, "key-1", &body).await;
    assert!(first.headers().get("idempotent-replayed").is_none());
    let location = first.headers()["location"].clone();
    let first = json_ok(first, StatusCode::CREATED).await;

    // Same JSON with its keys in another order and other whitespace: still the same request.
    let reordered: Value = serde_json::from_str(&format!(
        r#"{{ "notes": "n", "items": [{{"quantity": 2, "product_id": {}}}], "customer_id": {} }}"#,
        body["items"][0]["product_id"], body["customer_id"]
    ))
    .unwrap();
    let replay = post_with_key(&app, &ada, "key-1", &reordered).await;
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_eq!(replay.headers()["location"], location);
    let replay = json_ok(replay, StatusCode::CREATED).await;
    assert_eq!(replay, first);
    assert_eq!(app.count("SELECT count(*) FROM orders").await, 1);
}

#[tokio::test]
async fn the_same_key_with_another_body_is_a_422() {
    let (app, ada, body) = setup().await;
    json_ok(
        post_with_key(&app, &ada, "key-1", &body).await,
        StatusCode::CREATED,
    )
    .await;
    let mut other = body.clone();
    other["items"][0]["quantity"] = json!(3);
    let error = assert_error(
        post_with_key(&app, &ada, "key-1", &other).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_error",
    )
    .await;
    assert_eq!(error["errors"][0]["field"], "Idempotency-Key");
    assert_eq!(app.count("SELECT count(*) FROM orders").await, 1);
}

#[tokio::test]
async fn malformed_keys_are_a_400() {
    let (app, ada, body) = setup().await;
    let too_long = "k".repeat(256);
    for key in ["", "has space", too_long.as_str()] {
        assert_error(
            post_with_key(&app, &ada, key, &body).await,
            StatusCode::BAD_REQUEST,
            "bad_request",
        )
        .await;
    }
    assert_eq!(app.count("SELECT count(*) FROM orders").await, 0);
}

#[tokio::test]
async fn keys_are_scoped_per_user() {
    let (app, ada, body) = setup().await;
    let admin = app.admin().await;
    let a = json_ok(
        post_with_key(&app, &ada, "shared-key", &body).await,
        StatusCode::CREATED,
    )
    .await;
    let b = json_ok(
        post_with_key(&app, &admin, "shared-key", &body).await,
        StatusCode::CREATED,
    )
    .await;
    assert_ne!(a["id"], b["id"]);
    assert_eq!(app.count("SELECT count(*) FROM orders").await, 2);
}

#[tokio::test]
async fn a_key_still_in_flight_is_a_409() {
    let (app, ada, body) = setup().await;
    // Hold the key's in-flight lock from another session, as a first request would.
    let mut holder = app.db.begin().await.unwrap();
    let locked: bool = sqlx::query_scalar(
        "SELECT pg_try_advisory_xact_lock(hashtextextended($1 || ':' || $2, 0))",
    )
    .bind(ada.user_id.to_string())
    .bind("busy-key")
    .fetch_one(&mut *holder)
    .await
    .unwrap();
    assert!(locked);
    assert_error(
        post_with_key(&app, &ada, "busy-key", &body).await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    holder.rollback().await.unwrap();
    json_ok(
        post_with_key(&app, &ada, "busy-key", &body).await,
        StatusCode::CREATED,
    )
    .await;
}

#[tokio::test]
async fn twenty_five_concurrent_requests_with_one_key_make_exactly_one_order() {
    let (app, ada, body) = setup().await;
    let responses = join_all((0..25).map(|_| post_with_key(&app, &ada, "race", &body))).await;
    let mut created_ids = Vec::new();
    let mut conflicts = 0;
    for response in responses {
        match response.status() {
            StatusCode::CREATED => {
                created_ids.push(json_ok(response, StatusCode::CREATED).await["id"].clone())
            }
            StatusCode::CONFLICT => {
                assert_error(response, StatusCode::CONFLICT, "conflict").await;
                conflicts += 1;
            }
            other => panic!("unexpected {other}: {}", response.text().await.unwrap()),
        }
    }
    assert!(!created_ids.is_empty());
    assert!(
        created_ids.iter().all(|id| *id == created_ids[0]),
        "{created_ids:?}"
    );
    assert_eq!(created_ids.len() + conflicts, 25);
    assert_eq!(app.count("SELECT count(*) FROM orders").await, 1);
    assert_eq!(app.count("SELECT count(*) FROM idempotency_keys").await, 1);
}
