//! OWASP API Security Top 10 (2023), access control:
//! - API1 Broken Object Level Authorization: another customer's ids on every id route, and
//!   the list/summary filters (`customer_id`, `status`, ...) that could widen a customer's view;
//! - API5 Broken Function Level Authorization: every staff/admin route with a lesser role (and
//!   API2: without a token);
//! - API3 Broken Object Property Level Authorization: `status`, `total`, `role`, `customer_id`,
//!   `is_active`, ... smuggled into every create/patch body (all are refused with a 422 naming
//!   the field: every body struct is `deny_unknown_fields`).
//!
//! Each concern is one table of requests (one row a line, printed when it fails); after the
//! refused requests the database's fingerprint must be unchanged.

use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, Session, TestApp, error_fields, json_ok, spawn_app};

/// Sends `method path` with an optional bearer token and JSON body.
pub async fn call(
    app: &TestApp,
    method: &Method,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Response {
    let mut request = app.client.request(method.clone(), app.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    request.send().await.unwrap()
}

/// Asserts an error with `status` in the one shape: JSON `{detail, code, request_id}` with the
/// code of that status, the echoed request id, and `WWW-Authenticate` on a 401. Names `row` on
/// failure; returns the body.
pub async fn expect_error(response: Response, status: u16, row: &str) -> Value {
    let code = match status {
        400 => "bad_request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        413 => "payload_too_large",
        415 => "unsupported_media_type",
        422 => "validation_error",
        other => panic!("no error code for {other}"),
    };
    let header = |name| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let (request_id, content_type) = (header("x-request-id"), header("content-type"));
    let www_authenticate = header("www-authenticate");
    let actual = response.status().as_u16();
    let text = response.text().await.unwrap();
    assert_eq!(actual, status, "{row}: {text}");
    let body: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{row}: {text}"));
    assert_eq!(content_type.as_deref(), Some("application/json"), "{row}");
    assert_eq!(body["code"], code, "{row}: {body}");
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{row}: {body}"
    );
    assert_eq!(
        body["request_id"].as_str(),
        request_id.as_deref(),
        "{row}: {body}"
    );
    if status == 401 {
        assert_eq!(www_authenticate.as_deref(), Some("Bearer"), "{row}");
    }
    body
}

/// Every row an attack could change, as one string: equal before and after means untouched.
pub async fn fingerprint(app: &TestApp) -> String {
    let tables = [
        "users (id, email, name, password_hash, role, customer_id, is_active, updated_at)",
        "customers (id, name, email, tier, is_active, updated_at)",
        "products (id, sku, name, price, is_active, updated_at)",
        "orders (id, customer_id, status, total, notes, updated_at)",
        "order_items (id, order_id, product_id, quantity, unit_price)",
        "dead_jobs (id, retried_at, retried_by)",
        "refresh_tokens (id, used_at, revoked_at)",
        "audit_log (id)",
    ];
    let mut all = String::new();
    for table in tables {
        let (name, columns) = table.split_once(' ').unwrap();
        let sql = format!(
            "SELECT coalesce(string_agg(concat_ws(',', {}), ';' ORDER BY id::text), '') FROM {name}",
            columns.trim_matches(['(', ')'])
        );
        let rows: String = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(&app.db)
            .await
            .unwrap();
        all.push_str(&format!("{name}: {rows}\n"));
    }
    all
}

/// Alice and Bob (customers) with one pending order each, a staff member, a 2.50 product and
/// a dead job.
struct Shop {
    app: TestApp,
    admin: Session,
    staff: Session,
    alice: Session,
    bob: Session,
    product: i64,
    alice_order: i64,
    bob_order: i64,
    dead_job: i64,
}

async fn shop() -> Shop {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let staff = app.staff("staff@example.com").await;
    let alice = app.customer("alice@example.com").await;
    let bob = app.customer("bob@example.com").await;
    let product = app.product(&admin, "P-1", "2.50").await["id"]
        .as_i64()
        .unwrap();
    let order = app
        .order(&alice, alice.customer_id.unwrap(), &[(product, 2)])
        .await;
    let alice_order = order["id"].as_i64().unwrap();
    let order = app
        .order(&bob, bob.customer_id.unwrap(), &[(product, 1)])
        .await;
    let bob_order = order["id"].as_i64().unwrap();
    let dead_job = sqlx::query_scalar(
        "INSERT INTO dead_jobs (kind, payload, last_error, attempts) \
         VALUES ('order_confirmation', '{}', 'smtp refused', 5) RETURNING id",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    Shop {
        app,
        admin,
        staff,
        alice,
        bob,
        product,
        alice_order,
        bob_order,
        dead_job,
    }
}

/// (method, path with `{}` for the id, id, body, expected status)
type IdRoute<'a> = (Method, &'a str, i64, Option<Value>, u16);

#[tokio::test]
async fn bola_another_customers_records_are_refused_as_if_absent_and_left_unchanged() {
    let s = shop().await;
    let (app, alice) = (&s.app, &s.alice);
    let (bob_customer, bob_order, bob_user) =
        (s.bob.customer_id.unwrap(), s.bob_order, s.bob.user_id);
    let items = json!([{"product_id": s.product, "quantity": 1}]);
    // 404 where a customer may use the route on its own records; routes it may never use
    // refuse by role first (403).
    #[rustfmt::skip]
    let rows: &[IdRoute] = &[
        (Method::GET, "/api/v1/customers/{}", bob_customer, None, 404),
        (Method::GET, "/api/v1/orders/{}", bob_order, None, 404),
        (Method::PATCH, "/api/v1/orders/{}", bob_order, Some(json!({"notes": "mine now"})), 404),
        (Method::PATCH, "/api/v1/orders/{}/status", bob_order, Some(json!({"status": "cancelled"})), 404),
        (Method::DELETE, "/api/v1/orders/{}", bob_order, None, 403),
        (Method::PATCH, "/api/v1/customers/{}", bob_customer, Some(json!({"name": "Mallory"})), 403),
        (Method::DELETE, "/api/v1/customers/{}", bob_customer, None, 403),
        (Method::GET, "/api/v1/users/{}", bob_user, None, 403),
        (Method::PATCH, "/api/v1/users/{}", bob_user, Some(json!({"is_active": false})), 403),
        (Method::POST, "/api/v1/orders", 0, Some(json!({"customer_id": bob_customer, "items": items})), 403),
    ];
    let before = fingerprint(app).await;
    // Twice: from PostgreSQL, then with Bob's order in the Redis read cache (filled by staff).
    for pass in ["cold", "cached"] {
        for (method, template, id, body, status) in rows {
            let path = template.replace("{}", &id.to_string());
            let row = format!("[{pass}] {method} {path} {body:?} as Alice");
            let response = call(app, method, &path, Some(&alice.token), body.as_ref()).await;
            let refused = expect_error(response, *status, &row).await;
            if *status == 404 {
                // No existence oracle: an id that exists nowhere answers exactly alike.
                let nowhere = template.replace("{}", "987654321");
                let absent = call(app, method, &nowhere, Some(&alice.token), body.as_ref()).await;
                let absent = expect_error(absent, 404, &format!("{row} (absent id)")).await;
                assert_eq!(refused["detail"], absent["detail"], "{row}");
            }
        }
        let cached = app
            .get(&format!("/api/v1/orders/{bob_order}"), &s.staff.token)
            .await;
        json_ok(cached, StatusCode::OK).await;
    }
    assert_eq!(
        fingerprint(app).await,
        before,
        "a refused request changed the database"
    );
    // Controls: the same routes work on Alice's own records, so the 404s above are scoping.
    let own_order = format!("/api/v1/orders/{}", s.alice_order);
    json_ok(app.get(&own_order, &alice.token).await, StatusCode::OK).await;
    let own = format!("/api/v1/customers/{}", alice.customer_id.unwrap());
    json_ok(app.get(&own, &alice.token).await, StatusCode::OK).await;
    let notes = json!({"notes": "ring twice"});
    json_ok(
        app.patch(&own_order, &alice.token, &notes).await,
        StatusCode::OK,
    )
    .await;
}

#[tokio::test]
async fn bola_list_and_summary_filters_never_widen_a_customers_view() {
    let s = shop().await;
    let app = &s.app;
    let (alice_c, bob_c, mine) = (
        s.alice.customer_id.unwrap(),
        s.bob.customer_id.unwrap(),
        s.alice_order,
    );
    let hidden = app.product(&s.admin, "P-HIDDEN", "9.00").await["id"]
        .as_i64()
        .unwrap();
    let deactivated = app
        .delete(&format!("/api/v1/products/{hidden}"), &s.admin.token)
        .await;
    assert_eq!(deactivated.status(), StatusCode::NO_CONTENT);
    let from = "created_from=2000-01-01T00:00:00Z";
    // (path, Ok(ids): 200 with exactly these items and `total`, Err(status): refused)
    #[rustfmt::skip]
    let rows: &[(String, Result<Vec<i64>, u16>)] = &[
        (format!("/api/v1/orders?customer_id={bob_c}"), Ok(vec![])),
        (format!("/api/v1/orders?customer_id={bob_c}&status=pending&min_total=0&sort=total"), Ok(vec![])),
        (format!("/api/v1/orders?customer_id={bob_c}&page_size=100&{from}"), Ok(vec![])),
        ("/api/v1/orders".into(), Ok(vec![mine])),
        ("/api/v1/orders?status=pending&page_size=100&sort=-total".into(), Ok(vec![mine])),
        (format!("/api/v1/orders?customer_id={alice_c}"), Ok(vec![mine])),
        ("/api/v1/orders/summary".into(), Err(403)),
        (format!("/api/v1/orders/summary?{from}"), Err(403)),
        ("/api/v1/customers?email=bob@example.com".into(), Err(403)),
        ("/api/v1/users?role=customer".into(), Err(403)),
        (format!("/api/v1/admin/audit-log?entity_type=order&entity_id={}", s.bob_order), Err(403)),
        // Customers only ever see active products, whatever they ask for.
        ("/api/v1/products?is_active=false".into(), Ok(vec![s.product])),
        ("/api/v1/products".into(), Ok(vec![s.product])),
        (format!("/api/v1/products/{hidden}"), Err(404)),
    ];
    for (path, expected) in rows {
        let row = format!("GET {path} as Alice");
        let response = app.get(path, &s.alice.token).await;
        match expected {
            Err(status) => {
                expect_error(response, *status, &row).await;
            }
            Ok(ids) => {
                let page = json_ok(response, StatusCode::OK).await;
                let items = page["items"].as_array().unwrap().iter();
                let got: Vec<i64> = items.map(|o| o["id"].as_i64().unwrap()).collect();
                assert_eq!(got, *ids, "{row}: {page}");
                assert_eq!(
                    page["total"],
                    ids.len(),
                    "{row}: the count leaks other rows: {page}"
                );
            }
        }
    }
    // Control: the same filter finds Bob's order for staff, so the empty page is scoping.
    let page = json_ok(app.get(&rows[0].0, &s.staff.token).await, StatusCode::OK).await;
    assert_eq!(page["items"][0]["id"], s.bob_order, "{page}");
}

/// (the least role allowed, method, path, body)
type RoleRoute<'a> = (&'a str, Method, String, Option<Value>);

