//! Scale-out: two API instances (this process's and an `orderflow-api` child process) and three
//! `orderflow-worker` processes against one PostgreSQL database and one Redis. Orders and
//! transitions go through both APIs alternately; one API instance is killed mid-way. Prints
//! its figures (`cargo test -p orderflow-worker --test jobs scale_out -- --nocapture`).

use reqwest::{Method, StatusCode};
use serde_json::json;
use std::{
    collections::BTreeMap,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use crate::helpers::{Killed, Stack, free_port};

const TTL_SECONDS: u64 = 8;
const WRITE_QUOTA: usize = 40;

/// The API binary built beside the worker's (`cargo test --workspace` builds both).
fn api_process(stack: &Stack, port: u16) -> Child {
    let worker = std::path::PathBuf::from(env!("CARGO_BIN_EXE_orderflow-worker"));
    let api = worker.with_file_name("orderflow-api");
    assert!(
        api.exists(),
        "{} missing: build the workspace first",
        api.display()
    );
    Command::new(api)
        .arg("serve")
        .env_clear()
        .envs(&stack.vars)
        .env("APP_PORT", port.to_string())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("api binary starts")
}

async fn wait_healthy(client: &reqwest::Client, url: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(r) = client.get(url).send().await
            && r.status() == StatusCode::OK
        {
            return;
        }
        assert!(Instant::now() < deadline, "{url} never answered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn header(data: &str, name: &str) -> Option<String> {
    data.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .map(|v| v.trim().to_string())
}

#[tokio::test]
async fn two_apis_and_three_workers_keep_every_guarantee() {
    let quota = WRITE_QUOTA.to_string();
    let ttl = TTL_SECONDS.to_string();
    let stack = Stack::start(&[
        ("PENDING_ORDER_TTL_SECONDS", &ttl),
        ("USER_WRITE_RATE_LIMIT_BURST", &quota),
        ("USER_WRITE_RATE_LIMIT_REPLENISH_MS", "600000"),
        ("CLEANUP_INTERVAL_SECONDS", "1"),
    ])
    .await;
    let client = &stack.client;
    let a = stack.api.clone();
    let b_port = free_port();
    let b = format!("http://127.0.0.1:{b_port}");
    // Killed on drop too, so a failing assertion leaves no process behind.
    let mut api_b = Killed(api_process(&stack, b_port));
    let worker_ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let workers: Vec<Killed> = worker_ports
        .iter()
        .map(|port| Killed(stack.worker_process_with(&[("WORKER_PORT", port.to_string())])))
        .collect();
    wait_healthy(client, &format!("{b}/ready")).await;
    for port in &worker_ports {
        wait_healthy(client, &format!("http://127.0.0.1:{port}/health")).await;
    }
    let apis = [a.as_str(), b.as_str()];

    let admin = stack.admin().await;
    let product = stack.product(&admin, "P-1", "Lamp", "20.00").await;
    let mut customers = Vec::new();
    for i in 0..3 {
        customers.push(
            stack
                .customer(&format!("c{i}@example.com"), &format!("Customer {i}"))
                .await,
        );
    }

    // 1. Orders through both instances alternately.
    let mut accepted: BTreeMap<i64, &str> = BTreeMap::new();
    for n in 0..24 {
        let (token, customer_id) = &customers[n % 3];
        let via = apis[n % 2];
        let body =
            json!({"customer_id": customer_id, "items": [{"product_id": product, "quantity": 1}]});
        let (status, order) = stack
            .call_at(
                via,
                Method::POST,
                "/api/v1/orders",
                token,
                Some(body),
                Some(&format!("k-{n}")),
            )
            .await
            .unwrap();
        assert_eq!(status, StatusCode::CREATED, "{order}");
        accepted.insert(order["id"].as_i64().unwrap(), via);
    }

    // 2. A write through one instance is never read stale through the other.
    let ids: Vec<i64> = accepted.keys().copied().collect();
    for (n, id) in ids.iter().take(12).enumerate() {
        let (writer, reader) = (apis[n % 2], apis[(n + 1) % 2]);
        let path = format!("/api/v1/orders/{id}");
        let (_, before) = stack
            .call_at(reader, Method::GET, &path, &admin, None, None)
            .await
            .unwrap();
        assert_eq!(before["status"], "pending");
        let (status, _) = stack
            .call_at(
                writer,
                Method::PATCH,
                &format!("{path}/status"),
                &admin,
                Some(json!({"status": "processing"})),
                None,
            )
            .await
            .unwrap();
        assert_eq!(status, StatusCode::OK);
        let (_, after) = stack
            .call_at(reader, Method::GET, &path, &admin, None, None)
            .await
            .unwrap();
        assert_eq!(
            after["status"], "processing",
            "order {id} read stale through the other instance"
        );
    }

    // 3. A user's write quota is one quota across both instances.
    let (limited, _) = stack.customer("limited@example.com", "Limited").await;
    let mut allowed = 0;
    let mut refused = 0;
    for n in 0..(WRITE_QUOTA + 10) {
        let (status, _) = stack
            .call_at(
                apis[n % 2],
                Method::POST,
                "/api/v1/customers",
                &limited,
                Some(json!({})),
                None,
            )
            .await
            .unwrap();
        if status == StatusCode::TOO_MANY_REQUESTS {
            refused += 1;
        } else {
            allowed += 1;
        }
    }
    assert_eq!(
        (allowed, refused),
        (WRITE_QUOTA, 10),
        "one quota for both instances"
    );

    // 4. Instance B is killed: the orders it accepted stay; clients retry on A with the same key.
    let (token, customer_id) = &customers[0];
    let mut retried = 0;
    for n in 24..34 {
        if n == 29 {
            let child = &mut api_b.0;
            child.kill().unwrap();
            child.wait().unwrap();
        }
        let key = format!("k-{n}");
        let body =
            json!({"customer_id": customer_id, "items": [{"product_id": product, "quantity": 1}]});
        let first = stack
            .call_at(
                &b,
                Method::POST,
                "/api/v1/orders",
                token,
                Some(body.clone()),
                Some(&key),
            )
            .await;
        let order = match first {
            Ok((StatusCode::CREATED, order)) => order,
            _ => {
                retried += 1;
                let (status, order) = stack
                    .call_at(
                        &a,
                        Method::POST,
                        "/api/v1/orders",
                        token,
                        Some(body),
                        Some(&key),
                    )
                    .await
                    .unwrap();
                assert_eq!(status, StatusCode::CREATED, "{order}");
                order
            }
        };
        accepted.insert(order["id"].as_i64().unwrap(), "b-or-retry");
    }
    assert_eq!(retried, 5, "every order after the kill went to A");
    assert_eq!(accepted.len(), 34);
    let in_db: i64 = stack.scalar("SELECT count(*) FROM orders").await;
    assert_eq!(
        in_db, 34,
        "one order per accepted request, none lost, none doubled"
    );

    // 5. Every order confirmed once; every order left pending expired and cancelled once.
    let pending = 34 - 12;
    let started = Instant::now();
    let expected_emails = 34 + pending;
    stack
        .smtp
        .wait_for(expected_emails, Duration::from_secs(TTL_SECONDS + 40))
        .await;
    let drained = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let messages = stack.smtp.messages();
    let mut per_order: BTreeMap<(i64, String), usize> = BTreeMap::new();
    let mut message_ids = std::collections::BTreeSet::new();
    for m in &messages {
        let order: i64 = header(&m.data, "X-OrderFlow-Order-Id")
            .unwrap()
            .parse()
            .unwrap();
        let kind = if m.subject().ends_with("received") {
            "confirmation"
        } else {
            "status"
        };
        *per_order.entry((order, kind.to_string())).or_default() += 1;
        message_ids.insert(header(&m.data, "Message-ID").unwrap());
    }
    let duplicates = messages.len() - message_ids.len();
    assert_eq!(messages.len(), expected_emails, "{per_order:?}");
    assert_eq!(duplicates, 0);
    for id in accepted.keys() {
        assert_eq!(
            per_order.get(&(*id, "confirmation".into())),
            Some(&1),
            "order {id}"
        );
    }
    let expired: i64 = stack
        .scalar("SELECT count(*) FROM audit_log WHERE action = 'order.expired'")
        .await;
    let expired_orders: i64 = stack
        .scalar("SELECT count(DISTINCT entity_id) FROM audit_log WHERE action = 'order.expired'")
        .await;
    assert_eq!((expired, expired_orders), (pending as i64, pending as i64));
    let cancelled: i64 = stack
        .scalar("SELECT count(*) FROM orders WHERE status = 'cancelled'")
        .await;
    assert_eq!(cancelled, pending as i64);

    // 6. The outbox dispatched each job once: no job ran a second attempt.
    let rerun: i64 = stack
        .scalar("SELECT count(*) FROM outbox WHERE attempts <> 1")
        .await;
    let jobs: i64 = stack.scalar("SELECT count(*) FROM outbox").await;
    assert_eq!(rerun, 0, "of {jobs} jobs, some ran more than once");

    // 7. Cleanup deletes each due row once, whichever worker runs it.
    sqlx::query(
        "INSERT INTO idempotency_keys (user_id, key, request_hash, status_code, response_body, expires_at) \
         SELECT u.id, 'old-' || g, '\\x00', 201, '{}', now() - interval '1 second' \
         FROM (SELECT id FROM users ORDER BY id LIMIT 1) u, generate_series(1, 30) g",
    )
    .execute(&stack.db)
    .await
    .unwrap();
    stack
        .wait_scalar(
            "SELECT count(*) FROM idempotency_keys WHERE expires_at < now()",
            0,
            Duration::from_secs(15),
        )
        .await;
    let mut deleted = 0.0;
    let mut cleaners = 0;
    for port in &worker_ports {
        let text = client
            .get(format!("http://127.0.0.1:{port}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let here: f64 = text
            .lines()
            .filter(|l| {
                l.starts_with("orderflow_cleanup_deleted_total") && l.contains("idempotency")
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        if here > 0.0 {
            cleaners += 1;
        }
        deleted += here;
    }
    assert_eq!(deleted, 30.0, "each expired key deleted (and counted) once");

    println!(
        "scale-out: 2 API instances, 3 workers; {} orders accepted ({} retried on A after B was \
         killed, 0 lost); {} emails ({} confirmations, {} cancellations), 0 duplicates, the last \
         {:.1} s after the last order (expiry TTL {TTL_SECONDS} s); {} expiries, each once; write quota {}/{} across both \
         instances; {} jobs, each run once; 30 expired keys deleted once (by {} of 3 workers)",
        accepted.len(),
        retried,
        messages.len(),
        34,
        pending,
        drained.as_secs_f64(),
        expired,
        allowed,
        allowed + refused,
        jobs,
        cleaners
    );
    drop(workers);
}
