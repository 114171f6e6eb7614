//! Reading orders: one order, paged lists with filters and sorting, and the staff summary.

use axum::{Json, extract::State, http::Uri, response::Response};
use chrono::{DateTime, Utc};
use orderflow_shared::{
    cache::Entity,
    db::{
        self,
        orders::{OrderFilter, OrderSort},
    },
    domain::{
        OrderStatus, PageParams, Paged, Validator,
        money::{self, to_cents},
        paging::Total,
    },
};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::time::Instant;
use utoipa::{IntoParams, ToSchema};

use super::{OrderResponse, load_visible};
use crate::{
    auth::CurrentUser,
    error::{ApiError, ErrorBody, Result},
    extract::{AppPath, AppQuery},
    paging::{Listing, PageResponse},
    routes::json_bytes,
    state::AppState,
};

/// One order (customers: only their own; others answer 404). Served from the Redis cache when
/// it holds the order (after checking the caller may see it), otherwise one statement that
/// also applies that check, whatever the number of items.
#[utoipa::path(get, path = "/api/v1/orders/{id}", tag = "orders",
    params(("id" = i64, Path, description = "Order id")),
    security(("bearer" = []), ("oauth2" = [])),
    responses(
        (status = 200, description = "The order", body = OrderResponse),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 404, description = "No such order (or not yours)", body = ErrorBody),
    ))]
pub async fn get_order(
    State(state): State<AppState>,
    user: CurrentUser,
    AppPath(id): AppPath<i64>,
) -> Result<Response> {
    if let Some(hit) = state.cache.get(Entity::Order, id).await {
        // The tag is the order's customer: the same rule as the statement's scope.
        if !user.can_see_customer(hit.tag) {
            return Err(ApiError::not_found("Order"));
        }
        return Ok(json_bytes(hit.body));
    }
    let read_started = Instant::now();
    let order = load_visible(&state.db, &user, id).await?;
    let body = serde_json::to_vec(&order).map_err(ApiError::internal)?;
    state
        .cache
        .fill(Entity::Order, id, order.customer_id, &body, read_started)
        .await;
    Ok(json_bytes(body))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct OrdersQuery {
    pub status: Option<OrderStatus>,
    /// Staff/admin; customers always see only their own orders.
    pub customer_id: Option<i64>,
    /// RFC 3339, inclusive (encode `+` as `%2B`).
    pub created_from: Option<DateTime<Utc>>,
    /// RFC 3339, exclusive.
    pub created_to: Option<DateTime<Utc>>,
    /// A decimal amount, e.g. `10.00`.
    #[param(example = "10.00")]
    pub min_total: Option<String>,
    #[param(example = "500.00")]
    pub max_total: Option<String>,
    /// `created_at`, `-created_at` (default), `total`, `-total` or `id`.
    pub sort: Option<String>,
    /// Where the page starts: the `cursor` of the previous page's `next` link (made for the
    /// same filters and sort; 400 otherwise).
    pub cursor: Option<String>,
    /// 1-based page number, up to 10,000 rows deep (use `next` links beyond).
    #[param(minimum = 1)]
    pub page: Option<i64>,
    #[param(minimum = 1, maximum = 100)]
    pub page_size: Option<i64>,
}

fn check_range<T: PartialOrd>(v: &mut Validator, field: &str, from: Option<T>, to: Option<T>) {
    if let (Some(from), Some(to)) = (from, to)
        && from > to
    {
        v.push(field, "must not be before the start of the range");
    }
}

/// Lists orders, newest first by default. One statement per page (the total, the orders,
/// their customers and items), whatever the page size; a page reached by its cursor costs the
/// same at any depth. `total` is exact for lists filtered by status alone (maintained counts)
/// and otherwise counted up to 1,000 (`total_exact` false beyond).
#[utoipa::path(get, path = "/api/v1/orders", tag = "orders",
    params(OrdersQuery),
    security(("bearer" = []), ("oauth2" = [])),
    responses(
        (status = 200, description = "A page of orders", body = Paged<OrderResponse>,
            headers(("Link" = String, description = "`<…>; rel=\"next\"` unless this is the last page"))),
        (status = 400, description = "A cursor that is not for this request", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 422, description = "Bad filter, sort or paging", body = ErrorBody),
    ))]
