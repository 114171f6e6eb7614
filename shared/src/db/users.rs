//! SQL for `users`.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgExecutor};

use crate::domain::{
    Role,
    paging::{COUNT_BOUND, Page, Total},
};

/// A user row. Holds the password hash: never serialise it to a client.
#[derive(Debug, Clone, FromRow)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub password_hash: String,
    #[sqlx(try_from = "String")]
    pub role: Role,
    pub customer_id: Option<i64>,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
    /// `None` until the owner followed the verification link (self-registered users only).
    pub email_verified_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str =
    "id, email, name, password_hash, role, customer_id, is_active, created_at, email_verified_at";

/// A new user; `verified` for an address someone vouches for (the configured first admin),
/// unverified for a self-registration.
pub async fn insert(
    db: impl PgExecutor<'_>,
    email: &str,
    name: &str,
    password_hash: &str,
    (role, customer_id): (Role, Option<i64>),
    verified: bool,
) -> sqlx::Result<User> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO users (email, name, password_hash, role, customer_id, email_verified_at) \
         VALUES ($1, $2, $3, $4, $5, CASE WHEN $6 THEN now() END) RETURNING {COLUMNS}"
    )))
    .bind(email)
    .bind(name)
    .bind(password_hash)
    .bind(role.as_str())
    .bind(customer_id)
    .bind(verified)
    .fetch_one(db)
    .await
}

/// Marks the address verified; false when the user is gone.
pub async fn mark_verified(db: impl PgExecutor<'_>, id: i64) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE users SET email_verified_at = COALESCE(email_verified_at, now()), \
         updated_at = now() WHERE id = $1",
    )
    .bind(id)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Sets a new password hash; false when the user is gone.
pub async fn set_password(
    db: impl PgExecutor<'_>,
    id: i64,
    password_hash: &str,
) -> sqlx::Result<bool> {
    let done = sqlx::query("UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1")
        .bind(id)
        .bind(password_hash)
        .execute(db)
        .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn get(db: impl PgExecutor<'_>, id: i64) -> sqlx::Result<Option<User>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM users WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(db)
    .await
}

/// What authentication needs of a user (no password hash): who it is, and its live
/// sessions.
#[derive(Debug, Clone, FromRow)]
pub struct AuthRow {
    pub id: i64,
    #[sqlx(try_from = "String")]
    pub role: Role,
    pub customer_id: Option<i64>,
    pub is_active: bool,
    /// Sessions neither revoked nor past their end.
    pub sessions: Vec<uuid::Uuid>,
}

pub async fn get_auth(db: impl PgExecutor<'_>, id: i64) -> sqlx::Result<Option<AuthRow>> {
    sqlx::query_as(
        "SELECT u.id, u.role, u.customer_id, u.is_active, \
           ARRAY(SELECT s.id FROM sessions s WHERE s.user_id = u.id AND s.revoked_at IS NULL \
                 AND s.expires_at > now()) AS sessions \
         FROM users u WHERE u.id = $1",
    )
    .bind(id)
    .fetch_optional(db)
    .await
}

/// Locks the row for the rest of the transaction (used before audited updates).
pub async fn get_for_update(db: impl PgExecutor<'_>, id: i64) -> sqlx::Result<Option<User>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM users WHERE id = $1 FOR UPDATE"
    )))
    .bind(id)
    .fetch_optional(db)
    .await
}

pub async fn find_by_email(db: impl PgExecutor<'_>, email: &str) -> sqlx::Result<Option<User>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM users WHERE email = $1"
    )))
    .bind(email)
    .fetch_optional(db)
    .await
}

/// A page of users by id (keyset after a cursor), and their number (bounded).
pub async fn list(
    db: impl PgExecutor<'_> + Copy,
    role: Option<Role>,
    is_active: Option<bool>,
    page: &Page,
) -> sqlx::Result<(Vec<User>, Total)> {
    const FILTER: &str =
        "($1::text IS NULL OR role = $1) AND ($2::boolean IS NULL OR is_active = $2)";
    let role = role.map(Role::as_str);
    let rows = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM users WHERE {FILTER} AND ($3::bigint IS NULL OR id > $3) \
         ORDER BY id LIMIT $4 OFFSET $5"
    )))
    .bind(role)
    .bind(is_active)
    .bind(super::after_id(page))
    .bind(page.limit())
    .bind(page.offset())
    .fetch_all(db)
    .await?;
    let counted = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM (SELECT 1 FROM users WHERE {FILTER} LIMIT $3) c"
    )))
    .bind(role)
    .bind(is_active)
    .bind(COUNT_BOUND + 1)
    .fetch_one(db)
    .await?;
    Ok((rows, Total::bounded(counted)))
}

/// Changes role, customer link and/or activation; `None` leaves a field as it is.
pub async fn update(
    db: impl PgExecutor<'_>,
    id: i64,
    role: Option<Role>,
    customer_id: Option<i64>,
    is_active: Option<bool>,
) -> sqlx::Result<Option<User>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE users SET role = COALESCE($2, role), customer_id = COALESCE($3, customer_id), \
         is_active = COALESCE($4, is_active), updated_at = now() WHERE id = $1 RETURNING {COLUMNS}"
    )))
    .bind(id)
    .bind(role.map(Role::as_str))
    .bind(customer_id)
    .bind(is_active)
    .fetch_optional(db)
    .await
}

/// Locks every active admin's row (in id order) for the rest of the transaction and returns
/// their ids. Taken before changing any user's role or activation: of two admins demoting
/// each other at once, the second waits for the first, then sees one admin fewer.
pub async fn lock_active_admins(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<i64>> {
    sqlx::query_scalar(
        "SELECT id FROM users WHERE role = 'admin' AND is_active ORDER BY id FOR UPDATE",
    )
    .fetch_all(db)
    .await
}
