//! SQL for `customers`.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{FromRow, PgExecutor};
use utoipa::ToSchema;

use crate::domain::{
    Tier,
    paging::{COUNT_BOUND, Page, Total},
};

#[derive(Debug, Clone, Serialize, FromRow, ToSchema)]
pub struct Customer {
    #[schema(example = 1)]
    pub id: i64,
    #[schema(example = "Ada Lovelace")]
    pub name: String,
    #[schema(example = "ada@example.com")]
    pub email: String,
    #[sqlx(try_from = "String")]
    pub tier: Tier,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, name, email, tier, is_active, created_at";

/// Optional filters of the customer list; `None` means "any".
#[derive(Debug, Default, Clone)]
pub struct CustomerFilter {
    pub email: Option<String>,
    pub is_active: Option<bool>,
    pub tier: Option<Tier>,
}

pub async fn insert(
    db: impl PgExecutor<'_>,
    name: &str,
    email: &str,
    tier: Tier,
) -> sqlx::Result<Customer> {
    sqlx::query_as(
        "INSERT INTO customers (name, email, tier) VALUES ($1, $2, $3) \
         RETURNING id, name, email, tier, is_active, created_at",
    )
    .bind(name)
    .bind(email)
    .bind(tier.as_str())
    .fetch_one(db)
    .await
}

pub async fn get(db: impl PgExecutor<'_>, id: i64) -> sqlx::Result<Option<Customer>> {
    sqlx::query_as(
        "SELECT id, name, email, tier, is_active, created_at FROM customers WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(db)
    .await
}

/// Locks the row for the rest of the transaction (used before audited updates).
pub async fn get_for_update(db: impl PgExecutor<'_>, id: i64) -> sqlx::Result<Option<Customer>> {
    sqlx::query_as(
        "SELECT id, name, email, tier, is_active, created_at FROM customers WHERE id = $1 \
         FOR UPDATE",
    )
    .bind(id)
    .fetch_optional(db)
    .await
}

const FILTER: &str = "($1::text IS NULL OR email = $1) \
     AND ($2::boolean IS NULL OR is_active = $2) \
     AND ($3::text IS NULL OR tier = $3)";

/// A page of customers by id (keyset after a cursor), and their number (bounded).
pub async fn list(
    db: impl PgExecutor<'_> + Copy,
    filter: &CustomerFilter,
    page: &Page,
) -> sqlx::Result<(Vec<Customer>, Total)> {
    let tier = filter.tier.map(Tier::as_str);
    let rows = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM customers WHERE {FILTER} AND ($4::bigint IS NULL OR id > $4) \
         ORDER BY id LIMIT $5 OFFSET $6"
    )))
    .bind(&filter.email)
    .bind(filter.is_active)
    .bind(tier)
    .bind(super::after_id(page))
    .bind(page.limit())
    .bind(page.offset())
    .fetch_all(db)
    .await?;
    let counted = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM (SELECT 1 FROM customers WHERE {FILTER} LIMIT $4) c"
    )))
    .bind(&filter.email)
    .bind(filter.is_active)
    .bind(tier)
    .bind(COUNT_BOUND + 1)
    .fetch_one(db)
    .await?;
    Ok((rows, Total::bounded(counted)))
}

/// Applies the given changes; `None` leaves a field as it is.
pub async fn update(
    db: impl PgExecutor<'_>,
    id: i64,
    name: Option<&str>,
    tier: Option<Tier>,
    is_active: Option<bool>,
) -> sqlx::Result<Option<Customer>> {
    sqlx::query_as(
        "UPDATE customers SET name = COALESCE($2, name), tier = COALESCE($3, tier), \
         is_active = COALESCE($4, is_active), updated_at = now() WHERE id = $1 \
         RETURNING id, name, email, tier, is_active, created_at",
    )
    .bind(id)
    .bind(name)
    .bind(tier.map(Tier::as_str))
    .bind(is_active)
    .fetch_optional(db)
    .await
}
