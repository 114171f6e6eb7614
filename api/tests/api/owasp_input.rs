//! OWASP API Security Top 10 (2023), hostile input:
//! - API2 Broken Authentication: the forged or misused access tokens `tokens.rs` does not
//!   already cover (other algorithms, algorithm confusion, missing claims, tampered payload,
//!   embedded keys, hostile `kid`, deleted user, refresh token as bearer, forged role claim);
//! - API8 Security Misconfiguration (injection): SQL metacharacters in every string body field
//!   and query parameter: never a 5xx, stored verbatim or a 4xx, wildcards never widen a filter;
//! - API4 Unrestricted Resource Consumption: bodies over 1 MiB, 10,000-deep JSON, 10,000 items,
//!   100,000-character strings, thousands of keys, wrong content types;
//! - API3 (excessive data exposure) and API8: no password hash or token in any response, and
//!   neither they, the passwords nor the JWT secret in any line the API binary logs.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use orderflow_shared::settings::DEV_JWT_SECRET;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD, error_fields, json_ok, spawn_app};
use crate::owasp_access::{call, expect_error, fingerprint};

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

/// `header.claims.signature`: HMAC-SHA256 with `secret` whatever the header's `alg` says.
fn forge(header: &Value, claims: &Value, secret: &str) -> String {
    let message = format!("{}.{}", b64(header), b64(claims));
    let key = EncodingKey::from_secret(secret.as_bytes());
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &key, Algorithm::HS256);
    format!("{message}.{}", signature.unwrap())
}

