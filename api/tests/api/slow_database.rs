//! The storm a slow database brings: every PostgreSQL reply held back 0–400 ms at random,
//! `REQUEST_TIMEOUT_SECONDS=1`, requests cut short at random by their clients and by the
//! timeout, while ordinary clients keep creating orders and attempting an invalid transition
//! (a 409, so a rollback). Every order answered 201 must be committed, and PostgreSQL must
//! never have to warn "there is already a transaction in progress".

use rand::Rng;
use reqwest::StatusCode;
use serde_json::json;
use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use crate::helpers::{json_ok, spawn_app_behind_proxy};

const STORM: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_201_is_committed_through_a_storm_of_cut_short_requests() {
    let (app, proxy, direct) = spawn_app_behind_proxy(&[("REQUEST_TIMEOUT_SECONDS", "1")]).await;
    let app = Arc::new(app);
    let admin = app.admin().await;
    let customer = app.customer("ada@example.com").await;
    let product = app.product(&admin, "P-1", "1.00").await["id"]
        .as_i64()
        .unwrap();
    let body = json!({
        "customer_id": customer.customer_id.unwrap(),
        "items": [{"product_id": product, "quantity": 1}]
    });
    let shipped = json_ok(
        app.post("/api/v1/orders", &customer.token, &body).await,
        StatusCode::CREATED,
    )
    .await["id"]
        .as_i64()
        .unwrap();
    app.force_status(shipped, "shipped").await;

    proxy.set_max_delay(Duration::from_millis(400));
    let until = Instant::now() + STORM;
    let answered_201: Arc<Mutex<Vec<i64>>> = Arc::default();
    let statuses: Arc<Mutex<BTreeMap<u16, usize>>> = Arc::default();
    let mut clients = Vec::new();
    for _ in 0..4 {
        let (app, body, customer, admin) = (
            app.clone(),
            body.clone(),
            customer.token.clone(),
            admin.token.clone(),
        );
        let (answered_201, statuses) = (answered_201.clone(), statuses.clone());
        clients.push(tokio::spawn(async move {
            while Instant::now() < until {
                let created = app
                    .client
                    .post(app.url("/api/v1/orders"))
                    .bearer_auth(&customer)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                let status = created.status();
                *statuses.lock().unwrap().entry(status.as_u16()).or_default() += 1;
                if status == StatusCode::CREATED {
                    let id = created.json::<serde_json::Value>().await.unwrap()["id"]
                        .as_i64()
                        .unwrap();
                    answered_201.lock().unwrap().push(id);
                }
                let invalid = app
                    .client
                    .patch(app.url(&format!("/api/v1/orders/{shipped}/status")))
                    .bearer_auth(&admin)
                    .json(&json!({"status": "pending"}))
                    .send()
                    .await
                    .unwrap();
                *statuses
                    .lock()
                    .unwrap()
                    .entry(invalid.status().as_u16())
                    .or_default() += 1;
            }
        }));
    }
    // Cutters: orders and transitions, each abandoned by its client after 1–1500 ms.
    let cut_by_client = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    for _ in 0..4 {
        let (app, body, customer, admin) = (
            app.clone(),
            body.clone(),
            customer.token.clone(),
            admin.token.clone(),
        );
        let (answered_201, cut_by_client) = (answered_201.clone(), cut_by_client.clone());
        clients.push(tokio::spawn(async move {
            while Instant::now() < until {
                let patience = Duration::from_millis(rand::rng().random_range(1..1500));
                let target = answered_201.lock().unwrap().last().copied();
                let request = match target {
                    Some(order) if rand::rng().random_bool(0.5) => app
                        .client
                        .patch(app.url(&format!("/api/v1/orders/{order}/status")))
                        .bearer_auth(&admin)
                        .json(&json!({"status": "processing"})),
                    _ => app
                        .client
                        .post(app.url("/api/v1/orders"))
                        .bearer_auth(&customer)
                        .json(&body),
                };
                if tokio::time::timeout(patience, request.send())
                    .await
                    .is_err()
                {
                    cut_by_client.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
        }));
    }
    for client in clients {
        client.await.unwrap();
    }
    proxy.set_max_delay(Duration::ZERO);
    let deadline = Instant::now() + Duration::from_secs(30);
    while app.db.stats().settling > 0 {
        assert!(Instant::now() < deadline, "connections never settled");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let answered_201 = answered_201.lock().unwrap().clone();
    let statuses = statuses.lock().unwrap().clone();
    let cut_short = app.db.stats().cut_short_total;
    let committed: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM orders WHERE id = ANY($1) ORDER BY id")
            .bind(&answered_201)
            .fetch_all(&direct)
            .await
            .unwrap();
    let lost: Vec<_> = answered_201
        .iter()
        .filter(|id| committed.binary_search(id).is_err())
        .collect();
    eprintln!(
        "storm: ordinary clients' statuses {statuses:?}; {} answered 201; {} cut by their \
         client; {cut_short} connections cut short mid-operation; lost {}",
        answered_201.len(),
        cut_by_client.load(std::sync::atomic::Ordering::Relaxed),
        lost.len()
    );
    assert!(
        lost.is_empty(),
        "orders answered 201 but not committed: {lost:?}"
    );
    let warnings = proxy.notices();
    assert!(warnings.is_empty(), "PostgreSQL warned: {warnings:?}");
    assert!(
        statuses.keys().all(|s| matches!(s, 201 | 409 | 503)),
        "an ordinary client got something else than 201, 409 or 503: {statuses:?}"
    );
    assert!(
        answered_201.len() >= 5 && statuses.contains_key(&409),
        "the storm let too little through to prove anything: {statuses:?}"
    );
    assert!(
        cut_short >= 20,
        "only {cut_short} operations were cut short: the storm did not storm"
    );
    let idle_in_transaction: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity \
         WHERE datname = current_database() AND state LIKE 'idle in transaction%'",
    )
    .fetch_one(&direct)
    .await
    .unwrap();
    assert_eq!(idle_in_transaction, 0);
}
