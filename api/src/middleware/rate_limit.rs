//! Applies the quotas of `limits::quota` to requests, and reports them in the
//! `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` and `RateLimit-Policy` fields
//! of draft-ietf-httpapi-ratelimit-headers-06 (the last draft with separate fields, the
//! form most clients understand) on every limited response; a refused request gets 429 in
//! the error shape with `Retry-After`.
//!
//! - `credentials`: register, login, refresh, logout — per client IP.
//! - `per_caller`: every other `/api/v1` route — per user when the request carries a valid
//!   access token (writes and reads have separate quotas), per client IP when it does not.

use axum::{
    extract::{Request, State},
    http::{HeaderMap, HeaderName, HeaderValue, Method},
    middleware::Next,
    response::{IntoResponse, Response},
};

use crate::{
    auth::current_user::bearer_token,
    error::{ApiError, whole_seconds},
    limits::{Class, Decision},
    middleware::client_ip::ClientIp,
    state::AppState,
};

static LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
static REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
static RESET: HeaderName = HeaderName::from_static("ratelimit-reset");
static POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");

fn client_key(req: &Request) -> String {
    req.extensions()
        .get::<ClientIp>()
        .map_or_else(|| "unknown".to_owned(), |ip| ip.quota_key())
}

/// Register, login, refresh and logout: per client IP.
pub async fn credentials(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if !state.limiter.enabled() {
        return next.run(req).await;
    }
    let subject = client_key(&req);
    limited(&state, Class::Auth, &subject, req, next).await
}

/// Other `/api/v1` routes: per user with a valid token, else per client IP.
pub async fn per_caller(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if !state.limiter.enabled() {
        return next.run(req).await;
    }
    let user = bearer_token(req.headers())
        .and_then(|token| state.jwt.bearer(token).ok().map(|b| b.user_id));
    let (class, subject) = match user {
        Some(id) if is_read(req.method()) => (Class::UserRead, id.to_string()),
        Some(id) => (Class::UserWrite, id.to_string()),
        None => (Class::Anonymous, client_key(&req)),
    };
    limited(&state, class, &subject, req, next).await
}

async fn limited(
    state: &AppState,
    class: Class,
    subject: &str,
    req: Request,
    next: Next,
) -> Response {
    let decision = state.limiter.check(class, subject).await;
    let mut response = if decision.allowed {
        next.run(req).await
    } else {
        tracing::info!(limiter = class.as_str(), "rate limited");
        ApiError::rate_limited(decision.retry_after).into_response()
    };
    report(response.headers_mut(), &decision);
    response
}

fn report(headers: &mut HeaderMap, decision: &Decision) {
    let window = whole_seconds(
        decision
            .quota
            .replenish
            .saturating_mul(decision.quota.burst),
    )
    .max(1);
    headers.insert(LIMIT.clone(), decision.quota.burst.into());
    headers.insert(REMAINING.clone(), decision.remaining.into());
    headers.insert(RESET.clone(), whole_seconds(decision.reset).into());
    if let Ok(policy) = HeaderValue::from_str(&format!("{};w={window}", decision.quota.burst)) {
        headers.insert(POLICY.clone(), policy);
    }
}

fn is_read(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn waits_are_rounded_up_to_whole_seconds() {
        for (ms, s) in [(0, 0), (1, 1), (999, 1), (1000, 1), (1001, 2), (59_500, 60)] {
            assert_eq!(whole_seconds(Duration::from_millis(ms)), s, "{ms} ms");
        }
    }
}