#[tokio::test]
async fn forged_and_misused_access_tokens_are_refused_with_401() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let alice = app.customer("alice@example.com").await;
    let now = jsonwebtoken::get_current_timestamp();
    // Each user's live session (its login), as the real tokens carry it.
    let sessions: std::collections::HashMap<i64, uuid::Uuid> =
        sqlx::query_as("SELECT DISTINCT ON (user_id) user_id, id FROM sessions")
            .fetch_all(&app.db)
            .await
            .unwrap()
            .into_iter()
            .collect();
    let claims = |sub: i64, role: &str| {
        json!({"sub": sub.to_string(), "sid": sessions[&sub], "role": role, "iat": now - 10,
               "exp": now + 600, "iss": "orderflow", "aud": "orderflow-api"})
    };
    let good = claims(alice.user_id, "customer");
    let hs256 = json!({"alg": "HS256", "typ": "JWT", "kid": "k1"});
    // Control: forge() with the real key, algorithm and claims makes a token that works, so
    // each refusal below comes from the one thing its row changes.
    let control = forge(&hs256, &good, DEV_JWT_SECRET);
    json_ok(app.get("/api/v1/auth/me", &control).await, StatusCode::OK).await;
    let edit = |field: &str, value: Option<Value>| {
        let mut changed = good.clone();
        let fields = changed.as_object_mut().unwrap();
        match value {
            Some(value) => fields.insert(field.to_string(), value),
            None => fields.remove(field),
        };
        forge(&hs256, &changed, DEV_JWT_SECRET)
    };
    let other_alg = |alg| {
        let mut header = Header::new(alg);
        header.kid = Some("k1".into());
        let key = EncodingKey::from_secret(DEV_JWT_SECRET.as_bytes());
        jsonwebtoken::encode(&header, &good, &key).unwrap()
    };
    let alg = |alg: &str| forge(&json!({"alg": alg, "kid": "k1"}), &good, DEV_JWT_SECRET);
    let attacker = |header: Value| forge(&header, &good, "attacker-chosen-key");
    let jwk = json!({"kty": "oct", "k": URL_SAFE_NO_PAD.encode("attacker-chosen-key")});
    let parts: Vec<&str> = alice.token.split('.').collect();
    let as_admin = b64(&claims(admin.user_id, "admin"));
    // A user deleted after logging in; its token was never used, so no cache knows it.
    let ghost = "ghost@example.com";
    let registered = app.register(ghost, PASSWORD, "Ghost").await;
    json_ok(registered, StatusCode::CREATED).await;
    let ghost = json_ok(app.login(ghost, PASSWORD).await, StatusCode::OK).await;
    let deleted = sqlx::query("DELETE FROM users WHERE email = 'ghost@example.com'");
    deleted.execute(&app.db).await.unwrap();
    #[rustfmt::skip]
    let rows: &[(&str, String)] = &[
        ("HS512 signed with the real secret", other_alg(Algorithm::HS512)),
        ("HS384 signed with the real secret", other_alg(Algorithm::HS384)),
        ("RS256 header, HMAC with the secret (algorithm confusion)", alg("RS256")),
        ("ES256 header, HMAC with the secret", alg("ES256")),
        ("alg none keeping a valid signature", alg("none")),
        ("alg None, no signature", format!("{}.{}.", b64(&json!({"alg": "None", "kid": "k1"})), b64(&good))),
        ("missing exp", edit("exp", None)),
        ("exp as a string", edit("exp", Some(json!((now + 600).to_string())))),
        ("missing iat", edit("iat", None)),
        ("missing iss", edit("iss", None)),
        ("missing aud", edit("aud", None)),
        ("missing sub", edit("sub", None)),
        ("sub not a user id", edit("sub", Some(json!("admin")))),
        ("sub of no user", edit("sub", Some(json!("987654321")))),
        ("payload swapped for the admin's, signature kept", format!("{}.{as_admin}.{}", parts[0], parts[2])),
        ("signature stripped", format!("{}.{}.", parts[0], parts[1])),
        ("embedded jwk with the attacker's key", attacker(json!({"alg": "HS256", "kid": "k1", "jwk": jwk}))),
        ("jku pointing at the attacker", attacker(json!({"alg": "HS256", "kid": "k1", "jku": "https://attacker.example/jwks"}))),
        ("kid path traversal, key of /dev/null", forge(&json!({"alg": "HS256", "kid": "../../../../dev/null"}), &good, "")),
        ("kid with SQL", forge(&json!({"alg": "HS256", "kid": "k1' OR '1'='1"}), &good, DEV_JWT_SECRET)),
        ("token of a deleted user", ghost["access_token"].as_str().unwrap().to_string()),
        ("the refresh token as bearer", alice.refresh_token.clone()),
        ("two tokens in one header", format!("{} {}", alice.token, alice.token)),
    ];
    for (case, token) in rows {
        for path in ["/api/v1/auth/me", "/api/v1/users"] {
            let row = format!("{case} on {path}");
            expect_error(app.get(path, token).await, 401, &row).await;
        }
    }
    // Only the Authorization header counts; an access token is no refresh token.
    let in_query = app.url(&format!("/api/v1/auth/me?access_token={}", alice.token));
    let response = app.client.get(in_query).send().await.unwrap();
    expect_error(response, 401, "token in the query string").await;
    let as_refresh = json!({"refresh_token": alice.token});
    let refresh = app.client.post(app.url("/api/v1/auth/refresh"));
    let response = refresh.json(&as_refresh).send().await.unwrap();
    expect_error(response, 401, "access token as refresh token").await;
    // A validly signed token whose role claim says admin: the role comes from the database.
    let forged_role = forge(&hs256, &claims(alice.user_id, "admin"), DEV_JWT_SECRET);
    let me = app.get("/api/v1/auth/me", &forged_role).await;
    assert_eq!(json_ok(me, StatusCode::OK).await["role"], "customer");
    let users = app.get("/api/v1/users", &forged_role).await;
    expect_error(users, 403, "a forged role claim").await;
}

/// Strings that break naive SQL, LIKE patterns, escapes and storage.
fn hostile() -> Vec<String> {
    #[rustfmt::skip]
    let values = ["'", "\"", ";", "--", "' OR '1'='1", "'; DROP TABLE users; --", "%", "_", "\\",
        "\\'", "$1", "%s%n", "a\u{0}b", "\u{0}"];
    let mut values = Vec::from(values.map(String::from));
    values.push("ñü🙂\u{202e}".repeat(50));
    values
}

/// `template` with `$I` replaced by `i` and then `$V` by `value` in every string.
fn fill(template: &Value, value: &str, i: usize) -> Value {
    match template {
        Value::String(s) => Value::String(s.replace("$I", &i.to_string()).replace("$V", value)),
        Value::Array(items) => items.iter().map(|t| fill(t, value, i)).collect(),
        Value::Object(map) => {
            let fields = map.iter().map(|(k, t)| (k.clone(), fill(t, value, i)));
            Value::Object(fields.collect())
        }
        other => other.clone(),
    }
}

