//! Jobs end to end: API → outbox → Redis → worker → a real SMTP server on loopback.

mod accounts;
mod backlog;
mod cleanup;
mod delivery;
mod expiry;
mod failures;
mod helpers;
mod log_ids;
mod monitoring;
mod outage;
mod processes;
mod scale_out;
