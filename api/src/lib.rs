//! The OrderFlow HTTP API. `main.rs` only parses the command line; everything else, including
//! what tests start on port 0, lives here.

pub mod app;
pub mod audit;
pub mod auth;
pub mod bootstrap;
pub mod error;
pub mod extract;
pub mod idempotency;
pub mod jobs;
pub mod limits;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod paging;
pub mod request_id;
pub mod routes;
pub mod startup;
pub mod state;

pub use startup::Application;
