//! HTTP-level tests against the real application, PostgreSQL and Redis. One binary, one module
//! per resource.

mod audit;
mod auth;
mod cache;
mod customers;
mod errors;
mod helpers;
mod idempotency;
mod ops;
mod orders_change;
mod orders_create;
mod orders_read;
mod products;
mod query_counts;
mod redis_outage;
mod tokens;
mod user_changes;
mod users;
