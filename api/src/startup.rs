//! Building and serving the application; used by `main` and by the tests (on port 0).

use anyhow::Context;
use axum::Router;
use orderflow_shared::{cache::ReadCache, db, settings::ApiSettings};
use secrecy::ExposeSecret;
use std::{future::Future, net::SocketAddr, sync::Arc};
use tokio::net::TcpListener;

use crate::{
    app,
    auth::{jwt::JwtKeys, password::Passwords, user_cache},
    bootstrap,
    jobs::OutboxWaker,
    limits::{Limiter, LoginGuard},
    paging::CursorKeys,
    state::AppState,
};

pub struct Application {
    listener: TcpListener,
    /// `/metrics` only (`API_METRICS_PORT`).
    metrics_listener: TcpListener,
    router: Router,
    state: AppState,
    /// Stops the background tasks (the user-change listener) when serving ends.
    stop: tokio::sync::watch::Sender<bool>,
}

impl Application {
    /// Connects, migrates (unless `MIGRATE_ON_START=false`), creates the first admin and binds.
    pub async fn build(settings: ApiSettings) -> anyhow::Result<Self> {
        // First: metric handles kept in statics (the pool's) bind to the recorder installed
        // when they are first used.
        orderflow_shared::metrics::install();
        let passwords = Passwords::new(
            settings.password_hash_concurrency,
            settings.password_hash_queue,
            settings.password_hash_wait,
        )?;
        let pool = if settings.migrate_on_start {
            db::ensure_database(&settings.core)
                .await
                .context("creating the database (DATABASE_URL)")?;
            db::migrate(&settings.core)
                .await
                .context("applying migrations (DATABASE_URL)")?;
            db::connect(&settings.core)
                .await
                .context("connecting to PostgreSQL (DATABASE_URL)")?
        } else {
            db::pool(&settings.core).context("DATABASE_URL")?
        };
        match bootstrap::ensure_first_admin(&pool, &passwords, &settings).await {
            Ok(_) => {}
            Err(e) if settings.migrate_on_start => return Err(e),
            Err(e) => tracing::warn!(error = %e, "first admin not ensured"),
        }
        let conn =
            orderflow_shared::dispatch::redis_connection(&settings.core).context("REDIS_URL")?;
        orderflow_shared::metrics::build_info("api");
        crate::metrics::register();

        let users = user_cache::UserCache::new();
        let (stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(user_cache::listen(
            db::connect_options(&settings.core)?,
            users.clone(),
            stopped,
        ));
        let per_hour = settings.core.accounts.emails_per_hour.max(1);
        let account_emails = orderflow_shared::settings::RateLimit {
            burst: per_hour,
            replenish: std::time::Duration::from_secs(3600) / per_hour,
        };
        let limiter = Limiter::new(
            conn.clone(),
            &settings.core.key_prefix,
            &settings.limits,
            account_emails,
        );
        let logins = Arc::new(LoginGuard::new(
            conn.clone(),
            &settings.core.key_prefix,
            settings.lockout,
            settings.limits.redis_timeout,
        ));
        let state = AppState {
            db: pool,
            redis: conn.clone(),
            cache: ReadCache::new(
                conn.clone(),
                &settings.core.key_prefix,
                settings.core.cache.ttl,
                settings.core.cache.timeout,
            ),
            users,
            outbox: OutboxWaker::start(
                conn,
                orderflow_shared::dispatch::wake_channel(&settings.core),
            ),
            jwt: Arc::new(JwtKeys::new(&settings.jwt)),
            cursors: Arc::new(CursorKeys::new(
                settings.jwt.signing_key.secret.expose_secret().as_bytes(),
            )),
            passwords,
            limiter,
            logins,
            settings: Arc::new(settings),
        };
        let router = app::router(state.clone());
        let addr = format!("{}:{}", state.settings.host, state.settings.port);
        let listener = TcpListener::bind(&addr)
            .await
            .with_context(|| format!("binding {addr}"))?;
        let metrics_addr = format!("{}:{}", state.settings.host, state.settings.metrics_port);
        let metrics_listener = TcpListener::bind(&metrics_addr)
            .await
            .with_context(|| format!("binding {metrics_addr} (API_METRICS_PORT)"))?;
        tokio::spawn(orderflow_shared::metrics::sampler::run(
            state.db.clone(),
            state.settings.core.database.max_connections as usize,
            stop.subscribe(),
        ));
        Ok(Self {
            listener,
            metrics_listener,
            router,
            state,
            stop,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("bound listener has an address")
    }

    /// Where `/metrics` is served.
    pub fn metrics_addr(&self) -> SocketAddr {
        self.metrics_listener
            .local_addr()
            .expect("bound listener has an address")
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until SIGTERM or Ctrl-C, then lets in-flight requests finish.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run_until(orderflow_shared::shutdown::signal()).await
    }

    /// Serves until `signal` completes (tests pass their own).
    pub async fn run_until(
        self,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        tracing::info!(
            addr = %self.local_addr(),
            metrics_addr = %self.metrics_addr(),
            "OrderFlow API listening"
        );
        let metrics = tokio::spawn(crate::metrics::serve(
            self.metrics_listener,
            self.stop.subscribe(),
        ));
        let served = axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(signal)
        .await;
        let _ = self.stop.send(true);
        let _ = metrics.await;
        served
    }
}
