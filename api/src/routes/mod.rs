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
use orderflow_shared::domain::{PageParams, Validator, paging::Page};

use crate::error::{ApiError, Result};

/// Validates paging parameters (422 naming `page`/`page_size` when out of bounds).
pub fn page(page: Option<i64>, page_size: Option<i64>) -> Result<Page> {
    let mut v = Validator::new();
    let parsed = PageParams { page, page_size }.validate(&mut v);
    v.finish().map_err(ApiError::invalid)?;
    Ok(parsed.expect("validated"))
}

/// A 200 with a JSON body that is already serialised (from the cache, or serialised once for
/// both the client and the cache).
pub fn json_bytes(body: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}
