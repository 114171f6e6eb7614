//! `/health` (liveness: no dependencies) and `/ready` (PostgreSQL and Redis reachable).
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
    let ping = async {
        let mut conn = state.redis.get_multiplexed_async_connection().await?;
        redis::cmd("PING").query_async::<String>(&mut conn).await
    };
    matches!(tokio::time::timeout(CHECK_TIMEOUT, ping).await, Ok(Ok(ref pong)) if pong == "PONG")
}

/// 200 when every dependency answers; 503 naming the ones that do not.
async fn ready(State(state): State<AppState>) -> Result<Json<Value>> {
    let (pg, redis) = tokio::join!(postgres_ok(&state), redis_ok(&state));
    let down: Vec<&str> = [("postgres", pg), ("redis", redis)]
        .into_iter()
        .filter_map(|(name, ok)| (!ok).then_some(name))
        .collect();
    if down.is_empty() {
        Ok(Json(
            json!({"status": "ready", "checks": {"postgres": "ok", "redis": "ok"}}),
        ))
    } else {
        Err(ApiError::Unavailable(format!(
            "Not ready: {} unreachable",
            down.join(", ")
        )))
    }
}
