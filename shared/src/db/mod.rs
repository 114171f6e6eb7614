//! SQL, one module per table group. Functions take an executor so callers choose the
//! transaction boundary.

pub mod account_tokens;
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
pub mod sessions;
pub mod stats;
pub mod users;

use crate::settings::Settings;
pub use pool::{Conn, Pool, PoolOptions, Tx};

use sqlx::{
    Connection, PgConnection, Postgres,
    migrate::{MigrateDatabase, Migrator},
    postgres::PgConnectOptions,
};
use std::str::FromStr;

/// The reversible migrations in `migrations/`, embedded at compile time.
pub static MIGRATOR: Migrator = sqlx::migrate!("../migrations");

/// The id a page starts after, for lists keyed by id alone.
fn after_id(page: &crate::domain::paging::Page) -> Option<i64> {
    match page.after() {
        Some([crate::domain::paging::KeyValue::Int(id)]) => Some(*id),
        _ => None,
    }
}

/// How to reach PostgreSQL (`DATABASE_URL`), naming the application in `pg_stat_activity`,
/// with the server-side time limits of every session: `statement_timeout` (below the request
/// timeout), `lock_timeout` and `idle_in_transaction_session_timeout`, sent in the startup
/// packet (no extra round trip).
pub fn connect_options(settings: &Settings) -> Result<PgConnectOptions, sqlx::Error> {
    let db = &settings.database;
    let ms = |d: std::time::Duration| d.as_millis().to_string();
    Ok(bare_options(settings)?.options([
        ("statement_timeout", ms(db.statement_timeout)),
        ("lock_timeout", ms(db.lock_timeout)),
        (
            "idle_in_transaction_session_timeout",
            ms(db.idle_in_transaction_timeout),
        ),
    ]))
}

/// `DATABASE_URL` without OrderFlow's time limits (migrations may run for as long as they
/// need).
fn bare_options(settings: &Settings) -> Result<PgConnectOptions, sqlx::Error> {
    Ok(PgConnectOptions::from_str(settings.database_url())?.application_name("orderflow"))
}

/// A pool that connects on first use (and keeps `DATABASE_MIN_CONNECTIONS` open in the
/// background): the process can start (and report not-ready) while the database is down.
pub fn pool(settings: &Settings) -> Result<Pool, sqlx::Error> {
    let db = &settings.database;
    Ok(Pool::new(
        connect_options(settings)?,
        PoolOptions {
            max_connections: db.max_connections,
            min_connections: db.min_connections,
            acquire_timeout: db.acquire_timeout,
            max_lifetime: db.max_lifetime,
            idle_timeout: db.idle_timeout,
            check_idle_after: db.check_idle_after,
            // Settling waits for the statement under way, which the server ends by then.
            settle_timeout: db.statement_timeout + std::time::Duration::from_secs(5),
        },
    ))
}

/// A pool with one connection already open: fails fast when the database is unreachable.
pub async fn connect(settings: &Settings) -> Result<Pool, sqlx::Error> {
    let pool = pool(settings)?;
    drop(pool.acquire().await?);
    Ok(pool)
}

/// A connection of its own for migrations, without the request path's time limits.
pub async fn migration_connection(settings: &Settings) -> Result<PgConnection, sqlx::Error> {
    PgConnection::connect_with(&bare_options(settings)?).await
}

/// Applies pending migrations (sqlx takes a lock: several instances may do it at once).
pub async fn migrate(settings: &Settings) -> Result<(), sqlx::migrate::MigrateError> {
    let mut conn = migration_connection(settings).await?;
    let applied = MIGRATOR.run(&mut conn).await;
    let _ = conn.close().await;
    applied
}

/// Reverts every migration (local resets and the up-down-up check).
pub async fn undo_migrations(settings: &Settings) -> Result<(), sqlx::migrate::MigrateError> {
    let mut conn = migration_connection(settings).await?;
    let undone = MIGRATOR.undo(&mut conn, 0).await;
    let _ = conn.close().await;
    undone
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
