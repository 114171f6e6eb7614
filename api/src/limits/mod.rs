//! Request quotas and the per-account login lockout. Both live in Redis, so they hold across
//! every API instance; while Redis does not answer, each instance falls back to its own
//! memory (a local limit: never fail closed, never a 5xx), through the deadline and back-off of
//! `orderflow_shared::redis_link`.

pub mod lease;
pub mod lockout;
pub mod quota;

pub use lockout::LoginGuard;
pub use quota::{Class, Decision, Limiter};
