//! What every job handler needs, passed to apalis as `Data<JobContext>`.

use orderflow_shared::{
    cache::ReadCache, db::Pool, dispatch::Queues, domain::retry::RetryPolicy,
    settings::AccountSettings,
};
use std::{sync::Arc, time::Duration};
use tokio::sync::Notify;

use crate::email::Mailer;

#[derive(Clone)]
pub struct JobContext {
    pub db: Pool,
    pub mailer: Mailer,
    pub queues: Queues,
    pub policy: RetryPolicy,
    /// Longest one attempt may take.
    pub timeout: Duration,
    /// The API's read cache, invalidated when a job changes an order.
    pub cache: ReadCache,
    /// Wakes this process's outbox sweep (a job wrote outbox rows).
    pub sweep: Arc<Notify>,
    /// Where account emails' links point and how long their tokens live.
    pub accounts: AccountSettings,
}
