//! SQL for `products`.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::{FromRow, PgExecutor};
use utoipa::ToSchema;

use crate::domain::paging::{COUNT_BOUND, Page, Total};

#[derive(Debug, Clone, Serialize, FromRow, ToSchema)]
pub struct Product {
    #[schema(example = 1)]
    pub id: i64,
    #[schema(example = "KB-001")]
    pub sku: String,
    #[schema(example = "Mechanical keyboard")]
    pub name: String,
    /// Unit price, a decimal string with two places.
    #[schema(value_type = String, example = "89.90")]
    pub price: Decimal,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, sku, name, price, is_active, created_at";

pub async fn insert(
    db: impl PgExecutor<'_>,
    sku: &str,
    name: &str,
    price: Decimal,
) -> sqlx::Result<Product> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO products (sku, name, price) VALUES ($1, $2, $3) RETURNING {COLUMNS}"
    )))
    .bind(sku)
    .bind(name)
    .bind(price)
    .fetch_one(db)
    .await
}

pub async fn get(db: impl PgExecutor<'_>, id: i64) -> sqlx::Result<Option<Product>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM products WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(db)
    .await
}

/// Locks the row for the rest of the transaction (used before audited updates).
pub async fn get_for_update(db: impl PgExecutor<'_>, id: i64) -> sqlx::Result<Option<Product>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM products WHERE id = $1 FOR UPDATE"
    )))
    .bind(id)
    .fetch_optional(db)
    .await
}

/// A page of products by id (keyset after a cursor), optionally only active (or only
/// inactive) ones, and their number (bounded).
pub async fn list(
    db: impl PgExecutor<'_> + Copy,
    is_active: Option<bool>,
    page: &Page,
) -> sqlx::Result<(Vec<Product>, Total)> {
    let rows = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM products WHERE ($1::boolean IS NULL OR is_active = $1) \
         AND ($2::bigint IS NULL OR id > $2) ORDER BY id LIMIT $3 OFFSET $4"
    )))
    .bind(is_active)
    .bind(super::after_id(page))
    .bind(page.limit())
    .bind(page.offset())
    .fetch_all(db)
    .await?;
    let counted = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT 1 FROM products \
         WHERE ($1::boolean IS NULL OR is_active = $1) LIMIT $2) c",
    )
    .bind(is_active)
    .bind(COUNT_BOUND + 1)
    .fetch_one(db)
    .await?;
    Ok((rows, Total::bounded(counted)))
}

/// Applies the given changes; `None` leaves a field as it is.
pub async fn update(
    db: impl PgExecutor<'_>,
    id: i64,
    sku: Option<&str>,
    name: Option<&str>,
    price: Option<Decimal>,
    is_active: Option<bool>,
) -> sqlx::Result<Option<Product>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE products SET sku = COALESCE($2, sku), name = COALESCE($3, name), \
         price = COALESCE($4, price), is_active = COALESCE($5, is_active), updated_at = now() \
         WHERE id = $1 RETURNING {COLUMNS}"
    )))
    .bind(id)
    .bind(sku)
    .bind(name)
    .bind(price)
    .bind(is_active)
    .fetch_optional(db)
    .await
}
