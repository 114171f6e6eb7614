//! The router with its layers.

use axum::{
    Router,
    http::{HeaderName, Method, header},
};
use orderflow_shared::settings::{ApiSettings, IpNet};
use std::sync::Arc;
use tower_http::{
    catch_panic::CatchPanicLayer,
    cors::{AllowOrigin, CorsLayer},
    limit::RequestBodyLimitLayer,
    timeout::TimeoutLayer,
};

use crate::{error::ApiError, middleware::request_context, openapi, routes, state::AppState};

/// Largest request body accepted (413 above).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Every route, the docs, and the layers that apply to all of them.
pub fn router(state: AppState) -> Router {
    let settings = state.settings.clone();
    let (api, mut spec) = openapi::api_router(&state).split_for_parts();
    openapi::complete(&mut spec);
    let trusted_proxies: Arc<[IpNet]> = settings.limits.trusted_proxies.clone().into();

    Router::new()
        .merge(api)
        .merge(routes::health::router())
        .merge(routes::docs::router(spec))
        .fallback(|| async { ApiError::NotFound("Not found".into()) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .with_state(state)
        // Innermost first: the body limit and timeout sit inside the panic catcher; CORS
        // answers preflights; the request context (id, client address, logs, error contract,
        // security headers) wraps everything, so every response gets them, errors included.
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            settings.core.request_timeout,
        ))
        .layer(CatchPanicLayer::custom(request_context::panic_response))
        .layer(cors(&settings))
        .layer(axum::middleware::from_fn_with_state(
            trusted_proxies,
            request_context::request_context,
        ))
}

/// CORS for the configured origins only; none configured means same-origin only.
fn cors(settings: &ApiSettings) -> CorsLayer {
    let origins: Vec<_> = settings
        .cors_origins
        .iter()
        .filter_map(|o| o.parse().ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static("idempotency-key"),
            HeaderName::from_static("x-request-id"),
            HeaderName::from_static("traceparent"),
            HeaderName::from_static("tracestate"),
        ])
        .expose_headers([
            header::LOCATION,
            header::RETRY_AFTER,
            HeaderName::from_static("x-request-id"),
            HeaderName::from_static("idempotent-replayed"),
            HeaderName::from_static("ratelimit-limit"),
            HeaderName::from_static("ratelimit-remaining"),
            HeaderName::from_static("ratelimit-reset"),
            HeaderName::from_static("ratelimit-policy"),
            HeaderName::from_static("traceresponse"),
        ])
}
