//! Per-client-IP token buckets (governor), answering 429 in the error contract.

use axum::{body::Body, http::header, response::IntoResponse};
use governor::middleware::NoOpMiddleware;
use orderflow_shared::settings::RateLimit;
use std::{sync::Arc, time::Duration};
use tower_governor::{
    GovernorError, GovernorLayer,
    governor::{GovernorConfig, GovernorConfigBuilder},
    key_extractor::PeerIpKeyExtractor,
};

use crate::error::ApiError;

pub type Layer = GovernorLayer<PeerIpKeyExtractor, NoOpMiddleware, Body>;

/// Builds a layer keyed by the peer IP (the server must be served with connect info).
/// Behind a reverse proxy, switch the key extractor to one that trusts the proxy's header.
pub fn layer(limit: RateLimit) -> Layer {
    let config: Arc<GovernorConfig<PeerIpKeyExtractor, NoOpMiddleware>> = Arc::new(
        GovernorConfigBuilder::default()
            .period(limit.replenish.max(Duration::from_millis(1)))
            .burst_size(limit.burst.max(1))
            .finish()
            .expect("burst and period are non-zero"),
    );
    spawn_forgetting(config.clone());
    GovernorLayer::new(config).error_handler(|err| match err {
        GovernorError::TooManyRequests { wait_time, .. } => {
            let mut response = ApiError::RateLimited {
                retry_after_seconds: Some(wait_time),
            }
            .into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, wait_time.max(1).into());
            response
        }
        GovernorError::UnableToExtractKey => {
            ApiError::internal(anyhow::anyhow!("rate limiter found no peer address"))
                .into_response()
        }
        GovernorError::Other { code, .. } => ApiError::from_status(code).into_response(),
    })
}

/// Drops the buckets of clients not seen lately, so memory does not grow with every IP.
fn spawn_forgetting(config: Arc<GovernorConfig<PeerIpKeyExtractor, NoOpMiddleware>>) {
    if let Ok(handle) = tokio::runtime::Handle::try_current() {
        let limiter = Arc::downgrade(config.limiter());
        handle.spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                let Some(limiter) = limiter.upgrade() else {
                    break;
                };
                limiter.retain_recent();
            }
        });
    }
}
