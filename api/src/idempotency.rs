//! The `Idempotency-Key` header: parsing, and replaying a stored response.

use axum::{
    Json,
    http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use orderflow_shared::{db::idempotency::StoredResponse, domain::idempotency};

use crate::error::{ApiError, Result};

pub static IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
pub static IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// How long a key and its response are kept (the draft asks for at least 24 h).
pub const KEY_TTL_SECONDS: i64 = 24 * 3600;

/// The key, if the request carries one; 400 when it is malformed.
pub fn key_from(headers: &HeaderMap) -> Result<Option<String>> {
    let Some(raw) = headers.get(&IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let raw = raw
        .to_str()
        .map_err(|_| ApiError::BadRequest("Idempotency-Key must be visible ASCII".into()))?;
    idempotency::parse_key(raw)
        .map(Some)
        .map_err(ApiError::BadRequest)
}

pub fn in_flight() -> ApiError {
    crate::metrics::idempotency("in_progress");
    ApiError::Conflict("A request with this Idempotency-Key is still being processed".into())
}

pub fn mismatch() -> ApiError {
    crate::metrics::idempotency("conflict");
    ApiError::Validation {
        detail: "Idempotency-Key was already used with a different request".into(),
        errors: vec![orderflow_shared::domain::FieldError::new(
            "Idempotency-Key",
            "reused with a different request body",
        )],
    }
}

/// The stored response again, marked `Idempotent-Replayed: true`.
pub fn replay(stored: StoredResponse) -> Response {
    crate::metrics::idempotency("replayed");
    let status = StatusCode::from_u16(stored.status_code as u16).unwrap_or(StatusCode::OK);
    let mut response = (status, Json(stored.response_body)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        IDEMPOTENT_REPLAYED.clone(),
        HeaderValue::from_static("true"),
    );
    if let Some(location) = stored.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        headers.insert(header::LOCATION, location);
    }
    response
}
