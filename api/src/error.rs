//! The one error contract: every failure, from any layer, becomes
//! `{"detail", "code", "request_id"}` (plus `errors` for 422).

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use orderflow_shared::domain::FieldError;
use serde::Serialize;
use utoipa::ToSchema;

pub type Result<T, E = ApiError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("Insufficient permissions")]
    Forbidden,
    #[error("{0}")]
    ForbiddenWith(String),
    #[error("{0}")]
    NotFound(String),
    #[error("Method not allowed")]
    MethodNotAllowed,
    #[error("{0}")]
    Conflict(String),
    #[error("Request body too large")]
    PayloadTooLarge,
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{detail}")]
    Validation {
        detail: String,
        errors: Vec<FieldError>,
    },
    #[error("Too many requests")]
    RateLimited { retry_after_seconds: Option<u64> },
    #[error("{0}")]
    Unavailable(String),
    /// 503 with `Retry-After`: the database could not serve the request now — unreachable,
    /// or one of the server's time limits ended the statement. The cause is logged.
    #[error("{detail}")]
    DatabaseUnavailable {
        detail: &'static str,
        retry_after_seconds: u64,
    },
    /// 503 with `Retry-After`: this instance is saturated (password hashing), not broken.
    #[error("{detail}")]
    Busy {
        detail: &'static str,
        retry_after_seconds: u64,
    },
    /// Anything unexpected. The cause is logged, never sent.
    #[error("Internal server error")]
    Internal(#[source] anyhow::Error),
}

/// The JSON body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    #[schema(example = "Insufficient permissions")]
    pub detail: String,
    #[schema(example = "forbidden")]
    pub code: &'static str,
    #[schema(example = "2b1f6a7e-3c1d-4a8e-9a7b-6a0c1e6b9f10")]
    pub request_id: String,
    /// Only on 422: one entry per invalid field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
}

/// Marks a response whose body already follows the error contract.
#[derive(Debug, Clone, Copy)]
pub struct ErrorContract;

impl ApiError {
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation {
            detail: "Validation failed".into(),
            errors: vec![FieldError::new(field, message)],
        }
    }

    pub fn invalid(errors: Vec<FieldError>) -> Self {
        Self::Validation {
            detail: "Validation failed".into(),
            errors,
        }
    }

    /// 429 with `Retry-After`: `wait`, rounded up to whole seconds (at least 1).
    pub fn rate_limited(wait: std::time::Duration) -> Self {
        Self::RateLimited {
            retry_after_seconds: Some(whole_seconds(wait).max(1)),
        }
    }

    pub fn not_found(what: &str) -> Self {
        Self::NotFound(format!("{what} not found"))
    }

    pub fn internal(err: impl Into<anyhow::Error>) -> Self {
        Self::Internal(err.into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden | Self::ForbiddenWith(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Validation { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) | Self::DatabaseUnavailable { .. } | Self::Busy { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad_request",
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden | Self::ForbiddenWith(_) => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Conflict(_) => "conflict",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::Validation { .. } => "validation_error",
            Self::RateLimited { .. } => "rate_limited",
            Self::Unavailable(_) | Self::DatabaseUnavailable { .. } | Self::Busy { .. } => {
                "service_unavailable"
            }
            Self::Internal(_) => "internal_error",
        }
    }

    /// The error a bare status from a lower layer (router, tower middleware) stands for.
    pub fn from_status(status: StatusCode) -> Self {
        match status {
            StatusCode::BAD_REQUEST => Self::BadRequest("Bad request".into()),
            StatusCode::UNAUTHORIZED => Self::Unauthorized("Not authenticated".into()),
            StatusCode::FORBIDDEN => Self::Forbidden,
            StatusCode::NOT_FOUND => Self::NotFound("Not found".into()),
            StatusCode::METHOD_NOT_ALLOWED => Self::MethodNotAllowed,
            StatusCode::PAYLOAD_TOO_LARGE => Self::PayloadTooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                Self::UnsupportedMediaType("Unsupported media type".into())
            }
            StatusCode::TOO_MANY_REQUESTS => Self::RateLimited {
                retry_after_seconds: None,
            },
            StatusCode::REQUEST_TIMEOUT | StatusCode::SERVICE_UNAVAILABLE => {
                Self::Unavailable("Service unavailable, try again later".into())
            }
            s if s.is_client_error() => {
                Self::BadRequest(s.canonical_reason().unwrap_or("Bad request").to_string())
            }
            _ => Self::Internal(anyhow::anyhow!("lower layer answered {status}")),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let request_id = crate::request_id::current().unwrap_or_default();
        match &self {
            Self::Internal(err) => {
                tracing::error!(error = ?err, "internal error: {err:#}");
            }
            Self::Unavailable(detail) => tracing::warn!(%detail, "dependency unavailable"),
            Self::DatabaseUnavailable { detail, .. } => {
                tracing::warn!(%detail, "database could not serve the request")
            }
            _ => tracing::debug!(status = status.as_u16(), detail = %self, "request refused"),
        }
        let code = self.code();
        let retry_after = match &self {
            Self::RateLimited {
                retry_after_seconds,
            } => *retry_after_seconds,
            Self::Busy {
                retry_after_seconds,
                ..
            }
            | Self::DatabaseUnavailable {
                retry_after_seconds,
                ..
            } => Some(*retry_after_seconds),
            _ => None,
        };
        let (detail, errors) = match self {
            Self::Validation { detail, errors } => (detail, Some(errors)),
            other => (other.to_string(), None),
        };
        let body = ErrorBody {
            detail,
            code,
            request_id,
            errors,
        };
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(seconds) = retry_after {
            headers.insert(header::RETRY_AFTER, seconds.max(1).into());
        }
        response.extensions_mut().insert(ErrorContract);
        response
    }
}

/// Rounded up: a client that waits this long is never early.
pub fn whole_seconds(d: std::time::Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// Database errors: constraint violations become 409/422 here, in one place; an unreachable
/// database, or a statement ended by one of the server's time limits, is a 503 with
/// `Retry-After`; anything else is a 500 whose cause only reaches the logs.
impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &err
            && let Some((field, message)) = db.constraint().and_then(constraint_message)
        {
            return match db.kind() {
                sqlx::error::ErrorKind::UniqueViolation => Self::Conflict(message.into()),
                _ => Self::validation(field, message),
            };
        }
        let code = match &err {
            sqlx::Error::Database(db) => db.code().map(|c| c.into_owned()),
            _ => None,
        };
        let unreachable = matches!(
            err,
            sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::Io(_)
                | sqlx::Error::Tls(_)
        ) || code.as_deref().is_some_and(unavailable_sqlstate);
        if unreachable {
            tracing::error!(error = %err, "database unreachable");
            return Self::DatabaseUnavailable {
                detail: "Database unavailable",
                retry_after_seconds: 1,
            };
        }
        if let Some(detail) = code.as_deref().and_then(busy_sqlstate) {
            tracing::warn!(error = %err, sqlstate = code.as_deref(), "database busy");
            return Self::DatabaseUnavailable {
                detail,
                retry_after_seconds: 1,
            };
        }
        Self::Internal(err.into())
    }
}

