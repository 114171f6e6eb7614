use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{assert_error, error_fields, json_ok, spawn_app};

#[tokio::test]
async fn staff_create_list_filter_update_and_admin_deactivates_customers() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let staff = app.staff("staff@example.com").await;

    let response = app
        .post(
            "/api/v1/customers",
            &staff.token,
            &json!({"name": "Grace", "email": "Grace@Example.com", "tier": "pro"}),
        )
        .await;
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let grace = json_ok(response, StatusCode::CREATED).await;
    assert_eq!(location, format!("/api/v1/customers/{}", grace["id"]));
    assert_eq!(
        (grace["email"].as_str(), grace["tier"].as_str()),
        (Some("grace@example.com"), Some("pro"))
    );
    json_ok(
        app.post(
            "/api/v1/customers",
            &staff.token,
            &json!({"name": "Linus", "email": "linus@example.com"}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;

    let page = json_ok(
        app.get("/api/v1/customers?tier=pro", &staff.token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (page["total"].as_i64(), page["items"][0]["name"].as_str()),
        (Some(1), Some("Grace"))
    );
    let page = json_ok(
        app.get("/api/v1/customers?email=LINUS@example.com", &staff.token)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(page["items"][0]["name"], "Linus");

    let path = format!("/api/v1/customers/{}", grace["id"]);
    let updated = json_ok(
        app.patch(
            &path,
            &staff.token,
            &json!({"name": "Grace Hopper", "tier": "enterprise"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (updated["name"].as_str(), updated["tier"].as_str()),
        (Some("Grace Hopper"), Some("enterprise"))
    );

    assert_error(
        app.delete(&path, &staff.token).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_eq!(
        app.delete(&path, &admin.token).await.status(),
        StatusCode::NO_CONTENT
    );
    let gone = json_ok(app.get(&path, &staff.token).await, StatusCode::OK).await;
    assert_eq!(gone["is_active"], false);
    let page = json_ok(
        app.get("/api/v1/customers?is_active=false", &staff.token)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(page["total"], 1);
}

#[tokio::test]
async fn duplicate_and_invalid_customers_are_refused() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let body = json!({"name": "Grace", "email": "grace@example.com"});
    json_ok(
        app.post("/api/v1/customers", &admin.token, &body).await,
        StatusCode::CREATED,
    )
    .await;
    assert_error(
        app.post("/api/v1/customers", &admin.token, &body).await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    let body = assert_error(
        app.post(
            "/api/v1/customers",
            &admin.token,
            &json!({"name": "", "email": "nope"}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_error",
    )
    .await;
    assert_eq!(error_fields(&body), ["name", "email"]);
    let body = assert_error(
        app.post(
            "/api/v1/customers",
            &admin.token,
            &json!({"name": "A", "email": "a@example.com", "tier": "gold"}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_error",
    )
    .await;
    assert_eq!(error_fields(&body), ["tier"]);
}

#[tokio::test]
async fn a_customer_reads_itself_but_another_customer_is_not_found() {
    let app = spawn_app().await;
    let ada = app.customer("ada@example.com").await;
    let bob = app.customer("bob@example.com").await;
    let own = format!("/api/v1/customers/{}", ada.customer_id.unwrap());
    let other = format!("/api/v1/customers/{}", bob.customer_id.unwrap());
    json_ok(app.get(&own, &ada.token).await, StatusCode::OK).await;
    let body = assert_error(
        app.get(&other, &ada.token).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_eq!(body["detail"], "Customer not found");
    assert_error(
        app.get("/api/v1/customers/999999", &ada.token).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn customers_get_403_on_staff_routes_and_staff_on_admin_routes() {
    let app = spawn_app().await;
    let ada = app.customer("ada@example.com").await;
    let staff = app.staff("staff@example.com").await;
    let customer_id = ada.customer_id.unwrap();
    let customer_path = format!("/api/v1/customers/{customer_id}");

    let customer_forbidden = [
        app.get("/api/v1/customers", &ada.token).await,
        app.post(
            "/api/v1/customers",
            &ada.token,
            &json!({"name": "X", "email": "x@example.com"}),
        )
        .await,
        app.patch(&customer_path, &ada.token, &json!({"tier": "enterprise"}))
            .await,
        app.post(
            "/api/v1/products",
            &ada.token,
            &json!({"sku": "X", "name": "X", "price": "1.00"}),
        )
        .await,
        app.get("/api/v1/users", &ada.token).await,
    ];
    for response in customer_forbidden {
        let body = assert_error(response, StatusCode::FORBIDDEN, "forbidden").await;
        assert_eq!(body["detail"], "Insufficient permissions");
    }
    let staff_forbidden = [
        app.get("/api/v1/users", &staff.token).await,
        app.patch(
            &format!("/api/v1/users/{}", ada.user_id),
            &staff.token,
            &json!({"role": "admin"}),
        )
        .await,
        app.delete(&customer_path, &staff.token).await,
        app.post(
            "/api/v1/products",
            &staff.token,
            &json!({"sku": "X", "name": "X", "price": "1.00"}),
        )
        .await,
    ];
    for response in staff_forbidden {
        assert_error(response, StatusCode::FORBIDDEN, "forbidden").await;
    }
    let tier: String = sqlx::query_scalar("SELECT tier FROM customers WHERE id = $1")
        .bind(customer_id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(tier, "free");
}

#[tokio::test]
async fn paging_is_bounded_and_reports_totals() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    for i in 0..5 {
        let body = json!({"name": format!("C{i}"), "email": format!("c{i}@example.com")});
        json_ok(
            app.post("/api/v1/customers", &admin.token, &body).await,
            StatusCode::CREATED,
        )
        .await;
    }
    let page = json_ok(
        app.get("/api/v1/customers?page=2&page_size=2", &admin.token)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (
            page["page"].as_i64(),
            page["page_size"].as_i64(),
            page["total"].as_i64(),
            page["total_pages"].as_i64()
        ),
        (Some(2), Some(2), Some(5), Some(3))
    );
    let names: Vec<_> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["C2", "C3"]);
    let beyond = json_ok(
        app.get("/api/v1/customers?page=9", &admin.token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (
            beyond["items"].as_array().unwrap().len(),
            beyond["total"].as_i64()
        ),
        (0, Some(5))
    );

    for (query, field) in [
        ("page=0", "page"),
        ("page=-3", "page"),
        ("page_size=0", "page_size"),
        ("page_size=101", "page_size"),
        ("page=abc", "page"),
        ("page_size=1.5", "page_size"),
        ("is_active=maybe", "is_active"),
        ("colour=red", "colour"),
    ] {
        let body = assert_error(
            app.get(&format!("/api/v1/customers?{query}"), &admin.token)
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_error",
        )
        .await;
        assert_eq!(error_fields(&body), [field], "{query}");
    }
    for path in ["/api/v1/products?page=0", "/api/v1/users?page_size=500"] {
        assert_error(
            app.get(path, &admin.token).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_error",
        )
        .await;
    }
}

#[tokio::test]
async fn deactivating_a_customer_takes_the_same_role_by_either_route() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let staff = app.staff("staff@example.com").await;
    let ada = app.customer("ada@example.com").await;
    for (who, token, allowed) in [
        ("customer", ada.token.clone(), false),
        ("staff", staff.token.clone(), false),
        ("admin", admin.token.clone(), true),
    ] {
        let bob = app.customer(&format!("bob-{who}@example.com")).await;
        let path = format!("/api/v1/customers/{}", bob.customer_id.unwrap());
        let by_patch = app.patch(&path, &token, &json!({"is_active": false})).await;
        let by_delete = app.delete(&path, &token).await;
        let expected_delete = if allowed {
            StatusCode::NO_CONTENT
        } else {
            StatusCode::FORBIDDEN
        };
        let expected_patch = if allowed {
            StatusCode::OK
        } else {
            StatusCode::FORBIDDEN
        };
        assert_eq!(
            (by_patch.status(), by_delete.status()),
            (expected_patch, expected_delete),
            "{who}"
        );
        let active: bool = sqlx::query_scalar("SELECT is_active FROM customers WHERE id = $1")
            .bind(bob.customer_id.unwrap())
            .fetch_one(&app.db)
            .await
            .unwrap();
        assert_eq!(active, !allowed, "{who}");
    }
    // Staff still change names and tiers.
    let path = format!("/api/v1/customers/{}", ada.customer_id.unwrap());
    json_ok(
        app.patch(&path, &staff.token, &json!({"tier": "pro"}))
            .await,
        StatusCode::OK,
    )
    .await;
}
