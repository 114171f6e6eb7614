//! HTTP-level tests against the real application, PostgreSQL and Redis. One binary, one module
//! per resource.

mod audit;
mod auth;
mod cache;
mod customers;
mod cut_short;
mod db_limits;
mod errors;
mod helpers;
mod http_hygiene;
mod idempotency;
mod lockout;
mod ops;
mod orders_change;
mod orders_create;
mod orders_read;
mod owasp_access;
mod owasp_input;
mod paging;
mod plans;
mod products;
mod query_counts;
mod rate_limits;
mod redis_outage;
mod rollups;
mod sessions;
mod slow_database;
mod tokens;
mod user_changes;
mod users;
