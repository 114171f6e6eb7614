//! `/health` (liveness: no dependencies) and `/ready` (PostgreSQL reachable; Redis reported).
//! `/metrics` has its own listener (`crate::metrics`).

use axum::{Json, Router, extract::State, routing::get};
use serde_json::{Value, json};
use std::time::Duration;

use crate::{
    error::{ApiError, Result},
    state::AppState,
};

const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
}

async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

async fn postgres_ok(state: &AppState) -> bool {
    let ping = sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(&state.db);
    matches!(tokio::time::timeout(CHECK_TIMEOUT, ping).await, Ok(Ok(1)))
}

async fn redis_ok(state: &AppState) -> bool {
    let mut conn = state.redis.clone();
    let ping = async move { redis::cmd("PING").query_async::<String>(&mut conn).await };
    matches!(tokio::time::timeout(CHECK_TIMEOUT, ping).await, Ok(Ok(ref pong)) if pong == "PONG")
}

/// 503 when PostgreSQL does not answer (nothing can be served without it); 200 otherwise.
/// Without Redis the API still takes orders (their jobs wait in the outbox; rate limits and
/// the cache fall back to this instance), so it stays ready — a load balancer must not take
/// every instance out during a Redis outage — and answers `"status": "degraded"`.
async fn ready(State(state): State<AppState>) -> Result<Json<Value>> {
    let (pg, redis) = tokio::join!(postgres_ok(&state), redis_ok(&state));
    let word = |ok: bool| if ok { "ok" } else { "unreachable" };
    if !pg {
        return Err(ApiError::Unavailable(
            "Not ready: postgres unreachable".into(),
        ));
    }
    Ok(Json(json!({
        "status": if redis { "ready" } else { "degraded" },
        "checks": {"postgres": "ok", "redis": word(redis)},
    })))
}
