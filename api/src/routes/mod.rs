//! HTTP handlers, one module per resource: extract, call the rules and SQL, respond.

pub mod admin;
pub mod auth;
pub mod customers;
pub mod docs;
pub mod health;
pub mod orders;
pub mod products;
pub mod users;

use axum::{
    http::header,
    response::{IntoResponse, Response},
};
/// A 200 with a JSON body that is already serialised (from the cache, or serialised once for
/// both the client and the cache).
pub fn json_bytes(body: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}
