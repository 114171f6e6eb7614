//! The OrderFlow worker: consumes confirmation-email, status-email, expiry and account-email
//! jobs from apalis-redis, sweeps the outbox into Redis, cleans up on a schedule, and serves `/health`
//! and `/metrics`. `main.rs` only reads settings; tests start the same thing in-process.

pub mod cleanup;
pub mod context;
pub mod email;
pub mod handlers;
pub mod metrics;
mod poll;
pub mod restart;
pub mod server;
pub mod stats;
pub mod sweep;
pub mod wake;

use anyhow::Context as _;
use apalis::prelude::*;
use apalis_redis::ConnectionManager;
use orderflow_shared::{
    cache::ReadCache,
    db,
    dispatch::{self, Queues},
    domain::retry::RetryPolicy,
    settings::WorkerSettings,
};
use std::{future::Future, net::SocketAddr, sync::Arc};
use tokio::{
    net::TcpListener,
    sync::{Notify, watch},
};

use crate::{context::JobContext, email::Mailer};

pub struct Worker {
    settings: WorkerSettings,
    name: String,
    listener: TcpListener,
    ctx: JobContext,
    redis: ConnectionManager,
}

/// `host-pid-random`: unique per process, as apalis-redis needs to tell a dead worker's
/// in-flight jobs from a live one's.
pub fn unique_name() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "worker".into());
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{host}-{}-{}", std::process::id(), &random[..8])
}

impl Worker {
    /// Prepares connections (lazily: PostgreSQL and Redis may come up later) and binds the
    /// health/metrics port.
    pub async fn build(settings: WorkerSettings) -> anyhow::Result<Self> {
        // First: metric handles kept in statics (the pool's) bind to the recorder installed
        // when they are first used.
        orderflow_shared::metrics::install();
        // Jobs hold a database connection only for single statements (never across the SMTP
        // dialogue), so the pool needs no more than `DATABASE_MAX_CONNECTIONS` whatever the
        // concurrency.
        let db = db::pool(&settings.core).context("DATABASE_URL")?;
        let redis = dispatch::redis_connection(&settings.core).context("REDIS_URL")?;
        let queues = Queues::new(
            redis.clone(),
            &settings.core.key_prefix,
            settings.queue_tuning(),
        );
        // One SMTP connection per email job that can run at once.
        let mailer = Mailer::new(
            &settings.smtp,
            settings.concurrency * handlers::EMAIL_QUEUES,
        )?;
        let name = settings.name.clone().unwrap_or_else(unique_name);
        let addr = format!("{}:{}", settings.host, settings.port);
        let listener = TcpListener::bind(&addr)
            .await
            .with_context(|| format!("binding {addr} (WORKER_HOST/WORKER_PORT)"))?;
        orderflow_shared::metrics::build_info("worker");
        metrics::register();
        let ctx = JobContext {
            db,
            mailer,
            queues,
            policy: RetryPolicy {
                max_attempts: settings.core.jobs.max_attempts,
                base: settings.core.jobs.backoff_base,
                cap: settings.core.jobs.backoff_cap,
            },
            timeout: settings.core.jobs.timeout,
            cache: ReadCache::new(
                redis.clone(),
                &settings.core.key_prefix,
                settings.core.cache.ttl,
                settings.core.cache.timeout,
            ),
            sweep: Arc::new(Notify::new()),
            accounts: settings.core.accounts.clone(),
        };
        Ok(Self {
            settings,
            name,
            listener,
            ctx,
            redis,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("bound listener")
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs until `signal`, then stops fetching, lets in-flight jobs finish (up to
    /// `WORKER_SHUTDOWN_TIMEOUT_SECONDS`) and returns.
    pub async fn run_until(
        self,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let Self {
            settings,
            name,
            listener,
            ctx,
            redis,
        } = self;
        tracing::info!(worker = %name, addr = %listener.local_addr()?, "OrderFlow worker starting");
        let jobs = &settings.core.jobs;
        if jobs.redispatch_after <= jobs.backoff_cap + jobs.timeout {
            tracing::warn!(
                "JOB_REDISPATCH_AFTER_SECONDS should exceed JOB_BACKOFF_CAP_MS + JOB_TIMEOUT_SECONDS: \
                 jobs waiting for a retry may be dispatched twice (harmless, but attempts add up)"
            );
        }
        let (stop_tx, stop_rx) = watch::channel(false);
        let background = [
            tokio::spawn(server::serve(
                listener,
                server::router(name.clone()),
                stop_rx.clone(),
            )),
            tokio::spawn(wake::listen(
                redis::Client::open(settings.core.redis_url())?,
                dispatch::wake_channel(&settings.core),
                ctx.sweep.clone(),
                stop_rx.clone(),
            )),
            tokio::spawn(sweep::run(
                ctx.db.clone(),
                ctx.queues.clone(),
                ctx.sweep.clone(),
                (
                    settings.core.jobs.outbox_sweep_interval,
                    settings.core.jobs.redispatch_after,
                ),
                stop_rx.clone(),
            )),
            tokio::spawn(orderflow_shared::metrics::sampler::run(
                ctx.db.clone(),
                settings.core.database.max_connections as usize,
                stop_rx.clone(),
            )),
            tokio::spawn(metrics::sample(
                ctx.db.clone(),
                ctx.queues.clone(),
                stop_rx.clone(),
            )),
            tokio::spawn(stats::run(
                ctx.db.clone(),
                settings.stats_fold_interval,
                stop_rx.clone(),
            )),
            tokio::spawn(cleanup::run(
                ctx.db.clone(),
                redis,
                settings.clone(),
                stop_rx.clone(),
            )),
        ];

        let poll = settings.poll_interval;
        let concurrency = settings.concurrency;
        let grace = settings.shutdown_timeout;
        // One apalis monitor per queue, each restarted on its own when Redis goes away
        // (`restart.rs`).
        macro_rules! monitor {
            ($queue:ident, $handler:path) => {{
                let (ctx, name) = (ctx.clone(), format!("{name}:{}", stringify!($queue)));
                move || {
                    let (ctx, name) = (ctx.clone(), name.clone());
                    Monitor::new().shutdown_timeout(grace).register(move |_| {
                        WorkerBuilder::new(name.as_str())
                            .backend(
                                ctx.queues
                                    .$queue
                                    .clone()
                                    .poll_with_strategy(poll::Every::new(poll)),
                            )
                            .data(ctx.clone())
                            .concurrency(concurrency)
                            .catch_panic()
                            .enable_tracing()
                            .build($handler)
                    })
                }
            }};
        }
        let confirmation = monitor!(confirmation, handlers::confirmation::handle);
        let status_changed = monitor!(status_changed, handlers::status_changed::handle);
        let expiry = monitor!(expiry, handlers::expiry::handle);
        let account = monitor!(account, handlers::account::handle);
        let stop_on_signal = {
            let stop_tx = stop_tx.clone();
            async move {
                signal.await;
                let _ = stop_tx.send(true);
            }
        };
        tokio::join!(
            stop_on_signal,
            restart::supervise("confirmation", confirmation, stop_rx.clone()),
            restart::supervise("status_changed", status_changed, stop_rx.clone()),
            restart::supervise("expiry", expiry, stop_rx.clone()),
            restart::supervise("account", account, stop_rx.clone()),
        );
        let _ = stop_tx.send(true);
        for task in background {
            let _ = task.await;
        }
        tracing::info!(worker = %name, "OrderFlow worker stopped");
        Ok(())
    }
}
