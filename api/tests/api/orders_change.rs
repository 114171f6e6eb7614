use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{assert_error, error_fields, json_ok, spawn_app};

const STATUSES: [&str; 5] = ["pending", "processing", "shipped", "delivered", "cancelled"];
const ALLOWED: [(&str, &str); 5] = [
    ("pending", "processing"),
    ("pending", "cancelled"),
    ("processing", "shipped"),
    ("processing", "cancelled"),
    ("shipped", "delivered"),
];

#[tokio::test]
async fn every_transition_is_allowed_or_refused_as_specified() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let ada = app.customer("ada@example.com").await;
    let order = app.pending_order(&admin, &ada).await;
    let path = format!("/api/v1/orders/{order}/status");
    for from in STATUSES {
        for to in STATUSES {
            app.force_status(order, from).await;
            let response = app.patch(&path, &admin.token, &json!({"status": to})).await;
            if ALLOWED.contains(&(from, to)) {
                let body = json_ok(response, StatusCode::OK).await;
                assert_eq!(body["status"], to, "{from} -> {to}");
            } else {
                let body = assert_error(response, StatusCode::CONFLICT, "conflict").await;
                assert_eq!(
                    body["detail"],
                    format!("Invalid transition: {from} -> {to}")
                );
            }
        }
    }
    let audited = app
        .count("SELECT count(*) FROM audit_log WHERE action = 'order.status_changed'")
        .await;
    assert_eq!(audited, ALLOWED.len() as i64);
    let body = assert_error(
        app.patch(&path, &admin.token, &json!({"status": "lost"}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_error",
    )
    .await;
    assert_eq!(error_fields(&body), ["status"]);
}

#[tokio::test]
async fn a_customer_may_only_cancel_its_own_pending_order() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let ada = app.customer("ada@example.com").await;
    let bob = app.customer("bob@example.com").await;
    let p = app.product(&admin, "P-1", "1.00").await["id"]
        .as_i64()
        .unwrap();
    let mine = app.order(&ada, ada.customer_id.unwrap(), &[(p, 1)]).await["id"]
        .as_i64()
        .unwrap();
    let bobs = app.order(&bob, bob.customer_id.unwrap(), &[(p, 1)]).await["id"]
        .as_i64()
        .unwrap();
    let status = |id: i64| format!("/api/v1/orders/{id}/status");

    assert_error(
        app.patch(&status(mine), &ada.token, &json!({"status": "processing"}))
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_error(
        app.patch(&status(bobs), &ada.token, &json!({"status": "cancelled"}))
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    app.force_status(mine, "processing").await;
    assert_error(
        app.patch(&status(mine), &ada.token, &json!({"status": "cancelled"}))
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    app.force_status(mine, "pending").await;
    let cancelled = json_ok(
        app.patch(&status(mine), &ada.token, &json!({"status": "cancelled"}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(cancelled["status"], "cancelled");
    let bob_status: String = sqlx::query_scalar("SELECT status FROM orders WHERE id = $1")
        .bind(bobs)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(bob_status, "pending");
}

#[tokio::test]
async fn racing_transitions_from_one_state_have_exactly_one_winner() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let staff = app.staff("staff@example.com").await;
    let ada = app.customer("ada@example.com").await;
    let order = app.pending_order(&admin, &ada).await;
    let path = format!("/api/v1/orders/{order}/status");
    // All race for pending -> processing; a loser either lost the conditional update or read
    // "processing" already: both are 409s.
    let body = json!({"status": "processing"});
    let responses = join_all((0..12).map(|i| {
        let token = if i % 2 == 0 {
            &admin.token
        } else {
            &staff.token
        };
        app.patch(&path, token, &body)
    }))
    .await;
    let statuses: Vec<StatusCode> = responses.iter().map(|r| r.status()).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CONFLICT)
            .count(),
        11,
        "{statuses:?}"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM audit_log WHERE action = 'order.status_changed'")
            .await,
        1
    );
}

#[tokio::test]
async fn only_notes_can_be_patched_and_admins_delete() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let staff = app.staff("staff@example.com").await;
    let ada = app.customer("ada@example.com").await;
    let order = app.pending_order(&admin, &ada).await;
    let path = format!("/api/v1/orders/{order}");

    let updated = json_ok(
        app.patch(&path, &ada.token, &json!({"notes": "ring twice"}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(updated["notes"], "ring twice");
    for field in [
        "id",
        "customer_id",
        "status",
        "total",
        "items",
        "created_at",
    ] {
        let body = assert_error(
            app.patch(&path, &staff.token, &json!({field: 1, "notes": "x"}))
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_error",
        )
        .await;
        assert_eq!(error_fields(&body), [field]);
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .unwrap()
                .starts_with("is immutable")
        );
    }

    assert_error(
        app.delete(&path, &staff.token).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_error(
        app.delete(&path, &ada.token).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_eq!(
        app.delete(&path, &admin.token).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_error(
        app.delete(&path, &admin.token).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_error(
        app.get(&path, &admin.token).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_eq!(app.count("SELECT count(*) FROM order_items").await, 0);
}