/// (label, token, method, path, body template, field)
type Target<'a> = (&'a str, Option<&'a str>, Method, String, Value, &'a str);

#[tokio::test]
async fn sql_metacharacters_in_body_fields_are_stored_verbatim_or_refused_never_a_5xx() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let staff = app.staff("staff@example.com").await;
    let alice = app.customer("alice@example.com").await;
    let alice_c = alice.customer_id.unwrap();
    let order = app.pending_order(&admin, &alice).await;
    let product = app.product(&admin, "P-2", "1.00").await;
    let product = product["id"].as_i64().unwrap();
    let a = Some(admin.token.as_str());
    let s = Some(staff.token.as_str());
    let c = Some(alice.token.as_str());
    let items = json!([{"product_id": product, "quantity": 1}]);
    #[rustfmt::skip]
    let targets: &[Target] = &[
        ("register name", None, Method::POST, "/api/v1/auth/register".into(), json!({"email": "n$I@example.com", "password": PASSWORD, "name": "$V"}), "name"),
        ("customer name", s, Method::POST, "/api/v1/customers".into(), json!({"name": "$V", "email": "c$I@example.com"}), "name"),
        ("customer email", s, Method::POST, "/api/v1/customers".into(), json!({"name": "N", "email": "$V$I@example.com"}), "email"),
        ("customer rename", s, Method::PATCH, format!("/api/v1/customers/{alice_c}"), json!({"name": "$V"}), "name"),
        ("product name", a, Method::POST, "/api/v1/products".into(), json!({"sku": "S-$I", "name": "$V", "price": "1.00"}), "name"),
        ("product sku", a, Method::POST, "/api/v1/products".into(), json!({"sku": "$V$I", "name": "N", "price": "1.00"}), "sku"),
        ("product rename", a, Method::PATCH, format!("/api/v1/products/{product}"), json!({"name": "$V"}), "name"),
        ("order notes", c, Method::POST, "/api/v1/orders".into(), json!({"customer_id": alice_c, "items": items, "notes": "$V"}), "notes"),
        ("order notes edit", c, Method::PATCH, format!("/api/v1/orders/{order}"), json!({"notes": "$V"}), "notes"),
    ];
    let (mut i, mut server_errors) = (0, Vec::new());
    for (label, token, method, path, template, field) in targets {
        for value in hostile() {
            i += 1;
            let body = fill(template, &value, i);
            let sent = body[*field].as_str().unwrap().to_string();
            let row = format!("{label}: {method} {path} {body}");
            let response = call(&app, method, path, *token, Some(&body)).await;
            let status = response.status();
            if status.is_server_error() {
                server_errors.push(format!("{row} -> {}", response.text().await.unwrap()));
                continue;
            }
            if !status.is_success() {
                let refused = expect_error(response, 422, &row).await;
                assert_eq!(error_fields(&refused), [*field], "{row}: {refused}");
                continue;
            }
            let controls = sent.contains(char::is_control);
            assert!(!controls, "{row}: a control character was accepted");
            let written = json_ok(response, status).await;
            let readback = match *label {
                "register name" => format!("/api/v1/customers/{}", written["customer_id"]),
                _ if *method == Method::POST => format!("{path}/{}", written["id"]),
                _ => path.clone(),
            };
            let read = json_ok(app.get(&readback, &admin.token).await, StatusCode::OK).await;
            let expected = match *field {
                "email" => sent.to_lowercase(),
                "sku" => sent.to_uppercase(),
                _ => sent,
            };
            let stored = (written[*field].as_str(), read[*field].as_str());
            assert_eq!(
                stored,
                (Some(expected.as_str()), Some(expected.as_str())),
                "{row}"
            );
        }
    }
    // Passwords are never stored, but must work byte for byte.
    for (i, value) in hostile().iter().enumerate() {
        let email = format!("pw{i}@example.com");
        let password: String = format!("{value}-long-enough").chars().take(128).collect();
        let registered = app.register(&email, &password, "P").await;
        json_ok(registered, StatusCode::CREATED).await;
        json_ok(app.login(&email, &password).await, StatusCode::OK).await;
        expect_error(app.login(&email, value).await, 401, value).await;
    }
    let users = app.count("SELECT count(*) FROM users").await;
    assert!(users > 3, "the users table survived");
    let server_errors = server_errors.join("\n");
    assert!(server_errors.is_empty(), "5xx:\n{server_errors}");
}

