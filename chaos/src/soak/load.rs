//! The soak's steady mixed load: customers placing orders with Idempotency-Keys (and retrying
//! with the same key when a request fails or is cut short), staff reading, listing and moving
//! orders along, logins; about one request in twenty abandoned by its client after a few
//! milliseconds. Every request is recorded with its route, status and latency.

use rand::Rng;
use reqwest::{Client, RequestBuilder, StatusCode};
use serde_json::{Value, json};
use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use tokio::sync::watch;

/// A client that waits longer than this for an answer gives up (and says so).
const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);
/// Share of requests the client abandons after 1–200 ms.
const CUT_SHARE: f64 = 0.05;

/// One request as its client saw it.
#[derive(Debug, Clone)]
pub struct Record {
    /// Since the soak started.
    pub at: Duration,
    pub route: &'static str,
    /// Which API instance (index).
    pub api: usize,
    /// `None`: no answer (connection refused or reset, or the client's timeout).
    pub status: Option<u16>,
    /// The client abandoned it on purpose.
    pub cut: bool,
    pub took: Duration,
}

/// An order a client was answered 201 for.
#[derive(Debug, Clone)]
pub struct Created {
    pub key: String,
    pub id: i64,
    pub lines: usize,
}

/// What the load saw, shared with the soak's minute checks.
#[derive(Default)]
pub struct Seen {
    pub records: Mutex<Vec<Record>>,
    pub created: Mutex<Vec<Created>>,
    /// Keys given up on after every retry failed (their order may or may not exist).
    pub abandoned_keys: Mutex<Vec<String>>,
    /// Orders refused with a 4xx other than 409: (status, body). None is expected.
    pub refused: Mutex<Vec<(u16, String)>>,
}

/// The accounts and products the load uses.
#[derive(Clone)]
pub struct Cast {
    pub apis: Vec<String>,
    pub admin: String,
    /// (token, customer id, email, password)
    pub customers: Vec<(String, i64, String, String)>,
    pub products: Vec<i64>,
}

struct Ctx {
    client: Client,
    cast: Cast,
    seen: Arc<Seen>,
    started: Instant,
}

impl Ctx {
    /// Sends `build(api)` to a random API instance, maybe cutting it short; records it.
    async fn send(
        &self,
        route: &'static str,
        build: impl Fn(&str) -> RequestBuilder,
    ) -> Option<(StatusCode, Value)> {
        let api = rand::rng().random_range(0..self.cast.apis.len());
        let cut = rand::rng().random_bool(CUT_SHARE);
        let patience = if cut {
            Duration::from_millis(rand::rng().random_range(1..200))
        } else {
            CLIENT_TIMEOUT
        };
        let at = self.started.elapsed();
        let request = build(&self.cast.apis[api]).timeout(patience);
        let answer = async {
            let response = request.send().await.ok()?;
            let status = response.status();
            let body = response.json::<Value>().await.unwrap_or(Value::Null);
            Some((status, body))
        }
        .await;
        self.seen.records.lock().unwrap().push(Record {
            at,
            route,
            api,
            status: answer.as_ref().map(|(s, _)| s.as_u16()),
            cut,
            took: self.started.elapsed() - at,
        });
        answer
    }

    fn created(&self) -> Option<Created> {
        let created = self.seen.created.lock().unwrap();
        if created.is_empty() {
            return None;
        }
        let i = rand::rng().random_range(0..created.len());
        Some(created[i].clone())
    }
}

/// Starts the load (times recorded from `started`); it runs until `stop` turns true.
pub fn start(
    cast: Cast,
    seen: Arc<Seen>,
    stop: watch::Receiver<bool>,
    started: Instant,
) -> Vec<tokio::task::JoinHandle<()>> {
    let ctx = Arc::new(Ctx {
        client: Client::builder()
            .pool_max_idle_per_host(32)
            .build()
            .expect("client"),
        cast,
        seen,
        started,
    });
    let mut tasks = Vec::new();
    for i in 0..4 {
        tasks.push(spawn(ctx.clone(), stop.clone(), move |ctx| {
            Box::pin(place(ctx, i))
        }));
    }
    for _ in 0..3 {
        tasks.push(spawn(ctx.clone(), stop.clone(), |ctx| Box::pin(read(ctx))));
    }
    for _ in 0..2 {
        tasks.push(spawn(ctx.clone(), stop.clone(), |ctx| {
            Box::pin(transition(ctx))
        }));
    }
    tasks.push(spawn(ctx, stop, |ctx| Box::pin(login(ctx))));
    tasks
}

type Step = std::pin::Pin<Box<dyn std::future::Future<Output = Duration> + Send>>;

