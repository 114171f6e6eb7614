//! The worker's metrics (served on `/metrics` of its own listener). Labels are bounded: job
//! kind, outcome, reply class, queue state. docs/metrics.md lists every name.

use chrono::{DateTime, Utc};
use orderflow_shared::{
    db::{Pool, dead_jobs},
    dispatch::Queues,
    jobs::JobKind,
};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Email kinds (`orderflow_emails_total{kind}`).
const EMAIL_KINDS: [&str; 7] = [
    "order_confirmation",
    "status_shipped",
    "status_delivered",
    "status_cancelled",
    "account_verify_email",
    "account_reset_password",
    "account_unlock",
];

/// The worker's labelled counters at 0 (see `orderflow_shared::metrics::zero`).
pub fn register() {
    use orderflow_shared::metrics::{register_shared, zero};
    register_shared();
    for kind in JobKind::ALL {
        for outcome in ["success", "retry", "dead", "skipped", "duplicate"] {
            metrics::counter!("orderflow_jobs_total", "kind" => kind.as_str(), "outcome" => outcome)
                .absolute(0);
        }
        metrics::gauge!("orderflow_jobs_running", "kind" => kind.as_str()).set(0.0);
    }
    for kind in EMAIL_KINDS {
        for (result, reply) in [
            ("sent", "2xx"),
            ("failed", "4xx"),
            ("failed", "5xx"),
            ("failed", "network"),
            ("failed", "none"),
        ] {
            metrics::counter!(
                "orderflow_emails_total",
                "kind" => kind,
                "result" => result,
                "reply" => reply
            )
            .absolute(0);
        }
    }
    zero("orderflow_sweeps_total", "trigger", &["wake", "timer"]);
    zero(
        "orderflow_stats_deltas_folded_total",
        "table",
        &["orders", "products"],
    );
    zero(
        "orderflow_cleanup_deleted_total",
        "what",
        &[
            "idempotency_keys",
            "refresh_tokens",
            "sessions",
            "account_tokens",
            "outbox_rows",
            "redis_tasks",
        ],
    );
    zero(
        "orderflow_redis_errors_total",
        "component",
        &["dispatch", "queue_sample"],
    );
}

/// Counts a finished attempt; for completed jobs also records enqueue→done latency.
/// `outcome`: success, retry, dead, skipped or duplicate.
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

/// `orderflow_jobs_running{kind}` up while this lives.
pub struct Running(&'static str);

impl Running {
    pub fn start(kind: JobKind) -> Self {
        metrics::gauge!("orderflow_jobs_running", "kind" => kind.as_str()).increment(1.0);
        Self(kind.as_str())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        metrics::gauge!("orderflow_jobs_running", "kind" => self.0).decrement(1.0);
    }
}

/// One SMTP send by its result ("sent"/"failed") and reply class ("2xx", "4xx", "5xx",
/// "network", "none").
pub fn email(kind: &str, result: &'static str, reply: &'static str) {
    // Status kinds are status_shipped/_delivered/_cancelled: still a handful of values.
    metrics::counter!(
        "orderflow_emails_total",
        "kind" => kind.to_owned(),
        "result" => result,
        "reply" => reply
    )
    .increment(1);
}

pub fn smtp_send(took: Duration) {
    metrics::histogram!("orderflow_smtp_send_seconds").record(took.as_secs_f64());
}

/// `trigger`: "wake" (an API's publish) or "timer" (the periodic tick).
pub fn sweep(trigger: &'static str) {
    metrics::counter!("orderflow_sweeps_total", "trigger" => trigger).increment(1);
}

pub fn cleanup_deleted(what: &'static str, rows: u64) {
    metrics::counter!("orderflow_cleanup_deleted_total", "what" => what).increment(rows);
}

/// The worker's sampled gauges: Redis queue depths and dead jobs in PostgreSQL, every
/// `sampler::EVERY`, until `stop`.
pub async fn sample(db: Pool, queues: Queues, mut stop: watch::Receiver<bool>) {
    metrics::gauge!("orderflow_worker_up").set(1.0);
    let mut tick = tokio::time::interval(orderflow_shared::metrics::sampler::EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            changed = stop.changed() => if changed.is_err() || *stop.borrow() { return },
        }
        match queues.depths().await {
            Ok(depths) => {
                for d in depths {
                    let queue = d.kind.as_str();
                    for (state, n) in [
                        ("scheduled", d.scheduled),
                        ("ready", d.ready),
                        ("running", d.running),
                    ] {
                        metrics::gauge!("orderflow_queue_jobs", "queue" => queue, "state" => state)
                            .set(n as f64);
                    }
                }
            }
            Err(e) => {
                orderflow_shared::metrics::redis_error("queue_sample");
                tracing::debug!(error = %e, "queue depths not sampled");
            }
        }
        let dead = tokio::time::timeout(Duration::from_secs(2), dead_jobs::count_open(&db)).await;
        if let Ok(Ok(dead)) = dead {
            metrics::gauge!("orderflow_dead_jobs").set(dead as f64);
        }
    }
}
