//! Gives every request an id, a log span and a closing log line, and makes sure every error
//! response — including the ones produced by the router and tower layers — follows the
//! error contract.

use axum::{
    body::Body,
    extract::{MatchedPath, Request, State},
    http::{HeaderName, HeaderValue, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use orderflow_shared::{
    settings::IpNet,
    telemetry::{self, TraceHeaders},
};
use std::{sync::Arc, time::Instant};
use tracing::{Instrument, field};
use uuid::Uuid;

use super::{
    client_ip::{self, ClientIp},
    security_headers,
};
use crate::{
    error::{ApiError, ErrorContract},
    request_id,
};

pub static REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");
/// The request's own trace context (W3C Trace Context level 2), when traces are exported.
pub static TRACERESPONSE: HeaderName = HeaderName::from_static("traceresponse");

/// A client-supplied id is kept (as its correlation id) when it is 1..=64 visible ASCII
/// characters.
fn is_sane(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic())
}

/// Also resolves the client's address (`client_ip.rs`: an extension of the request and a
/// field of its span) and adds the security headers (`security_headers.rs`) to every
/// response: here, once per request, rather than as two more layers.
pub async fn request_context(
    State(trusted_proxies): State<Arc<[IpNet]>>,
    mut req: Request,
    next: Next,
) -> Response {
    let client = client_ip::of_request(&req, &trusted_proxies);
    req.extensions_mut().insert(ClientIp(client));
    let headers_policy = security_headers::Policy::for_request(&req);
    let client_request_id = req
        .headers()
        .get(&REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|id| is_sane(id))
        .map(str::to_owned);
    let request_id = Uuid::new_v4().to_string();
    // Handlers and the worker payloads read the id from the request itself.
    let header_value = HeaderValue::from_str(&request_id).expect("sane ids are valid headers");
    req.headers_mut()
        .insert(REQUEST_ID_HEADER.clone(), header_value.clone());

    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("<unmatched>", |p| p.as_str())
        .to_owned();
    // The log span; a sampled request's trace span is made beside it, with the SDK
    // (`telemetry::sampling`), and is the parent of everything the request does.
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        client_request_id = client_request_id.as_deref().unwrap_or(""),
        method = %method,
        route = %route,
        client_ip = %client,
        user_id = field::Empty,
    );
    let trace = telemetry::enabled().then(|| {
        let decision = telemetry::sampling::decide(incoming_trace(&req).as_ref(), &route);
        decision.start(|| {
            let mut attributes = vec![
                ("route", route.clone()),
                ("method", method.to_string()),
                ("request_id", request_id.clone()),
                ("client_ip", client.to_string()),
            ];
            if let Some(id) = &client_request_id {
                attributes.push(("client_request_id", id.clone()));
            }
            (format!("{method} {route}"), attributes)
        })
    });
    let started = Instant::now();
    let in_flight = crate::metrics::InFlight::start();
    let run = request_id::scope(request_id, client_request_id, async move {
        let response = next.run(req).await;
        enforce_error_contract(response)
    })
    .instrument(span.clone());
    let response = match &trace {
        Some(context) => telemetry::sampling::scope(context.clone(), run).await,
        None => run.await,
    };

    let status = response.status().as_u16();
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let log = || {
        span.in_scope(|| {
            if status >= 500 {
                tracing::error!(status, latency_ms, "request failed");
            } else {
                tracing::info!(status, latency_ms, "request completed");
            }
        });
    };
    match &trace {
        Some(context) => {
            telemetry::sampling::sync_scope(context, log);
            telemetry::sampling::finish(context, status);
        }
        None => log(),
    }
    crate::metrics::record_request(method.as_str(), &route, status, latency_ms / 1000.0);
    drop(in_flight);

    let mut response = response;
    response
        .headers_mut()
        .insert(REQUEST_ID_HEADER.clone(), header_value);
    headers_policy.apply(response.headers_mut());
    if let Some(value) = trace
        .as_ref()
        .and_then(telemetry::sampling::traceresponse)
        .and_then(|v| HeaderValue::from_str(&v).ok())
    {
        response.headers_mut().insert(TRACERESPONSE.clone(), value);
    }
    response
}

/// The client's `traceparent`/`tracestate`, if it sent one (checked when decided on).
fn incoming_trace(req: &Request) -> Option<TraceHeaders> {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    Some(TraceHeaders {
        traceparent: header("traceparent")?,
        tracestate: header("tracestate"),
        queued_at_ms: None,
    })
}

/// Rewrites a bare error response (empty 405 from the router, 413 from the body limit, 503
/// from the timeout, …) into the JSON error shape, keeping headers such as `Allow` and
/// `Retry-After`.
fn enforce_error_contract(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error())
        || response.extensions().get::<ErrorContract>().is_some()
    {
        return response;
    }
    let (parts, _) = response.into_parts();
    let mut fixed = ApiError::from_status(status).into_response();
    *fixed.status_mut() = status;
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            fixed.headers_mut().insert(name.clone(), value.clone());
        }
    }
    fixed
}

/// The body of a panic response: a fixed 500 whose cause goes to the log only.
pub fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response<Body> {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    ApiError::Internal(anyhow::anyhow!("handler panicked: {message}")).into_response()
}

#[cfg(test)]
mod tests {
    use super::is_sane;

    #[test]
    fn request_ids_are_kept_only_when_sane() {
        assert!(is_sane("abc-123"));
        assert!(is_sane(&"x".repeat(64)));
        assert!(!is_sane(""));
        assert!(!is_sane(&"x".repeat(65)));
        assert!(!is_sane("has space"));
        assert!(!is_sane("tab\there"));
        assert!(!is_sane("ünïcode"));
    }
}
