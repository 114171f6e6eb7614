//! SQL for `users`.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgExecutor};

use crate::domain::{Role, paging::Page};

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
}

const COLUMNS: &str = "id, email, name, password_hash, role, customer_id, is_active, created_at";

pub async fn insert(
    db: impl PgExecutor<'_>,
    email: &str,
    name: &str,
    password_hash: &str,
    role: Role,
    customer_id: Option<i64>,
) -> sqlx::Result<User> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO users (email, name, password_hash, role, customer_id) \
         VALUES ($1, $2, $3, $4, $5) RETURNING {COLUMNS}"
    )))
    .bind(email)
    .bind(name)
    .bind(password_hash)
    .bind(role.as_str())
    .bind(customer_id)
    .fetch_one(db)
    .await
}

pub async fn get(db: impl PgExecutor<'_>, id: i64) -> sqlx::Result<Option<User>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM users WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(db)
    .await
}

/// What authentication needs of a user (no password hash).
#[derive(Debug, Clone, FromRow)]
pub struct AuthRow {
    pub id: i64,
    #[sqlx(try_from = "String")]
    pub role: Role,
    pub customer_id: Option<i64>,
    pub is_active: bool,
}

pub async fn get_auth(db: impl PgExecutor<'_>, id: i64) -> sqlx::Result<Option<AuthRow>> {
    sqlx::query_as("SELECT id, role, customer_id, is_active FROM users WHERE id = $1")
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

pub async fn list(
    db: impl PgExecutor<'_> + Copy,
    role: Option<Role>,
    is_active: Option<bool>,
    page: Page,
) -> sqlx::Result<(Vec<User>, i64)> {
    const FILTER: &str =
        "($1::text IS NULL OR role = $1) AND ($2::boolean IS NULL OR is_active = $2)";
    let role = role.map(Role::as_str);
    let rows = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM users WHERE {FILTER} ORDER BY id LIMIT $3 OFFSET $4"
    )))
    .bind(role)
    .bind(is_active)
    .bind(page.limit())
    .bind(page.offset())
    .fetch_all(db)
    .await?;
    let total = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM users WHERE {FILTER}"
    )))
    .bind(role)
    .bind(is_active)
    .fetch_one(db)
    .await?;
    Ok((rows, total))
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

/// Counts active admins other than `except_id` (an admin may not demote the last one).
pub async fn count_other_active_admins(
    db: impl PgExecutor<'_>,
    except_id: i64,
) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT count(*) FROM users WHERE role = 'admin' AND is_active AND id <> $1")
        .bind(except_id)
        .fetch_one(db)
        .await
}
