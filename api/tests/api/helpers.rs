//! Starts the real application on 127.0.0.1:0 against a fresh PostgreSQL database per test,
//! and offers typed helpers for the common calls.

use orderflow_api::Application;
use orderflow_shared::db::Pool;
use orderflow_shared::settings::ApiSettings;
use orderflow_testkit::{TestDatabase, pg_base, redis_url};
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};
use std::collections::HashMap;
use tokio::sync::oneshot;

pub const ADMIN_EMAIL: &str = "admin@orderflow.test";
pub const ADMIN_PASSWORD: &str = "admin-password-123";
pub const PASSWORD: &str = "customer-password-1";

/// Settings for a test app: its own database, test profile, generous rate limits.
pub fn test_settings(db_name: &str, overrides: &[(&str, &str)]) -> ApiSettings {
    let mut vars: HashMap<String, String> = [
        ("APP_ENV", "test".to_string()),
        ("APP_PORT", "0".to_string()),
        ("API_METRICS_PORT", "0".to_string()),
        ("DATABASE_URL", format!("{}/{db_name}", pg_base())),
        ("DATABASE_MAX_CONNECTIONS", "5".to_string()),
        ("REDIS_URL", redis_url()),
        ("FIRST_ADMIN_EMAIL", ADMIN_EMAIL.to_string()),
        ("FIRST_ADMIN_PASSWORD", ADMIN_PASSWORD.to_string()),
        ("AUTH_RATE_LIMIT_BURST", "1000".to_string()),
        ("API_RATE_LIMIT_BURST", "10000".to_string()),
        ("USER_WRITE_RATE_LIMIT_BURST", "10000".to_string()),
        ("USER_READ_RATE_LIMIT_BURST", "10000".to_string()),
        // Quota tests need Redis' answer, not the local fallback, even on a loaded machine.
        ("RATE_LIMIT_TIMEOUT_MS", "1000".to_string()),
        ("PASSWORD_HASH_CONCURRENCY", "2".to_string()),
        // Redis keys (the read cache, job queues) of this test only: the databases of
        // different tests hand out the same ids.
        ("REDIS_KEY_PREFIX", format!("orderflow-test-{db_name}")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    for (k, v) in overrides {
        vars.insert(k.to_string(), v.to_string());
    }
    ApiSettings::from_lookup(|k| vars.get(k).cloned()).expect("test settings are valid")
}

pub async fn create_database() -> TestDatabase {
    TestDatabase::create().await
}

pub struct TestApp {
    pub address: String,
    /// The metrics listener (`API_METRICS_PORT`), e.g. `http://127.0.0.1:41234`.
    pub metrics_address: String,
    pub client: Client,
    pub db: Pool,
    pub namespace: String,
    pub users: std::sync::Arc<orderflow_api::auth::user_cache::UserCache>,
    pub settings: ApiSettings,
    /// The first instance owns (and drops) the database; others share it.
    _database: Option<TestDatabase>,
    _shutdown: oneshot::Sender<()>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let namespace = self.namespace.clone();
        orderflow_testkit::block_on_thread(async move {
            orderflow_testkit::delete_redis_keys(&namespace).await;
        });
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

pub async fn spawn_app_with(overrides: &[(&str, &str)]) -> TestApp {
    init_logs();
    let database = create_database().await;
    let settings = test_settings(&database.name, overrides);
    start(settings, database).await
}

/// An app whose every PostgreSQL connection goes through a protocol proxy (which can hold or
/// delay the server's replies), with `overrides`; and a pool straight to its database.
pub async fn spawn_app_behind_proxy(
    overrides: &[(&str, &str)],
) -> (TestApp, orderflow_testkit::pg_proxy::PgProxy, sqlx::PgPool) {
    init_logs();
    let database = create_database().await;
    let proxy = orderflow_testkit::pg_proxy::PgProxy::in_front_of(&database.url()).await;
    let url = proxy.url_for(&database.url());
    let mut all = vec![("DATABASE_URL", url.as_str())];
    all.extend_from_slice(overrides);
    let settings = test_settings(&database.name, &all);
    let direct = sqlx::PgPool::connect(&database.url()).await.unwrap();
    (start(settings, database).await, proxy, direct)
}

pub async fn start(settings: ApiSettings, database: TestDatabase) -> TestApp {
    start_instance(settings, Some(database)).await
}

async fn start_instance(settings: ApiSettings, database: Option<TestDatabase>) -> TestApp {
    let namespace = settings.core.key_prefix.clone();
    let app = Application::build(settings.clone())
        .await
        .expect("app builds");
    let address = format!("http://{}", app.local_addr());
    let metrics_address = format!("http://{}", app.metrics_addr());
    let db = app.state().db.clone();
    let users = app.state().users.clone();
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(app.run_until(async {
        let _ = rx.await;
    }));
    TestApp {
        address,
        metrics_address,
        client: Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        db,
        namespace,
        users,
        settings,
        _database: database,
        _shutdown: tx,
    }
}

impl TestApp {
    /// Another API instance on the same database and Redis namespace, as behind a load
    /// balancer.
    pub async fn second_instance(&self) -> TestApp {
        start_instance(self.settings.clone(), None).await
    }
}

/// `TEST_LOG=1` shows the application's logs. Otherwise a global subscriber that keeps only
/// sqlx's statement events (and does nothing with them) is installed, so that tracing's global
/// interest and level caches never turn those events off while tests on other threads come
/// and go: `StatementCounter` (a per-thread subscriber) relies on them being emitted.
fn init_logs() {
    if std::env::var("TEST_LOG").is_ok() {
        let _ = orderflow_shared::telemetry::init(
            orderflow_shared::settings::LogFormat::Pretty,
            "debug,sqlx=info,hyper=info",
            "orderflow-test",
        );
    } else {
        use tracing_subscriber::{Layer, filter::filter_fn, layer::SubscriberExt};
        struct Ignore;
        impl<S: tracing::Subscriber> Layer<S> for Ignore {}
        let _ = tracing::subscriber::set_global_default(
            tracing_subscriber::registry()
                .with(Ignore.with_filter(filter_fn(|m| m.target() == "sqlx::query"))),
        );
    }
}

/// A logged-in user: its bearer token and `/me` data.
#[derive(Debug, Clone)]
pub struct Session {
    pub token: String,
    pub refresh_token: String,
    pub user_id: i64,
    pub customer_id: Option<i64>,
}

impl TestApp {
    /// Waits until the user cache listens for changes (it connects in the background at
    /// start; until then every request reads its user).
    pub async fn user_cache_live(&self) {
        for _ in 0..500 {
            if self.users.is_live() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("the user cache never went live");
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub async fn post(&self, path: &str, token: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn patch(&self, path: &str, token: &str, body: &Value) -> Response {
        self.client
            .patch(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn delete(&self, path: &str, token: &str) -> Response {
        self.client
            .delete(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub async fn register(&self, email: &str, password: &str, name: &str) -> Response {
        self.client
            .post(self.url("/api/v1/auth/register"))
            .json(&json!({"email": email, "password": password, "name": name}))
            .send()
            .await
            .unwrap()
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.client
            .post(self.url("/api/v1/auth/login"))
            .form(&[("username", email), ("password", password)])
            .send()
            .await
            .unwrap()
    }

    pub async fn session(&self, email: &str, password: &str) -> Session {
        let tokens = json_ok(self.login(email, password).await, StatusCode::OK).await;
        let token = tokens["access_token"].as_str().unwrap().to_string();
        let me = json_ok(self.get("/api/v1/auth/me", &token).await, StatusCode::OK).await;
        Session {
            token,
            refresh_token: tokens["refresh_token"].as_str().unwrap().to_string(),
            user_id: me["id"].as_i64().unwrap(),
            customer_id: me["customer_id"].as_i64(),
        }
    }

    pub async fn admin(&self) -> Session {
        self.session(ADMIN_EMAIL, ADMIN_PASSWORD).await
    }

    /// Registers a customer and logs it in.
    pub async fn customer(&self, email: &str) -> Session {
        json_ok(
            self.register(email, PASSWORD, "Test Customer").await,
            StatusCode::CREATED,
        )
        .await;
        self.session(email, PASSWORD).await
    }

    /// Registers a user, has the admin promote it to staff, and logs it in.
    pub async fn staff(&self, email: &str) -> Session {
        let admin = self.admin().await;
        let user = json_ok(
            self.register(email, PASSWORD, "Staff Member").await,
            StatusCode::CREATED,
        )
        .await;
        let path = format!("/api/v1/users/{}", user["id"]);
        json_ok(
            self.patch(&path, &admin.token, &json!({"role": "staff"}))
                .await,
            StatusCode::OK,
        )
        .await;
        self.session(email, PASSWORD).await
    }

    /// Creates a product as admin and returns it.
    pub async fn product(&self, admin: &Session, sku: &str, price: &str) -> Value {
        let body = json!({"sku": sku, "name": format!("Product {sku}"), "price": price});
        json_ok(
            self.post("/api/v1/products", &admin.token, &body).await,
            StatusCode::CREATED,
        )
        .await
    }
}

/// Asserts the status and returns the JSON body.
pub async fn json_ok(response: Response, status: StatusCode) -> Value {
    let actual = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(actual, status, "unexpected status; body: {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// Asserts an error response in the one error shape and returns its body.
pub async fn assert_error(response: Response, status: StatusCode, code: &str) -> Value {
    let request_id = response
        .headers()
        .get("x-request-id")
        .expect("x-request-id on every response")
        .to_str()
        .unwrap()
        .to_string();
    let content_type = response.headers().get("content-type").cloned();
    let body = json_ok(response, status).await;
    assert_eq!(content_type.unwrap(), "application/json", "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{body}"
    );
    assert_eq!(body["request_id"], request_id, "{body}");
    body
}

/// The fields named in a 422's `errors`.
pub fn error_fields(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .expect("422 has errors")
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_string())
        .collect()
}

impl TestApp {
    /// Places an order and returns the response.
    pub async fn place_order(
        &self,
        session: &Session,
        customer_id: i64,
        items: &[(i64, i64)],
    ) -> Response {
        let items: Vec<Value> = items
            .iter()
            .map(|(product_id, quantity)| json!({"product_id": product_id, "quantity": quantity}))
            .collect();
        self.post(
            "/api/v1/orders",
            &session.token,
            &json!({"customer_id": customer_id, "items": items}),
        )
        .await
    }

    /// Places an order that must succeed and returns it.
    pub async fn order(&self, session: &Session, customer_id: i64, items: &[(i64, i64)]) -> Value {
        json_ok(
            self.place_order(session, customer_id, items).await,
            StatusCode::CREATED,
        )
        .await
    }

    /// A 1.00 product and one pending order of it for `customer`; returns the order id.
    pub async fn pending_order(&self, admin: &Session, customer: &Session) -> i64 {
        let product = self.product(admin, "P-1", "1.00").await["id"]
            .as_i64()
            .unwrap();
        self.order(customer, customer.customer_id.unwrap(), &[(product, 1)])
            .await["id"]
            .as_i64()
            .unwrap()
    }

    /// Sets an order's status directly in the database (test set-up only), and recomputes
    /// the rollups, as anyone writing orders behind the service's back must.
    pub async fn force_status(&self, order_id: i64, status: &str) {
        sqlx::query("UPDATE orders SET status = $2 WHERE id = $1")
            .bind(order_id)
            .bind(status)
            .execute(&self.db)
            .await
            .unwrap();
        sqlx::query("SELECT rebuild_order_stats()")
            .execute(&self.db)
            .await
            .unwrap();
    }

    pub async fn count(&self, sql: &'static str) -> i64 {
        sqlx::query_scalar(sql).fetch_one(&self.db).await.unwrap()
    }
}

/// Counts the SQL statements sqlx executes on this thread while it lives. Tests run the app
/// on the test's own single-threaded runtime, so only this test's statements count. Install it
/// before the app runs any statement: tracing caches per-callsite interest, and a subscriber
/// set later can miss the first events.
pub struct StatementCounter {
    count: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    _guard: tracing::subscriber::DefaultGuard,
}

impl StatementCounter {
    pub fn install() -> Self {
        use std::sync::{
            Arc,
            atomic::{AtomicUsize, Ordering},
        };
        use tracing_subscriber::{Layer, filter::filter_fn, layer::SubscriberExt};

        struct Count(Arc<AtomicUsize>);
        impl<S: tracing::Subscriber> Layer<S> for Count {
            fn on_event(
                &self,
                _: &tracing::Event<'_>,
                _: tracing_subscriber::layer::Context<'_, S>,
            ) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let count = Arc::new(AtomicUsize::new(0));
        let subscriber = tracing_subscriber::registry()
            .with(Count(count.clone()).with_filter(filter_fn(|m| m.target() == "sqlx::query")));
        Self {
            count,
            _guard: tracing::subscriber::set_default(subscriber),
        }
    }

    /// Statements since the last call (or since install).
    pub fn take(&self) -> usize {
        self.count.swap(0, std::sync::atomic::Ordering::SeqCst)
    }
}
