//! SQL, one module per table group. Functions take an executor so callers choose the
//! transaction boundary.

pub mod audit;
pub mod customers;
pub mod dead_jobs;
pub mod deliveries;
pub mod idempotency;
pub mod orders;
pub mod outbox;
pub mod pool;
pub mod products;
pub mod refresh_tokens;
pub mod users;

use crate::settings::Settings;
pub use pool::{Conn, Pool, Tx};

use sqlx::{
    Postgres,
    migrate::{MigrateDatabase, Migrator},
    postgres::PgConnectOptions,
};
use std::str::FromStr;

/// The reversible migrations in `migrations/`, embedded at compile time.
pub static MIGRATOR: Migrator = sqlx::migrate!("../migrations");

/// How to reach PostgreSQL (`DATABASE_URL`), naming the application in `pg_stat_activity`.
pub fn connect_options(settings: &Settings) -> Result<PgConnectOptions, sqlx::Error> {
    Ok(PgConnectOptions::from_str(settings.database_url())?.application_name("orderflow"))
}

/// A pool that connects on first use: the process can start (and report not-ready) while
/// the database is down.
pub fn pool(settings: &Settings) -> Result<Pool, sqlx::Error> {
    Ok(Pool::new(
        connect_options(settings)?,
        settings.database_max_connections,
        settings.database_acquire_timeout,
    ))
}

/// A pool with one connection already open: fails fast when the database is unreachable.
pub async fn connect(settings: &Settings) -> Result<Pool, sqlx::Error> {
    let pool = pool(settings)?;
    drop(pool.acquire().await?);
    Ok(pool)
}

/// Applies pending migrations (sqlx takes a lock: several instances may do it at once).
pub async fn migrate(pool: &Pool) -> Result<(), sqlx::migrate::MigrateError> {
    let mut conn = pool.acquire().await?;
    MIGRATOR.run(&mut *conn).await
}

/// Creates the database named in `DATABASE_URL` when it does not exist yet.
pub async fn ensure_database(settings: &Settings) -> Result<(), sqlx::Error> {
    let url = settings.database_url();
    if !Postgres::database_exists(url).await? {
        Postgres::create_database(url).await?;
        tracing::info!("database created");
    }
    Ok(())
}

/// Drops the database named in `DATABASE_URL` if it exists (tests and local resets).
pub async fn drop_database(settings: &Settings) -> Result<(), sqlx::Error> {
    let url = settings.database_url();
    if Postgres::database_exists(url).await? {
        Postgres::force_drop_database(url).await?;
    }
    Ok(())
}
