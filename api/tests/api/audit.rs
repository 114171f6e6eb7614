use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{assert_error, json_ok, spawn_app};

#[tokio::test]
async fn each_audited_action_writes_one_row_with_actor_states_and_both_request_ids() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let staff = app.staff("staff@example.com").await;
    let ada = app.customer("ada@example.com").await;
    let send = |method: reqwest::Method,
                path: String,
                token: String,
                body: Option<Value>,
                rid: &'static str| {
        let mut request = app
            .client
            .request(method, app.url(&path))
            .bearer_auth(token)
            .header("x-request-id", rid);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send()
    };
    use reqwest::Method;
    let product = json_ok(
        send(
            Method::POST,
            "/api/v1/products".into(),
            admin.token.clone(),
            Some(json!({"sku": "P-1", "name": "P", "price": "1.00"})),
            "rid-product-create",
        )
        .await
        .unwrap(),
        StatusCode::CREATED,
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let product_path = format!("/api/v1/products/{product}");
    send(
        Method::PATCH,
        product_path.clone(),
        admin.token.clone(),
        Some(json!({"price": "2.00"})),
        "rid-product-update",
    )
    .await
    .unwrap();
    let customer_path = format!("/api/v1/customers/{}", ada.customer_id.unwrap());
    send(
        Method::PATCH,
        customer_path.clone(),
        staff.token.clone(),
        Some(json!({"tier": "pro"})),
        "rid-customer-update",
    )
    .await
    .unwrap();
    let order = app
        .order(&ada, ada.customer_id.unwrap(), &[(product, 1)])
        .await["id"]
        .as_i64()
        .unwrap();
    let order_path = format!("/api/v1/orders/{order}");
    send(
        Method::PATCH,
        format!("{order_path}/status"),
        staff.token.clone(),
        Some(json!({"status": "processing"})),
        "rid-order-status",
    )
    .await
    .unwrap();
    send(
        Method::PATCH,
        order_path.clone(),
        staff.token.clone(),
        Some(json!({"notes": "fragile"})),
        "rid-order-update",
    )
    .await
    .unwrap();
    send(
        Method::DELETE,
        order_path.clone(),
        admin.token.clone(),
        None,
        "rid-order-delete",
    )
    .await
    .unwrap();
    send(
        Method::DELETE,
        product_path.clone(),
        admin.token.clone(),
        None,
        "rid-product-deactivate",
    )
    .await
    .unwrap();
    send(
        Method::DELETE,
        customer_path.clone(),
        admin.token.clone(),
        None,
        "rid-customer-deactivate",
    )
    .await
    .unwrap();
    send(
        Method::PATCH,
        format!("/api/v1/users/{}", ada.user_id),
        admin.token.clone(),
        Some(json!({"is_active": false})),
        "rid-user-update",
    )
    .await
    .unwrap();

    let log = json_ok(
        app.get("/api/v1/admin/audit-log?page_size=100", &admin.token)
            .await,
        StatusCode::OK,
    )
    .await;
    let entries = log["items"].as_array().unwrap();
    let find = |action: &str, rid: &str| {
        let matching: Vec<&Value> = entries
            .iter()
            .filter(|e| e["action"] == action && e["client_request_id"] == rid)
            .collect();
        assert_eq!(matching.len(), 1, "{action} {rid}: {entries:#?}");
        // The row's request id is the server's own; the client's is kept beside it.
        let server_id = matching[0]["request_id"].as_str().unwrap();
        assert!(server_id != rid && server_id.len() == 36, "{server_id}");
        matching[0].clone()
    };
    let created = find("product.created", "rid-product-create");
    assert_eq!(
        (
            created["actor_user_id"].as_i64(),
            created["entity_type"].as_str(),
            created["entity_id"].as_i64()
        ),
        (Some(admin.user_id), Some("product"), Some(product))
    );
    assert!(created["before"].is_null());
    let updated = find("product.updated", "rid-product-update");
    assert_eq!(
        (
            updated["before"]["price"].as_str(),
            updated["after"]["price"].as_str()
        ),
        (Some("1.00"), Some("2.00"))
    );
    let customer = find("customer.updated", "rid-customer-update");
    assert_eq!(
        (
            customer["actor_user_id"].as_i64(),
            customer["after"]["tier"].as_str()
        ),
        (Some(staff.user_id), Some("pro"))
    );
    let status = find("order.status_changed", "rid-order-status");
    assert_eq!(
        (
            status["before"]["status"].as_str(),
            status["after"]["status"].as_str()
        ),
        (Some("pending"), Some("processing"))
    );
    find("order.updated", "rid-order-update");
    let deleted = find("order.deleted", "rid-order-delete");
    assert_eq!(
        (deleted["before"]["id"].as_i64(), deleted["after"].is_null()),
        (Some(order), true)
    );
    assert_eq!(
        find("product.deactivated", "rid-product-deactivate")["after"]["is_active"],
        false
    );
    assert_eq!(
        find("customer.deactivated", "rid-customer-deactivate")["after"]["is_active"],
        false
    );
    let user = find("user.updated", "rid-user-update");
    assert!(user["after"].get("password_hash").is_none());
    assert_eq!(user["after"]["is_active"], false);

    let filtered = json_ok(
        app.get(
            &format!("/api/v1/admin/audit-log?entity_type=order&entity_id={order}"),
            &admin.token,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(filtered["total"], 3);
    let by_actor = json_ok(
        app.get(
            &format!(
                "/api/v1/admin/audit-log?actor_user_id={}&action=customer.updated",
                staff.user_id
            ),
            &admin.token,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(by_actor["total"], 1);
    assert_error(
        app.get("/api/v1/admin/audit-log", &staff.token).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
}
