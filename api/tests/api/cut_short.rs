//! Write requests cut short — the client gone, or the request timeout — at each database
//! await of their path, through a proxy that holds PostgreSQL's reply at that moment. The
//! pool must settle the connection: afterwards every write answered 201/200 is committed, no
//! session is left in a transaction, and the server warned nobody.

use orderflow_testkit::pg_proxy::PgProxy;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

use crate::helpers::{Session, TestApp, assert_error, json_ok, spawn_app_behind_proxy};

const PATIENCE: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy)]
enum Cut {
    /// The client closes its connection while the reply is held.
    ClientGone,
    /// The server's request timeout (1 s here) fires while the reply is held.
    RequestTimeout,
}

struct World {
    app: TestApp,
    proxy: PgProxy,
    /// Straight to the database: sees only what is committed.
    direct: sqlx::PgPool,
    admin: Session,
    customer: Session,
    product: i64,
}

async fn world() -> World {
    let (app, proxy, direct) = spawn_app_behind_proxy(&[("REQUEST_TIMEOUT_SECONDS", "1")]).await;
    let admin = app.admin().await;
    let customer = app.customer("ada@example.com").await;
    let product = app.product(&admin, "P-1", "1.00").await["id"]
        .as_i64()
        .unwrap();
    World {
        app,
        proxy,
        direct,
        admin,
        customer,
        product,
    }
}

impl World {
    fn order_body(&self) -> Value {
        json!({
            "customer_id": self.customer.customer_id.unwrap(),
            "items": [{"product_id": self.product, "quantity": 1}]
        })
    }

    async fn order(&self) -> i64 {
        let body = self.order_body();
        json_ok(
            self.app
                .post("/api/v1/orders", &self.customer.token, &body)
                .await,
            StatusCode::CREATED,
        )
        .await["id"]
            .as_i64()
            .unwrap()
    }

    async fn status_in_database(&self, order: i64) -> String {
        sqlx::query_scalar("SELECT status FROM orders WHERE id = $1")
            .bind(order)
            .fetch_one(&self.direct)
            .await
            .unwrap()
    }

    /// Sends `request`, holds PostgreSQL's reply to the statement matching `pattern`, cuts
    /// the request there, then lets the reply through.
    async fn cut(&self, pattern: &str, how: Cut, request: reqwest::RequestBuilder) {
        let before = self.app.db.stats().cut_short_total;
        let hold = self.proxy.hold_reply(pattern);
        let sent = tokio::spawn(request.send());
        tokio::time::timeout(PATIENCE, hold.reached())
            .await
            .unwrap_or_else(|_| panic!("the request reached {pattern:?}"));
        match how {
            Cut::ClientGone => sent.abort(),
            Cut::RequestTimeout => {
                let response = tokio::time::timeout(PATIENCE, sent)
                    .await
                    .expect("the request timeout answers")
                    .unwrap()
                    .unwrap();
                assert_error(
                    response,
                    StatusCode::SERVICE_UNAVAILABLE,
                    "service_unavailable",
                )
                .await;
            }
        }
        // The handler was dropped at that await (not merely answered around).
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while self.app.db.stats().cut_short_total == before {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{how:?} at {pattern:?} did not cut the request short"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        hold.release();
        while self.app.db.stats().settling > 0 {
            assert!(tokio::time::Instant::now() < deadline, "never settled");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// What every cut must leave behind: later orders and transitions committed, no session
    /// in a transaction, no warning from the server.
    async fn later_writes_commit(&self) {
        for _ in 0..5 {
            let id = self.order().await;
            let exists: i64 = sqlx::query_scalar("SELECT count(*) FROM orders WHERE id = $1")
                .bind(id)
                .fetch_one(&self.direct)
                .await
                .unwrap();
            assert_eq!(
                exists, 1,
                "order {id} was answered 201 but is not committed"
            );
        }
        let order = self.order().await;
        json_ok(
            self.app
                .patch(
                    &format!("/api/v1/orders/{order}/status"),
                    &self.admin.token,
                    &json!({"status": "processing"}),
                )
                .await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(self.status_in_database(order).await, "processing");
        let notices = self.proxy.notices();
        assert!(notices.is_empty(), "the server warned: {notices:?}");
        let idle_in_transaction: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND state LIKE 'idle in transaction%'",
        )
        .fetch_one(&self.direct)
        .await
        .unwrap();
        assert_eq!(idle_in_transaction, 0);
    }

    async fn cut_a_status_change(&self, pattern: &str, how: Cut) {
        let order = self.order().await;
        let request = self
            .app
            .client
            .patch(self.app.url(&format!("/api/v1/orders/{order}/status")))
            .bearer_auth(&self.admin.token)
            .json(&json!({"status": "processing"}));
        self.cut(pattern, how, request).await;
        let status = self.status_in_database(order).await;
        if pattern == "COMMIT" {
            // Only the answer was held: the server committed.
            assert_eq!(status, "processing");
        } else {
            assert_eq!(status, "pending", "a cut-short change was not rolled back");
        }
        self.later_writes_commit().await;
    }

    async fn cut_an_order(&self, how: Cut) {
        let request = self
            .app
            .client
            .post(self.app.url("/api/v1/orders"))
            .bearer_auth(&self.customer.token)
            .json(&self.order_body());
        self.cut("WITH lock AS", how, request).await;
        self.later_writes_commit().await;
    }
}

#[tokio::test]
async fn a_status_change_cut_short_at_begin() {
    let w = world().await;
    w.cut_a_status_change("BEGIN", Cut::ClientGone).await;
    w.cut_a_status_change("BEGIN", Cut::RequestTimeout).await;
}

#[tokio::test]
async fn a_status_change_cut_short_at_its_update() {
    let w = world().await;
    w.cut_a_status_change("UPDATE orders SET status", Cut::ClientGone)
        .await;
    w.cut_a_status_change("UPDATE orders SET status", Cut::RequestTimeout)
        .await;
}

#[tokio::test]
async fn a_status_change_cut_short_at_commit() {
    let w = world().await;
    w.cut_a_status_change("COMMIT", Cut::ClientGone).await;
    w.cut_a_status_change("COMMIT", Cut::RequestTimeout).await;
}

#[tokio::test]
async fn an_order_cut_short_at_its_insert() {
    let w = world().await;
    w.cut_an_order(Cut::ClientGone).await;
    w.cut_an_order(Cut::RequestTimeout).await;
}
