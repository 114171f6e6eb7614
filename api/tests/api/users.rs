use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{ADMIN_EMAIL, assert_error, json_ok, spawn_app};

#[tokio::test]
async fn admins_list_users_and_change_roles() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let ada = app.customer("ada@example.com").await;

    let page = json_ok(
        app.get("/api/v1/users?role=admin", &admin.token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (page["total"].as_i64(), page["items"][0]["email"].as_str()),
        (Some(1), Some(ADMIN_EMAIL))
    );
    assert!(page["items"][0].get("password_hash").is_none());

    let path = format!("/api/v1/users/{}", ada.user_id);
    let staff = json_ok(
        app.patch(&path, &admin.token, &json!({"role": "staff"}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (staff["role"].as_str(), staff["customer_id"].as_i64()),
        (Some("staff"), None)
    );
    // Her old token now carries a stale role; the database decides.
    json_ok(
        app.get("/api/v1/customers", &ada.token).await,
        StatusCode::OK,
    )
    .await;

    assert_error(
        app.patch(&path, &admin.token, &json!({"role": "root"}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_error",
    )
    .await;
    assert_error(
        app.get("/api/v1/users/424242", &admin.token).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn promoting_a_staff_member_to_customer_links_a_customer_record() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let staff = app.staff("sam@example.com").await;
    let path = format!("/api/v1/users/{}", staff.user_id);
    let user = json_ok(
        app.patch(&path, &admin.token, &json!({"role": "customer"}))
            .await,
        StatusCode::OK,
    )
    .await;
    let customer_id = user["customer_id"].as_i64().expect("customer linked");
    let customer = json_ok(
        app.get(&format!("/api/v1/customers/{customer_id}"), &admin.token)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(customer["email"], "sam@example.com");
}

#[tokio::test]
async fn the_last_active_admin_cannot_be_demoted_or_deactivated() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let path = format!("/api/v1/users/{}", admin.user_id);
    for body in [json!({"role": "staff"}), json!({"is_active": false})] {
        assert_error(
            app.patch(&path, &admin.token, &body).await,
            StatusCode::CONFLICT,
            "conflict",
        )
        .await;
    }
    let role: String = sqlx::query_scalar("SELECT role FROM users WHERE id = $1")
        .bind(admin.user_id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(role, "admin");
}

#[tokio::test]
async fn two_admins_demoting_each_other_at_once_leave_one_admin() {
    let app = spawn_app().await;
    let first = app.admin().await;
    let second_user = app.staff("second@example.com").await;
    json_ok(
        app.patch(
            &format!("/api/v1/users/{}", second_user.user_id),
            &first.token,
            &json!({"role": "admin"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let second = app
        .session("second@example.com", crate::helpers::PASSWORD)
        .await;
    for _ in 0..10 {
        let (demote_second, deactivate_first) = (
            format!("/api/v1/users/{}", second.user_id),
            format!("/api/v1/users/{}", first.user_id),
        );
        let (to_staff, inactive) = (json!({"role": "staff"}), json!({"is_active": false}));
        let (a, b) = tokio::join!(
            app.patch(&demote_second, &first.token, &to_staff),
            app.patch(&deactivate_first, &second.token, &inactive),
        );
        let statuses = [a.status(), b.status()];
        let admins: i64 =
            sqlx::query_scalar("SELECT count(*) FROM users WHERE role = 'admin' AND is_active")
                .fetch_one(&app.db)
                .await
                .unwrap();
        assert_eq!(admins, 1, "both demotions went through: {statuses:?}");
        // One wins; the other is refused: 409 when both were authorised as admins (the last
        // admin rule), 403 when the winner's change was seen first (no longer an admin), 401
        // when its session had ended (deactivated).
        let refused = [
            StatusCode::CONFLICT,
            StatusCode::FORBIDDEN,
            StatusCode::UNAUTHORIZED,
        ];
        assert!(
            statuses.contains(&StatusCode::OK) && statuses.iter().any(|s| refused.contains(s))
                || statuses.contains(&StatusCode::UNAUTHORIZED),
            "{statuses:?}"
        );
        // Back to two admins for the next round (whoever is left promotes the other).
        sqlx::query("UPDATE users SET role = 'admin', is_active = TRUE WHERE id = ANY($1)")
            .bind(vec![first.user_id, second.user_id])
            .execute(&app.db)
            .await
            .unwrap();
        sqlx::query("UPDATE sessions SET revoked_at = NULL")
            .execute(&app.db)
            .await
            .unwrap();
    }
}