/// SQLSTATEs that say the server is going away or cannot serve now, not that the request is
/// wrong: class 08 (connection exception), 57P01–57P03 (admin/crash shutdown, cannot connect
/// now: a server being stopped or still starting), 25P03 (a session ended for idling in a
/// transaction) and 53300 (too many connections). The client gets a 503 to retry, never a 500.
fn unavailable_sqlstate(code: &str) -> bool {
    code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "25P03" | "53300")
}

/// SQLSTATEs of a statement the server gave up on for time or contention, with what the
/// client is told: 57014 (`statement_timeout`, or a cancel), 55P03 (`lock_timeout`), 40001
/// and 40P01 (serialization failure, deadlock). Retrying is the remedy, so a 503.
fn busy_sqlstate(code: &str) -> Option<&'static str> {
    match code {
        "57014" => Some("The database took too long to answer; try again"),
        "55P03" => Some("The resource is being changed by another request; try again"),
        "40001" | "40P01" => Some("Conflict with a concurrent request; try again"),
        _ => None,
    }
}

/// The client-facing meaning of each named constraint: `(field, message)`.
fn constraint_message(constraint: &str) -> Option<(&'static str, &'static str)> {
    Some(match constraint {
        "users_email_key" => ("email", "Email already registered"),
        "customers_email_key" => ("email", "A customer with this email already exists"),
        "users_customer_id_key" => ("customer_id", "Customer already has a user"),
        "products_sku_key" => ("sku", "A product with this SKU already exists"),
        _ => return None,
    })
}

impl From<anyhow::Error> for ApiError {
    fn from(err: anyhow::Error) -> Self {
        Self::Internal(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_going_away_is_unavailable_and_a_bad_statement_is_not() {
        for (code, unavailable) in [
            ("57P01", true),
            ("57P02", true),
            ("57P03", true),
            ("08006", true),
            ("08001", true),
            ("53300", true),
            ("25P03", true),
            ("23505", false),
            ("42P01", false),
            ("57014", false),
        ] {
            assert_eq!(unavailable_sqlstate(code), unavailable, "{code}");
        }
    }

    #[test]
    fn a_statement_ended_by_a_time_limit_or_contention_is_busy_and_a_bad_one_is_not() {
        for (code, busy) in [
            ("57014", true),
            ("55P03", true),
            ("40001", true),
            ("40P01", true),
            ("23505", false),
            ("42601", false),
            ("57P01", false),
        ] {
            assert_eq!(busy_sqlstate(code).is_some(), busy, "{code}");
        }
    }
}
