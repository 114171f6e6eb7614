//! One module per fault of the table in docs/reliability.md, in the order they run.

pub mod postgres_down;
pub mod races;
pub mod redis_down;
pub mod redis_stall;
pub mod smtp_down;
pub mod smtp_reject;
pub mod worker_kill;
pub mod worker_term;

/// (name for `--only`, what it injects).
pub const ALL: [&str; 8] = [
    "kill",
    "term",
    "redis-down",
    "redis-stall",
    "postgres-down",
    "smtp-down",
    "smtp-reject",
    "races",
];
