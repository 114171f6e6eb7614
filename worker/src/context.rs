//! What every job handler needs, passed to apalis as `Data<JobContext>`.

use orderflow_shared::{dispatch::Queues, domain::retry::RetryPolicy};
use sqlx::PgPool;
use std::time::Duration;

use crate::email::Mailer;

#[derive(Clone)]
pub struct JobContext {
    pub db: PgPool,
    pub mailer: Mailer,
    pub queues: Queues,
    pub policy: RetryPolicy,
    /// Longest one attempt may take.
    pub timeout: Duration,
}
