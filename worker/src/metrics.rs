//! The worker's metrics (served on `/metrics`). Labels are bounded: job kind and outcome.

use chrono::{DateTime, Utc};
use orderflow_shared::jobs::JobKind;
use std::time::Instant;

/// Counts a finished attempt; for completed jobs also records enqueue→done latency.
pub fn job_finished(
    kind: JobKind,
    outcome: &'static str,
    started: Instant,
    enqueued_at: Option<DateTime<Utc>>,
) {
    let kind = kind.as_str();
    metrics::counter!("orderflow_jobs_total", "kind" => kind, "outcome" => outcome).increment(1);
    metrics::histogram!("orderflow_job_duration_seconds", "kind" => kind)
        .record(started.elapsed().as_secs_f64());
    if let Some(enqueued_at) = enqueued_at {
        let latency = (Utc::now() - enqueued_at).num_milliseconds().max(0) as f64 / 1000.0;
        metrics::histogram!("orderflow_job_latency_seconds", "kind" => kind).record(latency);
    }
}

pub fn email_sent(kind: &str) {
    // Status kinds are status_shipped/_delivered/_cancelled: still a handful of values.
    metrics::counter!("orderflow_emails_sent_total", "kind" => kind.to_owned()).increment(1);
}

pub fn outbox_backlog(rows: i64) {
    metrics::gauge!("orderflow_outbox_backlog").set(rows as f64);
}

pub fn cleanup_deleted(what: &'static str, rows: u64) {
    metrics::counter!("orderflow_cleanup_deleted_total", "what" => what).increment(rows);
}
