//! HTTP-level tests against the real application, PostgreSQL and Redis. One binary, one module
//! per resource.

mod auth;
mod customers;
mod errors;
mod helpers;
mod ops;
mod products;
mod tokens;
mod users;