/// Runs `step` (which returns its think time) in a loop until stopped.
fn spawn(
    ctx: Arc<Ctx>,
    mut stop: watch::Receiver<bool>,
    step: impl Fn(Arc<Ctx>) -> Step + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while !*stop.borrow() {
            let think = step(ctx.clone()).await;
            tokio::select! {
                _ = tokio::time::sleep(think) => {}
                _ = stop.changed() => {}
            }
        }
    })
}

fn think(from_ms: u64, to_ms: u64) -> Duration {
    Duration::from_millis(rand::rng().random_range(from_ms..to_ms))
}

/// One order, with a fresh Idempotency-Key (also in its notes, so that duplicates show in
/// the database), retried with the same key until answered 201 (or given up after 2 min).
async fn place(ctx: Arc<Ctx>, client: usize) -> Duration {
    let (token, customer, ..) = ctx.cast.customers[client % ctx.cast.customers.len()].clone();
    let key = format!("soak-{}", uuid::Uuid::new_v4().simple());
    let lines = rand::rng().random_range(1..=3usize);
    let mut products = ctx.cast.products.clone();
    products.truncate(lines.max(1));
    let items: Vec<Value> = products
        .iter()
        .map(|p| json!({"product_id": p, "quantity": rand::rng().random_range(1..=3)}))
        .collect();
    let body = json!({"customer_id": customer, "items": items, "notes": key});
    let mut wait = Duration::from_millis(200);
    let give_up = Instant::now() + Duration::from_secs(120);
    loop {
        let answer = ctx
            .send("POST /orders", |api| {
                ctx.client
                    .post(format!("{api}/api/v1/orders"))
                    .bearer_auth(&token)
                    .header("Idempotency-Key", &key)
                    .json(&body)
            })
            .await;
        match answer {
            Some((StatusCode::CREATED, body)) => {
                let id = body["id"].as_i64().unwrap_or_default();
                ctx.seen.created.lock().unwrap().push(Created {
                    key: key.clone(),
                    id,
                    lines: products.len(),
                });
                return think(50, 150);
            }
            // 503, 409 (the same key still in flight), no answer: retry with the same key.
            Some((status, _)) if status.is_server_error() || status == StatusCode::CONFLICT => {}
            None => {}
            Some((status, body)) => {
                let refused = (status.as_u16(), body.to_string());
                ctx.seen.refused.lock().unwrap().push(refused);
                return think(50, 150);
            }
        }
        if Instant::now() > give_up {
            ctx.seen.abandoned_keys.lock().unwrap().push(key);
            return think(50, 150);
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(4));
    }
}

/// Staff reads: an order, a page of a list, the summary, the products.
async fn read(ctx: Arc<Ctx>) -> Duration {
    let admin = ctx.cast.admin.clone();
    let pick = rand::rng().random_range(0..10);
    match (pick, ctx.created()) {
        (0..=4, Some(order)) => {
            ctx.send("GET /orders/{id}", |api| {
                ctx.client
                    .get(format!("{api}/api/v1/orders/{}", order.id))
                    .bearer_auth(&admin)
            })
            .await;
        }
        (5..=7, _) => {
            let status = ["pending", "processing", "shipped"][pick % 3];
            ctx.send("GET /orders", |api| {
                ctx.client
                    .get(format!(
                        "{api}/api/v1/orders?status={status}&sort=-created_at"
                    ))
                    .bearer_auth(&admin)
            })
            .await;
        }
        (8, _) => {
            ctx.send("GET /orders/summary", |api| {
                ctx.client
                    .get(format!("{api}/api/v1/orders/summary"))
                    .bearer_auth(&admin)
            })
            .await;
        }
        _ => {
            ctx.send("GET /products", |api| {
                ctx.client
                    .get(format!("{api}/api/v1/products"))
                    .bearer_auth(&admin)
            })
            .await;
        }
    }
    think(20, 60)
}

/// Staff move a random order one step along (409s are part of it: someone got there first,
/// or the order is already final).
async fn transition(ctx: Arc<Ctx>) -> Duration {
    let Some(order) = ctx.created() else {
        return think(100, 300);
    };
    let next = ["processing", "shipped", "delivered", "cancelled"][rand::rng().random_range(0..4)];
    let admin = ctx.cast.admin.clone();
    ctx.send("PATCH /orders/{id}/status", |api| {
        ctx.client
            .patch(format!("{api}/api/v1/orders/{}/status", order.id))
            .bearer_auth(&admin)
            .json(&json!({"status": next}))
    })
    .await;
    think(100, 300)
}

async fn login(ctx: Arc<Ctx>) -> Duration {
    let (_, _, email, password) =
        ctx.cast.customers[rand::rng().random_range(0..ctx.cast.customers.len())].clone();
    ctx.send("POST /auth/login", |api| {
        ctx.client.post(format!("{api}/api/v1/auth/login")).form(&[
            ("username", email.as_str()),
            ("password", password.as_str()),
        ])
    })
    .await;
    think(1500, 2500)
}
