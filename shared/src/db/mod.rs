//! SQL, one module per table group. Functions take an executor so callers choose the
//! transaction boundary.

pub mod audit;
pub mod customers;
pub mod dead_jobs;
pub mod deliveries;
pub mod idempotency;
pub mod orders;
pub mod outbox;
pub mod products;
pub mod refresh_tokens;
pub mod users;

use crate::settings::Settings;
use sqlx::{
    PgPool, Postgres,
    migrate::{MigrateDatabase, Migrator},
    postgres::{PgConnectOptions, PgPoolOptions},
};
use std::str::FromStr;

/// The reversible migrations in `migrations/`, embedded at compile time.
pub static MIGRATOR: Migrator = sqlx::migrate!("../migrations");

fn pool_options(settings: &Settings) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(settings.database_max_connections)
        .acquire_timeout(settings.database_acquire_timeout)
        // sqlx pings every connection before handing it out by default: one extra round trip
        // per query. A connection that died is found by the query itself, which fails, and
        // is then closed; requests answer 503 and the next one gets a fresh connection.
        .test_before_acquire(false)
}

fn connect_options(settings: &Settings) -> Result<PgConnectOptions, sqlx::Error> {
    Ok(PgConnectOptions::from_str(settings.database_url())?.application_name("orderflow"))
}

/// Connects now, failing fast when the database is unreachable.
pub async fn connect(settings: &Settings) -> Result<PgPool, sqlx::Error> {
    pool_options(settings)
        .connect_with(connect_options(settings)?)
        .await
}

/// A pool that connects on first use: the process can start (and report not-ready)
/// while the database is down.
pub fn connect_lazy(settings: &Settings) -> Result<PgPool, sqlx::Error> {
    Ok(pool_options(settings).connect_lazy_with(connect_options(settings)?))
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