/// (path, parameter, caller's token, Some(n): 200 with n rows | None: 422 naming it)
type QueryParam<'a> = (&'a str, &'a str, &'a str, Option<usize>);

#[tokio::test]
async fn sql_metacharacters_in_query_parameters_never_widen_a_filter_nor_cause_a_5xx() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let staff = app.staff("staff@example.com").await;
    let alice = app.customer("alice@example.com").await;
    app.pending_order(&admin, &alice).await;
    let (a, s) = (admin.token.as_str(), staff.token.as_str());
    let get = |path: &str, query: &[(&str, &str)], token: &str| {
        let request = app.client.get(app.url(path)).query(query);
        request.bearer_auth(token).send()
    };
    // Controls: the exact filters do find rows (email is documented as case-insensitive).
    #[rustfmt::skip]
    let controls = [("/api/v1/customers", "email", "ALICE@example.com"),
        ("/api/v1/admin/audit-log", "entity_type", "product"), ("/api/v1/admin/audit-log", "action", "product.created")];
    for (path, param, value) in controls {
        let response = get(path, &[(param, value)], a).await.unwrap();
        let page = json_ok(response, StatusCode::OK).await;
        assert_eq!(page["total"], 1, "{path}?{param}={value}: {page}");
    }
    #[rustfmt::skip]
    let params: &[QueryParam] = &[
        ("/api/v1/customers", "email", s, Some(0)),
        ("/api/v1/admin/audit-log", "entity_type", a, Some(0)),
        ("/api/v1/admin/audit-log", "action", a, Some(0)),
        ("/api/v1/customers", "tier", s, None), ("/api/v1/customers", "is_active", s, None),
        ("/api/v1/orders", "status", a, None), ("/api/v1/orders", "customer_id", a, None),
        ("/api/v1/orders", "created_from", a, None), ("/api/v1/orders", "created_to", a, None),
        ("/api/v1/orders", "min_total", a, None), ("/api/v1/orders", "max_total", a, None),
        ("/api/v1/orders", "sort", a, None), ("/api/v1/orders", "page", a, None),
        ("/api/v1/orders", "page_size", a, None), ("/api/v1/orders/summary", "created_from", a, None),
        ("/api/v1/users", "role", a, None), ("/api/v1/users", "is_active", a, None),
        ("/api/v1/products", "is_active", a, None), ("/api/v1/admin/audit-log", "entity_id", a, None),
        ("/api/v1/admin/audit-log", "actor_user_id", a, None),
    ];
    let mut server_errors = Vec::new();
    for (path, param, token, rows) in params {
        for value in hostile() {
            let row = format!("GET {path}?{param}={value:?}");
            let response = get(path, &[(param, &value)], token).await.unwrap();
            if response.status().is_server_error() {
                server_errors.push(format!("{row} -> {}", response.text().await.unwrap()));
                continue;
            }
            // Text filters take any text PostgreSQL can compare: NUL is refused by name.
            if let Some(n) = rows.filter(|_| !value.contains('\0')) {
                let page = json_ok(response, StatusCode::OK).await;
                let items = page["items"].as_array().map(Vec::len);
                let found = (page["total"].as_u64(), items);
                assert_eq!(found, (Some(n as u64), Some(n)), "{row}: {page}");
            } else {
                let body = expect_error(response, 422, &row).await;
                assert_eq!(error_fields(&body), [*param], "{row}: {body}");
            }
        }
    }
    // Path ids.
    for resource in ["orders", "customers", "products", "users"] {
        for value in hostile() {
            let encoded: String = form_urlencoded::byte_serialize(value.as_bytes()).collect();
            let path = format!("/api/v1/{resource}/{encoded}");
            let body = expect_error(app.get(&path, a).await, 422, &path).await;
            assert_eq!(error_fields(&body), ["path"], "{path}");
        }
    }
    let server_errors = server_errors.join("\n");
    assert!(server_errors.is_empty(), "5xx:\n{server_errors}");
}

