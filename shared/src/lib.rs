//! Code both OrderFlow binaries share: domain rules (no I/O), SQL, settings and telemetry.

pub mod cache;
pub mod db;
pub mod dispatch;
pub mod domain;
pub mod jobs;
pub mod metrics;
pub mod opaque_token;
pub mod redis_link;
pub mod settings;
pub mod shutdown;
pub mod telemetry;
