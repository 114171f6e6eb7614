//! Building and serving the application; used by `main` and by the tests (on port 0).

use anyhow::Context;
use axum::Router;
use orderflow_shared::{db, settings::Settings};
use std::{future::Future, net::SocketAddr, sync::Arc};
use tokio::net::TcpListener;

use crate::{
    app::{self, AppState},
    auth::{jwt::JwtKeys, password::Passwords},
    bootstrap,
};

pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
}

impl Application {
    /// Connects, migrates (unless `MIGRATE_ON_START=false`), creates the first admin and binds.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let passwords = Passwords::new(settings.password_hash_concurrency)?;
        let pool = if settings.migrate_on_start {
            db::ensure_database(&settings)
                .await
                .context("creating the database (DATABASE_URL)")?;
            let pool = db::connect(&settings)
                .await
                .context("connecting to PostgreSQL (DATABASE_URL)")?;
            db::MIGRATOR
                .run(&pool)
                .await
                .context("applying migrations")?;
            pool
        } else {
            db::connect_lazy(&settings).context("DATABASE_URL")?
        };
        match bootstrap::ensure_first_admin(&pool, &passwords, &settings).await {
            Ok(_) => {}
            Err(e) if settings.migrate_on_start => return Err(e),
            Err(e) => tracing::warn!(error = %e, "first admin not ensured"),
        }
        let redis = redis::Client::open(settings.redis_url()).context("REDIS_URL")?;
        let queues = orderflow_shared::dispatch::Queues::new(
            orderflow_shared::dispatch::redis_connection(&settings).context("REDIS_URL")?,
            &settings,
        );
        orderflow_shared::metrics::install();

        let state = AppState {
            db: pool,
            redis,
            queues,
            dispatch_permits: Arc::new(tokio::sync::Semaphore::new(crate::jobs::MAX_IN_FLIGHT)),
            jwt: Arc::new(JwtKeys::new(&settings.jwt)),
            passwords,
            settings: Arc::new(settings),
        };
        let router = app::router(state.clone());
        let addr = format!("{}:{}", state.settings.host, state.settings.port);
        let listener = TcpListener::bind(&addr)
            .await
            .with_context(|| format!("binding {addr}"))?;
        Ok(Self {
            listener,
            router,
            state,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
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
        tracing::info!(addr = %self.local_addr(), "OrderFlow API listening");
        axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(signal)
        .await
    }
}
