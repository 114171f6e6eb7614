//! The API's own metrics and the listener that serves them (`API_METRICS_PORT`), apart from
//! the public router. Labels are bounded: `route` is the matched route template
//! (`/api/v1/customers/{id}`), never the raw path. docs/metrics.md lists every name.

use axum::{Router, http::header, response::IntoResponse, routing::get};
use tokio::{net::TcpListener, sync::watch};

/// Counts a finished request and records its latency.
pub fn record_request(method: &str, route: &str, status: u16, seconds: f64) {
    let labels = [
        ("method", method.to_owned()),
        ("route", route.to_owned()),
        ("status", status.to_string()),
    ];
    metrics::counter!("orderflow_http_requests_total", &labels).increment(1);
    metrics::histogram!(
        "orderflow_http_request_duration_seconds",
        "method" => method.to_owned(),
        "route" => route.to_owned()
    )
    .record(seconds);
}

/// The in-flight gauge's handle, looked up once rather than twice per request.
static IN_FLIGHT: std::sync::LazyLock<metrics::Gauge> =
    std::sync::LazyLock::new(|| metrics::gauge!("orderflow_http_requests_in_flight"));

/// `orderflow_http_requests_in_flight` up while this lives (a request the client abandons
/// drops it too).
pub struct InFlight(());

impl InFlight {
    pub fn start() -> Self {
        IN_FLIGHT.increment(1.0);
        Self(())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        IN_FLIGHT.decrement(1.0);
    }
}

/// The API's labelled counters at 0 (see `orderflow_shared::metrics::zero`).
pub fn register() {
    use orderflow_shared::metrics::{register_shared, zero};
    register_shared();
    metrics::counter!("orderflow_orders_created_total").absolute(0);
    metrics::counter!("orderflow_login_lockouts_total").absolute(0);
    metrics::counter!("orderflow_password_hash_rejected_total").absolute(0);
    IN_FLIGHT.set(0.0);
    zero(
        "orderflow_idempotency_total",
        "outcome",
        &["replayed", "conflict", "in_progress"],
    );
    zero(
        "orderflow_rate_limited_total",
        "limiter",
        &[
            "auth",
            "anonymous",
            "user_write",
            "user_read",
            "account_email",
        ],
    );
    zero(
        "orderflow_limits_fallback_total",
        "limiter",
        &["rate_limit", "login_lockout"],
    );
    zero(
        "orderflow_logins_total",
        "outcome",
        &["success", "failure", "inactive", "locked", "slowed"],
    );
    zero(
        "orderflow_redis_errors_total",
        "component",
        &["rate_limit", "login_lockout", "outbox_wake"],
    );
}

/// Counts an order placed (not a replay).
pub fn order_created() {
    metrics::counter!("orderflow_orders_created_total").increment(1);
}

/// An Idempotency-Key seen again: "replayed", "conflict" (another payload) or "in_progress".
pub fn idempotency(outcome: &'static str) {
    metrics::counter!("orderflow_idempotency_total", "outcome" => outcome).increment(1);
}

/// `GET /metrics` in the Prometheus text format.
pub fn router() -> Router {
    Router::new().route(
        "/metrics",
        get(|| async {
            (
                [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                orderflow_shared::metrics::render(),
            )
                .into_response()
        }),
    )
}

/// Serves `router()` until `stop` turns true.
pub async fn serve(listener: TcpListener, mut stop: watch::Receiver<bool>) {
    let shutdown = async move {
        let _ = stop.wait_for(|stopped| *stopped).await;
    };
    if let Err(e) = axum::serve(listener, router())
        .with_graceful_shutdown(shutdown)
        .await
    {
        tracing::error!(error = %e, "metrics listener failed");
    }
}
