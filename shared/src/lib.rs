//! Code both OrderFlow binaries share: domain rules (no I/O), SQL, settings and telemetry.

pub mod db;
pub mod domain;
pub mod metrics;
pub mod settings;
pub mod telemetry;
