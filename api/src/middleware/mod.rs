//! Cross-cutting HTTP layers: request context (id, logging, error contract) and rate limits.

pub mod rate_limit;
pub mod request_context;
