//! One id from request to email: under concurrency, every line a worker logs for a job names
//! that job's order, outbox row and the request id of the HTTP request that caused it, and
//! nothing else's. (An earlier version entered spans across `.await`: lines were attributed
//! to the wrong order and request.)

use reqwest::StatusCode;
use serde_json::{Value, json};
use std::{
    collections::HashMap,
    io::{BufRead, BufReader},
    sync::{Arc, Mutex},
    time::Duration,
};

use crate::helpers::{Killed, Stack, free_port};

/// (kind of job, order id) → the request id of the HTTP request that enqueued it.
type Origins = HashMap<(String, i64), String>;

async fn post_order(stack: &Stack, token: &str, body: &Value) -> (i64, String) {
    let r = stack
        .client
        .post(stack.url("/api/v1/orders"))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let request_id = r.headers()["x-request-id"].to_str().unwrap().to_string();
    let id = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    (id, request_id)
}

async fn cancel(stack: &Stack, admin: &str, order_id: i64) -> String {
    let r = stack
        .client
        .patch(stack.url(&format!("/api/v1/orders/{order_id}/status")))
        .bearer_auth(admin)
        .json(&json!({"status": "cancelled"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.headers()["x-request-id"].to_str().unwrap().to_string()
}

#[tokio::test]
async fn every_worker_log_line_names_its_own_order_outbox_row_and_request() {
    let stack = Stack::start(&[]).await;
    let admin = stack.admin().await;
    let product = stack.product(&admin, "LOG-1", "Lamp", "20.00").await;
    let (token, customer) = stack.customer("logs@example.com", "Lou").await;
    let body = json!({"customer_id": customer, "items": [{"product_id": product, "quantity": 1}]});

    // Jobs pile up before the worker starts, so it runs many of them at once.
    let posts = (0..16).map(|_| post_order(&stack, &token, &body));
    let placed = futures::future::join_all(posts).await;
    let mut origins = Origins::new();
    for (id, request_id) in &placed {
        origins.insert(("order_confirmation".into(), *id), request_id.clone());
    }
    for (id, _) in placed.iter().take(8) {
        let request_id = cancel(&stack, &admin, *id).await;
        origins.insert(("status_changed".into(), *id), request_id);
    }

    let port = free_port();
    let mut worker = Killed(stack.worker_process_logged(&[
        ("WORKER_PORT", port.to_string()),
        ("WORKER_CONCURRENCY", "8".into()),
    ]));
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let reader = {
        let out = worker.0.stdout.take().unwrap();
        let lines = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        })
    };
    let emails = stack.smtp.wait_for(24, Duration::from_secs(30)).await;
    assert_eq!(emails.len(), 24);
    tokio::time::sleep(Duration::from_millis(500)).await;
    drop(worker);
    reader.join().unwrap();

    let outbox: HashMap<i64, (String, i64)> = sqlx::query_as::<_, (i64, String, i64)>(
        "SELECT id, kind, (payload->>'order_id')::bigint FROM outbox",
    )
    .fetch_all(&stack.db)
    .await
    .unwrap()
    .into_iter()
    .map(|(id, kind, order)| (id, (kind, order)))
    .collect();
    let order_of_message: HashMap<String, i64> = emails
        .iter()
        .map(|m| {
            let parsed = m.parsed();
            let id = parsed.message_id().unwrap().to_string();
            let order = parsed
                .header_raw("X-OrderFlow-Order-Id")
                .unwrap()
                .trim()
                .parse()
                .unwrap();
            (id, order)
        })
        .collect();

    let lines = lines.lock().unwrap();
    let mut job_lines = 0;
    let mut sent = 0;
    for line in lines.iter() {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let span = &v["span"];
        if span["name"] != "job" {
            continue;
        }
        job_lines += 1;
        let kind = span["kind"].as_str().unwrap();
        let order = span["order_id"].as_i64().unwrap();
        let outbox_id = span["outbox_id"].as_i64().unwrap();
        let request_id = span["request_id"].as_str().unwrap();
        // Fields the event itself names agree with its span.
        if let Some(o) = v["order_id"].as_i64() {
            assert_eq!(o, order, "{line}");
        }
        if let Some(o) = v["outbox_id"].as_i64() {
            assert_eq!(o, outbox_id, "{line}");
        }
        // The span's outbox row is a job for that order, of that kind.
        let (row_kind, row_order) = &outbox[&outbox_id];
        assert_eq!(*row_order, order, "{line}");
        let expected_kind = match kind {
            "status_changed" => "send_order_status_changed",
            _ => "send_order_confirmation",
        };
        assert_eq!(row_kind, expected_kind, "{line}");
        // And the request id is the one of the HTTP request that enqueued it.
        assert_eq!(
            origins.get(&(kind.to_string(), order)).map(String::as_str),
            Some(request_id),
            "{line}"
        );
        if v["message"] == "email sent" {
            sent += 1;
            let message_id = v["message_id"].as_str().unwrap();
            let bare = message_id.trim_matches(['<', '>']);
            assert_eq!(order_of_message.get(bare), Some(&order), "{line}");
        }
    }
    assert_eq!(sent, 24, "one 'email sent' line per email");
    assert!(job_lines >= 48, "{job_lines} job lines");
}
