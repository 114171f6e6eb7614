//! Redis hanging (accepting connections, never answering) must not cost clients anything: every
//! order still gets its 201, and the jobs wait in the outbox for the worker's sweep.

use futures::future::join_all;
use reqwest::StatusCode;
use tokio::net::TcpListener;

use crate::helpers::spawn_app_with;

#[tokio::test]
async fn a_hanging_redis_does_not_turn_a_burst_of_orders_into_errors() {
    // A black hole: connections are accepted and then ignored.
    let hole = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("redis://{}", hole.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = hole.accept().await {
            held.push(socket);
        }
    });
    // A small pool and a short acquire timeout make any connection hoarding visible as 503s.
    let app = spawn_app_with(&[
        ("REDIS_URL", &url),
        ("DATABASE_ACQUIRE_TIMEOUT_SECONDS", "1"),
        // As in production: a hanging Redis costs a request at most this long.
        ("RATE_LIMIT_TIMEOUT_MS", "50"),
    ])
    .await;
    let admin = app.admin().await;
    let ada = app.customer("ada@example.com").await;
    let p = app.product(&admin, "P-1", "1.00").await["id"]
        .as_i64()
        .unwrap();

    let items = [(p, 1)];
    let responses =
        join_all((0..12).map(|_| app.place_order(&ada, ada.customer_id.unwrap(), &items))).await;
    let statuses: Vec<StatusCode> = responses.iter().map(|r| r.status()).collect();
    assert!(
        statuses.iter().all(|s| *s == StatusCode::CREATED),
        "{statuses:?}"
    );
    assert_eq!(app.count("SELECT count(*) FROM orders").await, 12);
    assert_eq!(
        app.count("SELECT count(*) FROM outbox WHERE kind = 'send_order_confirmation'")
            .await,
        12,
        "every order's email is waiting in the outbox"
    );
}