pub async fn list_orders(
    State(state): State<AppState>,
    user: CurrentUser,
    uri: Uri,
    AppQuery(q): AppQuery<OrdersQuery>,
) -> Result<PageResponse<OrderResponse>> {
    let mut v = Validator::new();
    let sort = v
        .check_opt("sort", q.sort, |s| OrderSort::parse(&s))
        .unwrap_or_default();
    let min_total = v.check_opt("min_total", q.min_total, |s| money::amount(&s));
    let max_total = v.check_opt("max_total", q.max_total, |s| money::amount(&s));
    check_range(&mut v, "created_to", q.created_from, q.created_to);
    check_range(&mut v, "max_total", min_total, max_total);
    v.finish().map_err(ApiError::invalid)?;

    let (scope, others) = match user.own_customer_id() {
        // Another customer's orders: the honest answer is "none of yours".
        Some(own) => (
            format!("customer {own}"),
            q.customer_id.is_some_and(|c| c != own),
        ),
        None => ("staff".to_string(), false),
    };
    let filter = OrderFilter {
        status: q.status,
        customer_id: user.own_customer_id().or(q.customer_id),
        created_from: q.created_from,
        created_to: q.created_to,
        min_total,
        max_total,
    };
    let filters = format!("{filter:?}");
    let sort_name = format!("{sort:?}");
    let listing = Listing::new(
        &state.cursors,
        "orders",
        &[&scope, &filters, &sort_name],
        &uri,
    );
    let page = listing.page(q.cursor.as_deref(), PageParams::new(q.page, q.page_size))?;
    let rows = if others {
        (vec![], Total::exact(0))
    } else {
        db::orders::list(&state.db, &filter, sort, &page).await?
    };
    Ok(listing.respond(
        &page,
        rows,
        |o| db::orders::sort_key(&o.order, sort),
        OrderResponse::from,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SummaryQuery {
    /// RFC 3339, inclusive.
    pub created_from: Option<DateTime<Utc>>,
    /// RFC 3339, exclusive.
    pub created_to: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StatusSummary {
    pub status: OrderStatus,
    pub count: i64,
    #[schema(value_type = String, example = "1234.50")]
    pub revenue: Decimal,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProductSummary {
    pub product_id: i64,
    pub product_name: String,
    pub quantity: i64,
    #[schema(value_type = String, example = "899.00")]
    pub revenue: Decimal,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderSummary {
    pub created_from: Option<DateTime<Utc>>,
    pub created_to: Option<DateTime<Utc>>,
    /// Every status, zeros included.
    pub by_status: Vec<StatusSummary>,
    pub total_orders: i64,
    /// Revenue of orders that are not cancelled.
    #[schema(value_type = String, example = "1234.50")]
    pub total_revenue: Decimal,
    /// Top 10 products by quantity (cancelled orders excluded).
    pub top_products: Vec<ProductSummary>,
}

/// Counts and revenue by status and the top products (staff/admin): one aggregate statement
/// each.
#[utoipa::path(get, path = "/api/v1/orders/summary", tag = "orders",
    params(SummaryQuery),
    security(("bearer" = []), ("oauth2" = [])),
    responses(
        (status = 200, description = "The summary", body = OrderSummary),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Not staff", body = ErrorBody),
        (status = 422, description = "Bad date", body = ErrorBody),
    ))]
pub async fn order_summary(
    State(state): State<AppState>,
    user: CurrentUser,
    AppQuery(q): AppQuery<SummaryQuery>,
) -> Result<Json<OrderSummary>> {
    user.require_staff()?;
    let mut v = Validator::new();
    check_range(&mut v, "created_to", q.created_from, q.created_to);
    v.finish().map_err(ApiError::invalid)?;
    let (totals, top) = tokio::try_join!(
        db::orders::totals_by_status(&state.db, q.created_from, q.created_to),
        db::orders::top_products(&state.db, q.created_from, q.created_to),
    )?;
    let by_status: Vec<StatusSummary> = OrderStatus::ALL
        .into_iter()
        .map(|status| {
            let row = totals.iter().find(|t| t.status == status);
            StatusSummary {
                status,
                count: row.map_or(0, |r| r.count),
                revenue: to_cents(row.map_or(Decimal::ZERO, |r| r.revenue)),
            }
        })
        .collect();
    let total_revenue = to_cents(
        by_status
            .iter()
            .filter(|s| s.status != OrderStatus::Cancelled)
            .map(|s| s.revenue)
            .sum(),
    );
    Ok(Json(OrderSummary {
        created_from: q.created_from,
        created_to: q.created_to,
        total_orders: by_status.iter().map(|s| s.count).sum(),
        total_revenue,
        by_status,
        top_products: top
            .into_iter()
            .map(|p| ProductSummary {
                product_id: p.product_id,
                product_name: p.product_name,
                quantity: p.quantity,
                revenue: to_cents(p.revenue),
            })
            .collect(),
    }))
}