#[tokio::test]
async fn bfla_staff_and_admin_routes_refuse_lesser_roles_and_change_nothing() {
    let s = shop().await;
    let app = &s.app;
    let (bob, alice_c, order, product, job) = (
        s.bob.user_id,
        s.alice.customer_id.unwrap(),
        s.alice_order,
        s.product,
        s.dead_job,
    );
    let new_product = json!({"sku": "P-NEW", "name": "New", "price": "1.00"});
    let (staff_route, admin_route) = ("staff", "admin");
    // {me}: the caller's own user id.
    #[rustfmt::skip]
    let rows: &[RoleRoute] = &[
        (staff_route, Method::POST, "/api/v1/customers".into(), Some(json!({"name": "X", "email": "x@example.com"}))),
        (staff_route, Method::GET, "/api/v1/customers?tier=free".into(), None),
        (staff_route, Method::PATCH, format!("/api/v1/customers/{alice_c}"), Some(json!({"tier": "enterprise"}))),
        (staff_route, Method::GET, "/api/v1/orders/summary".into(), None),
        (staff_route, Method::PATCH, format!("/api/v1/orders/{order}/status"), Some(json!({"status": "processing"}))),
        (admin_route, Method::GET, "/api/v1/users".into(), None),
        (admin_route, Method::GET, format!("/api/v1/users/{bob}"), None),
        (admin_route, Method::PATCH, "/api/v1/users/{me}".into(), Some(json!({"role": "admin"}))),
        (admin_route, Method::PATCH, format!("/api/v1/users/{bob}"), Some(json!({"is_active": false}))),
        (admin_route, Method::POST, format!("/api/v1/users/{bob}/unlock"), None),
        (admin_route, Method::DELETE, format!("/api/v1/customers/{alice_c}"), None),
        (admin_route, Method::POST, "/api/v1/products".into(), Some(new_product)),
        (admin_route, Method::PATCH, format!("/api/v1/products/{product}"), Some(json!({"price": "0.01"}))),
        (admin_route, Method::DELETE, format!("/api/v1/products/{product}"), None),
        (admin_route, Method::DELETE, format!("/api/v1/orders/{order}"), None),
        (admin_route, Method::GET, "/api/v1/admin/audit-log".into(), None),
        (admin_route, Method::GET, "/api/v1/admin/jobs/dead".into(), None),
        (admin_route, Method::POST, format!("/api/v1/admin/jobs/dead/{job}/retry"), None),
    ];
    let before = fingerprint(app).await;
    for (who_may, method, path, body) in rows {
        let mut callers = vec![("anonymous", None, 401), ("customer", Some(&s.alice), 403)];
        if *who_may == admin_route {
            callers.push(("staff", Some(&s.staff), 403));
        }
        for (caller, session, status) in callers {
            let path = path.replace("{me}", &session.map_or(0, |s| s.user_id).to_string());
            let row = format!("{method} {path} {body:?} as {caller} (a route for {who_may})");
            let token = session.map(|s| s.token.as_str());
            expect_error(
                call(app, method, &path, token, body.as_ref()).await,
                status,
                &row,
            )
            .await;
        }
    }
    assert_eq!(
        fingerprint(app).await,
        before,
        "a refused request changed the database"
    );
    // Controls: the roles allowed get past the role check (their answer may be 2xx, 404 or 409
    // but is never a 401/403 or an unknown route), so each 403 above is the role check itself.
    for (who_may, method, path, body) in rows {
        let mut allowed = vec![("admin", &s.admin)];
        if *who_may == staff_route {
            allowed.insert(0, ("staff", &s.staff));
        }
        for (caller, session) in allowed {
            let path = path.replace("{me}", &session.user_id.to_string());
            let response = call(app, method, &path, Some(&session.token), body.as_ref()).await;
            let status = response.status().as_u16();
            let text = response.text().await.unwrap();
            let row = format!("{method} {path} as {caller}");
            assert!(![401, 403, 405].contains(&status), "{row}: {status} {text}");
            assert!(
                !text.contains("\"detail\":\"Not found\""),
                "{row}: no such route: {text}"
            );
        }
    }
}

