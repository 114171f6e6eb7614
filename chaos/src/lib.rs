//! The fault script's and the soak's engine: OrderFlow's release binaries as child processes
//! on loopback, with a PostgreSQL cluster, a Redis server and an SMTP server of their own.
//! `orderflow-chaos` (scripts/chaos.sh) injects one fault at a time on a quiet system;
//! `orderflow-soak` (scripts/soak.sh) runs a steady load for an hour with faults on a schedule.

pub mod proc;
pub mod redis_server;
pub mod report;
pub mod rows;
pub mod soak;
pub mod stack;
