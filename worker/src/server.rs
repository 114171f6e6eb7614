//! `/health` and `/metrics` on `WORKER_HOST:WORKER_PORT`.

use axum::{Json, Router, http::header, response::IntoResponse, routing::get};
use serde_json::json;
use tokio::{net::TcpListener, sync::watch};

pub fn router(worker_name: String) -> Router {
    Router::new()
        .route(
            "/health",
            get(move || {
                let name = worker_name.clone();
                async move { Json(json!({"status": "ok", "worker": name})) }
            }),
        )
        .route(
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

pub async fn serve(listener: TcpListener, router: Router, mut stop: watch::Receiver<bool>) {
    let shutdown = async move {
        let _ = stop.changed().await;
    };
    if let Err(e) = axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
    {
        tracing::error!(error = %e, "worker HTTP server failed");
    }
}