/// (caller, method, path, a legitimate body, the fields it may legitimately carry)
type Writer<'a> = (Option<&'a Session>, Method, String, Value, &'a str);

#[tokio::test]
async fn mass_assignment_of_privileged_fields_is_refused_in_every_body() {
    let s = shop().await;
    let app = &s.app;
    let (alice_c, bob_c) = (s.alice.customer_id.unwrap(), s.bob.customer_id.unwrap());
    #[rustfmt::skip]
    let smuggled = [
        ("status", json!("delivered")), ("total", json!("0.01")), ("total_amount", json!("0.01")),
        ("role", json!("admin")), ("customer_id", json!(bob_c)), ("is_active", json!(false)),
        ("id", json!(1)), ("created_at", json!("2000-01-01T00:00:00Z")), ("user_id", json!(1)),
        ("password_hash", json!("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA")),
    ];
    let item = json!({"product_id": s.product, "quantity": 1});
    let (alice_refresh, product, order) = (&s.alice.refresh_token, s.product, s.alice_order);
    let (staff, admin, alice) = (Some(&s.staff), Some(&s.admin), Some(&s.alice));
    #[rustfmt::skip]
    let targets: &[Writer] = &[
        (None, Method::POST, "/api/v1/auth/register".into(), json!({"email": "eve@example.com", "password": PASSWORD, "name": "Eve"}), ""),
        (None, Method::POST, "/api/v1/auth/refresh".into(), json!({"refresh_token": alice_refresh}), ""),
        (None, Method::POST, "/api/v1/auth/logout".into(), json!({"refresh_token": alice_refresh}), ""),
        (staff, Method::POST, "/api/v1/customers".into(), json!({"name": "Carol", "email": "carol@example.com"}), ""),
        (staff, Method::PATCH, format!("/api/v1/customers/{alice_c}"), json!({"name": "Alice B"}), "is_active"),
        (admin, Method::POST, "/api/v1/products".into(), json!({"sku": "P-2", "name": "Widget", "price": "3.00"}), ""),
        (admin, Method::PATCH, format!("/api/v1/products/{product}"), json!({"name": "Renamed"}), "is_active"),
        (alice, Method::POST, "/api/v1/orders".into(), json!({"customer_id": alice_c, "items": [item]}), "customer_id"),
        (alice, Method::PATCH, format!("/api/v1/orders/{order}"), json!({"notes": "hi"}), ""),
        (alice, Method::PATCH, format!("/api/v1/orders/{order}/status"), json!({"status": "cancelled"}), "status"),
        (admin, Method::PATCH, format!("/api/v1/users/{}", s.bob.user_id), json!({"is_active": true}), "role,is_active"),
    ];
    let before = fingerprint(app).await;
    for (session, method, path, base, legitimate) in targets {
        for (field, value) in smuggled
            .iter()
            .filter(|(f, _)| !legitimate.split(',').any(|l| l == *f))
        {
            let mut body = base.clone();
            body[*field] = value.clone();
            let row = format!("{method} {path} {body}");
            let token = session.map(|s| s.token.as_str());
            let refused =
                expect_error(call(app, method, path, token, Some(&body)).await, 422, &row).await;
            assert_eq!(error_fields(&refused), [*field], "{row}: {refused}");
        }
    }
    // Prices come from the products, never from the items.
    for field in ["unit_price", "price", "line_total", "product_name"] {
        let mut line = item.clone();
        line[field] = json!("0.01");
        let body = json!({"customer_id": alice_c, "items": [line]});
        let row = format!("POST /orders {body}");
        let refused = expect_error(
            app.post("/api/v1/orders", &s.alice.token, &body).await,
            422,
            &row,
        )
        .await;
        assert_eq!(
            error_fields(&refused),
            [format!("items[0].{field}")],
            "{refused}"
        );
    }
    assert_eq!(
        fingerprint(app).await,
        before,
        "a smuggled field reached the database"
    );
    let (status, total): (String, String) =
        sqlx::query_as("SELECT status, total::text FROM orders WHERE id = $1")
            .bind(s.alice_order)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!((status.as_str(), total.as_str()), ("pending", "5.00"));

    // The login form ignores extra fields (OAuth2 clients send some), and none grants anything.
    let bob_c = bob_c.to_string();
    #[rustfmt::skip]
    let form = [("username", "alice@example.com"), ("password", PASSWORD), ("role", "admin"),
        ("scope", "admin"), ("is_active", "true"), ("customer_id", &bob_c)];
    let response = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .form(&form)
        .send()
        .await
        .unwrap();
    let tokens = json_ok(response, StatusCode::OK).await;
    let token = tokens["access_token"].as_str().unwrap();
    let me = json_ok(app.get("/api/v1/auth/me", token).await, StatusCode::OK).await;
    let linked = (me["role"].as_str(), me["customer_id"].as_i64());
    assert_eq!(linked, (Some("customer"), Some(alice_c)), "{me}");
    expect_error(
        app.get("/api/v1/users", token).await,
        403,
        "login with role=admin",
    )
    .await;
    // A clean registration makes an active customer, whatever was attempted before.
    let eve = app.register("eve@example.com", PASSWORD, "Eve").await;
    let eve = json_ok(eve, StatusCode::CREATED).await;
    let granted = (eve["role"].as_str(), eve["is_active"].as_bool());
    assert_eq!(granted, (Some("customer"), Some(true)), "{eve}");
    let admins = app
        .count("SELECT count(*) FROM users WHERE role = 'admin'")
        .await;
    assert_eq!(admins, 1);
}