/// (label, token, method, path, content type ("" for none), body, status, field a 422 names)
#[rustfmt::skip]
type BodyRow<'a> = (&'a str, Option<&'a str>, Method, &'a str, &'a str, String, u16, &'a str);

#[tokio::test]
async fn huge_deep_and_mistyped_bodies_get_4xx_and_the_server_keeps_answering() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let staff = app.staff("staff@example.com").await;
    let alice = app.customer("alice@example.com").await;
    let alice_c = alice.customer_id.unwrap();
    let order = app.pending_order(&admin, &alice).await;
    let (big, long) = ("x".repeat(1_100_000), "y".repeat(100_000));
    let deep_arrays = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let deep_objects = format!("{}1{}", "{\"a\":".repeat(10_000), "}".repeat(10_000));
    let line = |i: usize| json!({"product_id": i, "quantity": 1});
    let lines =
        |n: usize, step: usize| -> Vec<Value> { (0..n).map(|i| line(1 + i * step)).collect() };
    let keys: serde_json::Map<String, Value> =
        (0..20_000).map(|i| (format!("k{i}"), json!(i))).collect();
    let keys = Value::Object(keys).to_string();
    let user = |email: &str, password: &str, name: &str| {
        json!({"email": email, "password": password, "name": name}).to_string()
    };
    let order_with = |extra: Value| {
        let mut body = json!({"customer_id": alice_c, "items": [{"product_id": 1, "quantity": 1}]});
        let extra = extra.as_object().unwrap().clone();
        body.as_object_mut().unwrap().extend(extra);
        body.to_string()
    };
    let c = Some(alice.token.as_str());
    let s = Some(staff.token.as_str());
    let a = Some(admin.token.as_str());
    let (json, form) = ("application/json", "application/x-www-form-urlencoded");
    let (register, login) = ("/api/v1/auth/register", "/api/v1/auth/login");
    let orders = "/api/v1/orders";
    let notes = format!("/api/v1/orders/{order}");
    let notes = notes.as_str();
    #[rustfmt::skip]
    let rows: &[BodyRow] = &[
        ("1.1 MB JSON, anonymous", None, Method::POST, register, json, user("a@example.com", PASSWORD, &big), 413, ""),
        ("1.1 MB form", None, Method::POST, login, form, format!("username=a@example.com&password={big}"), 413, ""),
        ("1.1 MB order", c, Method::POST, orders, json, order_with(json!({"notes": big})), 413, ""),
        ("1.1 MB patch", c, Method::PATCH, notes, json, json!({"notes": big}).to_string(), 413, ""),
        ("10,000-deep arrays", s, Method::POST, "/api/v1/customers", json, deep_arrays.clone(), 400, ""),
        ("10,000-deep objects", c, Method::POST, orders, json, deep_objects, 400, ""),
        ("10,000-deep field", None, Method::POST, register, json, format!("{{\"name\": {deep_arrays}}}"), 400, ""),
        ("10,000 lines of one product", c, Method::POST, orders, json, order_with(json!({"items": lines(10_000, 0)})), 422, "items"),
        ("10,000 distinct products", c, Method::POST, orders, json, order_with(json!({"items": lines(10_000, 1)})), 422, "items"),
        ("20,000 keys", s, Method::POST, "/api/v1/customers", json, keys, 422, ""),
        ("200,000-element notes", c, Method::POST, orders, json, order_with(json!({"notes": vec![0; 200_000]})), 422, "notes"),
        ("100k-char name", None, Method::POST, register, json, user("a@example.com", PASSWORD, &long), 422, "name"),
        ("100k-char password", None, Method::POST, register, json, user("a@example.com", &long, "A"), 422, "password"),
        ("100k-char email", None, Method::POST, register, json, user(&format!("{long}@example.com"), PASSWORD, "A"), 422, "email"),
        ("100k-char customer", s, Method::POST, "/api/v1/customers", json, json!({"name": long, "email": "c@example.com"}).to_string(), 422, "name"),
        ("100k-char product", a, Method::POST, "/api/v1/products", json, json!({"sku": "S-1", "name": long, "price": "1.00"}).to_string(), 422, "name"),
        ("100k-char notes", c, Method::POST, orders, json, order_with(json!({"notes": long})), 422, "notes"),
        ("100k-char notes edit", c, Method::PATCH, notes, json, json!({"notes": long}).to_string(), 422, "notes"),
        ("100k-char login password", None, Method::POST, login, form, format!("username=alice@example.com&password={long}"), 401, ""),
        ("100k-char login username", None, Method::POST, login, form, format!("username={long}&password=x"), 401, ""),
        ("100k-char refresh token", None, Method::POST, "/api/v1/auth/refresh", json, json!({"refresh_token": long}).to_string(), 401, ""),
        ("text/plain", s, Method::POST, "/api/v1/customers", "text/plain", json!({"name": "A", "email": "t@example.com"}).to_string(), 415, ""),
        ("application/xml", None, Method::POST, register, "application/xml", "<user/>".into(), 415, ""),
        ("no content type", c, Method::POST, orders, "", order_with(json!({})), 415, ""),
        ("multipart", c, Method::PATCH, notes, "multipart/form-data; boundary=x", "--x--".into(), 415, ""),
        ("form to a JSON route", None, Method::POST, register, form, "email=a@example.com&password=x&name=A".into(), 415, ""),
        ("JSON to the login form", None, Method::POST, login, json, json!({"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD}).to_string(), 415, ""),
    ];
    let before = fingerprint(&app).await;
    for (label, token, method, path, content_type, body, status, field) in rows {
        let request = app.client.request(method.clone(), app.url(path));
        let mut request = request.body(body.clone());
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if !content_type.is_empty() {
            request = request.header("content-type", *content_type);
        }
        let row = format!("{label}: {method} {path}");
        let refused = expect_error(request.send().await.unwrap(), *status, &row).await;
        if !field.is_empty() {
            assert_eq!(error_fields(&refused), [*field], "{row}: {refused}");
        }
        let health = app.client.get(app.url("/health")).send().await.unwrap();
        assert_eq!(health.status(), StatusCode::OK, "after {row}");
    }
    let body = json!({"customer_id": alice_c, "items": [{"product_id": 1, "quantity": 1}]});
    let keyed = app.client.post(app.url(orders)).json(&body);
    let keyed = keyed
        .bearer_auth(&alice.token)
        .header("idempotency-key", &long);
    let keyed = keyed.send().await.unwrap();
    expect_error(keyed, 400, "100k-char Idempotency-Key").await;
    let after = fingerprint(&app).await;
    assert_eq!(after, before, "a refused body changed the database");
}

/// Fails naming the first line of `text` that contains one of the `secrets`.
fn assert_no_secret(label: &str, text: &str, secrets: &[(&str, &str)]) {
    for (name, secret) in secrets {
        let line = text.lines().find(|l| l.contains(secret));
        let line = line.unwrap_or_default();
        assert!(line.is_empty(), "{label} contains {name}: {line}");
    }
}

#[tokio::test]
async fn no_response_carries_a_password_hash_or_another_responses_token() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let staff = app.staff("staff@example.com").await;
    let mut bodies: Vec<(&str, String)> = Vec::new();
    for label in ["register", "register again"] {
        let response = app.register("alice@example.com", PASSWORD, "Alice").await;
        bodies.push((label, response.text().await.unwrap()));
    }
    let login = app.login("alice@example.com", PASSWORD).await;
    let login = json_ok(login, StatusCode::OK).await;
    let str_of = |pair: &Value, field: &str| pair[field].as_str().unwrap().to_string();
    let access = str_of(&login, "access_token");
    let refresh = str_of(&login, "refresh_token");
    let refresh_with = |token: &str| {
        let body = json!({"refresh_token": token});
        let request = app.client.post(app.url("/api/v1/auth/refresh"));
        request.json(&body).send()
    };
    let rotated = json_ok(refresh_with(&refresh).await.unwrap(), StatusCode::OK).await;
    let access2 = str_of(&rotated, "access_token");
    let refresh2 = str_of(&rotated, "refresh_token");
    let me = json_ok(app.get("/api/v1/auth/me", &access2).await, StatusCode::OK).await;
    let user = me["id"].as_i64().unwrap();
    let customer = me["customer_id"].as_i64().unwrap();
    let failed = app.login("alice@example.com", "wrong-password-1").await;
    bodies.push(("wrong password", failed.text().await.unwrap()));
    let reused = refresh_with(&refresh).await.unwrap();
    bodies.push(("reused refresh", reused.text().await.unwrap()));
    let (promote, path) = (json!({"role": "staff"}), format!("/api/v1/users/{user}"));
    let promoted = app.patch(&path, &admin.token, &promote).await;
    bodies.push(("user patch", promoted.text().await.unwrap()));
    #[rustfmt::skip]
    let gets = [
        ("me", "/api/v1/auth/me".to_string(), &access2), ("users list", "/api/v1/users?page_size=100".into(), &admin.token),
        ("user get", format!("/api/v1/users/{user}"), &admin.token), ("audit log", "/api/v1/admin/audit-log".into(), &admin.token),
        ("customers list", "/api/v1/customers?page_size=100".into(), &staff.token),
        ("customer get", format!("/api/v1/customers/{customer}"), &staff.token),
    ];
    for (label, path, token) in gets {
        bodies.push((label, app.get(&path, token).await.text().await.unwrap()));
    }
    #[rustfmt::skip]
    let secrets = [("password_hash", "password_hash"), ("an argon2 hash", "$argon2"), ("the password", PASSWORD),
        ("the admin password", ADMIN_PASSWORD), ("the JWT secret", DEV_JWT_SECRET), ("the first access token", &access),
        ("the first refresh token", &refresh), ("the second access token", &access2), ("the second refresh token", &refresh2)];
    assert!(bodies.iter().all(|(_, b)| b.starts_with('{')), "{bodies:?}");
    for (label, body) in &bodies {
        assert_no_secret(label, body, &secrets);
    }
    // The issuing responses carry their own pair only: no hash, not the refresh token they
    // replaced. (An access token re-issued within the same second has the same claims, so it
    // may equal the first one: not an echo.)
    assert_no_secret("login", &login.to_string(), &secrets[..5]);
    let not_in_refresh = [&secrets[..5], &secrets[6..7]].concat();
    assert_no_secret("refresh", &rotated.to_string(), &not_in_refresh);
    // Nor what the API stored for later display or delivery.
    let stored: String = sqlx::query_scalar(
        "SELECT concat((SELECT string_agg(concat(before, after), '') FROM audit_log), \
         (SELECT string_agg(payload::text, '') FROM outbox))",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert!(stored.contains("alice@example.com"), "{stored}");
    assert_no_secret("audit log and outbox rows", &stored, &secrets);
}

/// The API binary as a child process, killed when dropped.
struct ApiProcess(std::process::Child);

impl Drop for ApiProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_api_logs_no_password_hash_token_or_secret() {
    let database = crate::helpers::create_database().await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let namespace = format!("orderflow-test-{}", database.name);
    let jwt_secret = "owasp-log-test-jwt-secret-7f3c9a1e5b2d4c6e8a0b";
    let log_path = std::env::temp_dir().join(format!("{}.log", database.name));
    let log = std::fs::File::create(&log_path).unwrap();
    let database_url = format!("{}/{}", orderflow_testkit::pg_base(), database.name);
    #[rustfmt::skip]
    let vars = [
        ("APP_ENV", "test"), ("APP_HOST", "127.0.0.1"), ("APP_PORT", &port.to_string()), ("API_METRICS_PORT", "0"),
        ("DATABASE_URL", &database_url), ("DATABASE_MAX_CONNECTIONS", "5"), ("REDIS_URL", &orderflow_testkit::redis_url()),
        ("FIRST_ADMIN_EMAIL", ADMIN_EMAIL), ("FIRST_ADMIN_PASSWORD", ADMIN_PASSWORD), ("JWT_SECRET", jwt_secret),
        ("REDIS_KEY_PREFIX", &namespace), ("PASSWORD_HASH_CONCURRENCY", "2"), ("LOG_FORMAT", "json"), ("RUST_LOG", "debug"),
    ];
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_orderflow-api"));
    command.arg("serve").env_clear().envs(vars);
    command.stdout(log.try_clone().unwrap()).stderr(log);
    let mut api = ApiProcess(command.spawn().unwrap());
    let (base, client) = (format!("http://127.0.0.1:{port}"), reqwest::Client::new());
    let url = |path: &str| format!("{base}{path}");
    let started = std::time::Instant::now();
    let up = |r: reqwest::Response| r.status() == StatusCode::OK;
    while !client.get(url("/health")).send().await.is_ok_and(up) {
        let waited = started.elapsed().as_secs();
        assert!(waited < 60, "the API never answered; see {log_path:?}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (password, wrong) = ("log-Secret-Pa55word!", "wrong-Pa55word-guess");
    let login = |email: &str, password: &str| {
        let form = [("username", email), ("password", password)];
        client.post(url("/api/v1/auth/login")).form(&form).send()
    };
    let refresh = |token: &Value| {
        let body = json!({"refresh_token": token});
        client.post(url("/api/v1/auth/refresh")).json(&body).send()
    };
    let json_of = async |response: reqwest::Result<reqwest::Response>| -> Value {
        response.unwrap().json().await.unwrap()
    };
    let register = json!({"email": "logger@example.com", "password": password, "name": "L"});
    let registered = client.post(url("/api/v1/auth/register")).json(&register);
    let registered = registered.send().await.unwrap();
    assert_eq!(registered.status(), StatusCode::CREATED);
    let first = json_of(login("logger@example.com", password).await).await;
    let second = json_of(refresh(&first["refresh_token"]).await).await;
    let admin = json_of(login(ADMIN_EMAIL, ADMIN_PASSWORD).await).await;
    let token = |pair: &Value| pair["access_token"].as_str().unwrap().to_string();
    let tampered = format!("{}x", token(&first));
    #[rustfmt::skip]
    let calls = [("/api/v1/auth/me", token(&first)), ("/api/v1/orders", token(&second)),
        ("/api/v1/users", token(&admin)), ("/api/v1/auth/me", tampered.clone())];
    for (path, bearer) in calls {
        client
            .get(url(path))
            .bearer_auth(bearer)
            .send()
            .await
            .unwrap();
    }
    let failed = login("logger@example.com", wrong).await.unwrap();
    assert_eq!(failed.status(), StatusCode::UNAUTHORIZED);
    let reused = refresh(&first["refresh_token"]).await.unwrap();
    assert_eq!(reused.status(), StatusCode::UNAUTHORIZED);
    let logout = json!({"refresh_token": second["refresh_token"]});
    let logout = client.post(url("/api/v1/auth/logout")).json(&logout);
    logout.send().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let _ = api.0.kill();
    let _ = api.0.wait();
    let logs = std::fs::read_to_string(&log_path).unwrap();
    let _ = std::fs::remove_file(&log_path);
    orderflow_testkit::delete_redis_keys(&namespace).await;
    // The grep is only worth something if the requests were logged, refusals included.
    let api_lines = logs.lines().filter(|l| l.contains("/api/v1/"));
    let completed = api_lines
        .filter(|l| l.contains("request completed"))
        .count();
    assert!(completed >= 10, "{completed} request lines:\n{logs}");
    for refusal in [
        "access token refused",
        "refresh token reused",
        "request refused",
    ] {
        assert!(logs.contains(refusal), "no {refusal:?} line:\n{logs}");
    }
    #[rustfmt::skip]
    let mut secrets = vec![("the password", password), ("a wrong password", wrong), ("the admin password", ADMIN_PASSWORD),
        ("an argon2 hash", "$argon2"), ("the JWT secret", jwt_secret), ("a tampered token", tampered.as_str())];
    for pair in [&first, &second, &admin] {
        let signature = pair["access_token"].as_str().unwrap().rsplit('.').next();
        secrets.push(("an access token's signature", signature.unwrap()));
        secrets.push(("a refresh token", pair["refresh_token"].as_str().unwrap()));
    }
    assert_no_secret("the API's log", &logs, &secrets);
}
