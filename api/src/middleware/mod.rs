//! Cross-cutting HTTP layers: request context (id, logging, error contract), the client's
//! address, rate limits and security headers.

pub mod client_ip;
pub mod rate_limit;
pub mod request_context;
pub mod security_headers;
