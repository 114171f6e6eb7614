//! `/api/v1/products`: the catalogue. Admins write; every authenticated user reads (customers
//! only see active products).

use axum::{
    Json,
    extract::State,
    http::{StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use orderflow_shared::{
    cache::Entity,
    db::{self, products::Product},
    domain::{PageParams, Paged, Price, Validator, paging::KeyValue, sku, text},
};
use serde::Deserialize;
use std::time::Instant;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    audit,
    auth::CurrentUser,
    error::{ApiError, ErrorBody, Result},
    extract::{AppJson, AppPath, AppQuery},
    paging::{Listing, PageResponse},
    routes::json_bytes,
    state::AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_product, list_products))
        .routes(routes!(get_product, update_product, deactivate_product))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProductRequest {
    #[schema(example = "KB-001")]
    pub sku: String,
    #[schema(example = "Mechanical keyboard")]
    pub name: String,
    /// Decimal string, > 0, at most 2 places.
    /// A decimal string: up to 10 integer digits, up to 2 decimals, greater than 0.
    #[schema(example = "89.90")]
    pub price: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProductRequest {
    pub sku: Option<String>,
    pub name: Option<String>,
    /// As in creation.
    #[schema(example = "79.90")]
    pub price: Option<String>,
    pub is_active: Option<bool>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ProductQuery {
    /// Staff/admin only; customers always get active products.
    pub is_active: Option<bool>,
    /// Where the page starts: the `cursor` of the previous page's `next` link.
    pub cursor: Option<String>,
    /// 1-based page number, up to 10,000 rows deep (use `next` links beyond).
    #[param(minimum = 1)]
    pub page: Option<i64>,
    #[param(minimum = 1, maximum = 100)]
    pub page_size: Option<i64>,
}

/// Adds a product (admin).
#[utoipa::path(post, path = "/api/v1/products", tag = "products",
    request_body = CreateProductRequest,
    security(("bearer" = []), ("oauth2" = [])),
    responses(
        (status = 201, description = "Created", body = Product),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 409, description = "SKU already used", body = ErrorBody),
        (status = 422, description = "Invalid field", body = ErrorBody),
    ))]
async fn create_product(
    State(state): State<AppState>,
    user: CurrentUser,
    AppJson(req): AppJson<CreateProductRequest>,
) -> Result<impl IntoResponse> {
    user.require_admin()?;
    let mut v = Validator::new();
    let sku = v.check("sku", sku::parse(&req.sku));
    let name = v.check("name", text::required(&req.name, 200));
    let price = v.check("price", Price::parse_str(&req.price));
    v.finish().map_err(ApiError::invalid)?;
    let mut tx = state.db.begin().await?;
    let product = db::products::insert(
        &mut *tx,
        &sku.expect("validated"),
        &name.expect("validated"),
        price.expect("validated").value(),
    )
    .await?;
    let entity = ("product", product.id);
    audit::record(
        &mut tx,
        &user,
        "product.created",
        entity,
        None,
        Some(&product),
    )
    .await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("/api/v1/products/{}", product.id))],
        Json(product),
    ))
}

/// Lists products.
#[utoipa::path(get, path = "/api/v1/products", tag = "products",
    params(ProductQuery),
    security(("bearer" = []), ("oauth2" = [])),
    responses(
        (status = 200, description = "A page of products, by id", body = Paged<Product>,
            headers(("Link" = String, description = "`<…>; rel=\"next\"` unless this is the last page"))),
        (status = 400, description = "A cursor that is not for this request", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 422, description = "Bad paging or filter", body = ErrorBody),
    ))]
async fn list_products(
    State(state): State<AppState>,
    user: CurrentUser,
    uri: Uri,
    AppQuery(q): AppQuery<ProductQuery>,
) -> Result<PageResponse<Product>> {
    let is_active = if user.role.is_staff_or_admin() {
        q.is_active
    } else {
        Some(true)
    };
    let filter = format!("is_active={is_active:?}");
    let listing = Listing::new(&state.cursors, "products", &[&filter], &uri);
    let page = listing.page(q.cursor.as_deref(), PageParams::new(q.page, q.page_size))?;
    let rows = db::products::list(&state.db, is_active, &page).await?;
    Ok(listing.respond(&page, rows, |p| vec![KeyValue::Int(p.id)], |p| p))
}

/// One product (inactive ones are hidden from customers).
#[utoipa::path(get, path = "/api/v1/products/{id}", tag = "products",
    params(("id" = i64, Path, description = "Product id")),
    security(("bearer" = []), ("oauth2" = [])),
    responses(
        (status = 200, description = "The product", body = Product),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 404, description = "No such product", body = ErrorBody),
    ))]
async fn get_product(
    State(state): State<AppState>,
    user: CurrentUser,
    AppPath(id): AppPath<i64>,
) -> Result<Response> {
    // Customers see active products only; the cache tag is the active flag (1 or 0).
    let visible = |active: bool| active || user.role.is_staff_or_admin();
    if let Some(hit) = state.cache.get(Entity::Product, id).await {
        if !visible(hit.tag == 1) {
            return Err(ApiError::not_found("Product"));
        }
        return Ok(json_bytes(hit.body));
    }
    let read_started = Instant::now();
    let product = db::products::get(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::not_found("Product"))?;
    let body = serde_json::to_vec(&product).map_err(ApiError::internal)?;
    state
        .cache
        .fill(
            Entity::Product,
            id,
            i64::from(product.is_active),
            &body,
            read_started,
        )
        .await;
    if !visible(product.is_active) {
        return Err(ApiError::not_found("Product"));
    }
    Ok(json_bytes(body))
}

/// Changes SKU, name, price or activation (admin). Existing orders keep their price snapshot.
#[utoipa::path(patch, path = "/api/v1/products/{id}", tag = "products",
    params(("id" = i64, Path, description = "Product id")),
    request_body = UpdateProductRequest,
    security(("bearer" = []), ("oauth2" = [])),
    responses(
        (status = 200, description = "The updated product", body = Product),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such product", body = ErrorBody),
        (status = 409, description = "SKU already used", body = ErrorBody),
        (status = 422, description = "Invalid field", body = ErrorBody),
    ))]
async fn update_product(
    State(state): State<AppState>,
    user: CurrentUser,
    AppPath(id): AppPath<i64>,
    AppJson(req): AppJson<UpdateProductRequest>,
) -> Result<Json<Product>> {
    user.require_admin()?;
    let mut v = Validator::new();
    let sku = v.check_opt("sku", req.sku, |s| sku::parse(&s));
    let name = v.check_opt("name", req.name, |n| text::required(&n, 200));
    let price = v.check_opt("price", req.price, |p| Price::parse_str(&p));
    v.finish().map_err(ApiError::invalid)?;
    let mut tx = state.db.begin().await?;
    let before = db::products::get_for_update(&mut *tx, id)
        .await?
        .ok_or_else(|| ApiError::not_found("Product"))?;
    let after = db::products::update(
        &mut *tx,
        id,
        sku.as_deref(),
        name.as_deref(),
        price.map(Price::value),
        req.is_active,
    )
    .await?
    .ok_or_else(|| ApiError::not_found("Product"))?;
    audit::record(
        &mut tx,
        &user,
        "product.updated",
        ("product", id),
        Some(&before),
        Some(&after),
    )
    .await?;
    tx.commit().await?;
    // Orders keep their own snapshot of name and price: only the product's entry changes.
    state.cache.invalidate(Entity::Product, &[id]).await;
    Ok(Json(after))
}

/// Deactivates a product (admin): it can no longer be ordered; past orders keep it.
#[utoipa::path(delete, path = "/api/v1/products/{id}", tag = "products",
    params(("id" = i64, Path, description = "Product id")),
    security(("bearer" = []), ("oauth2" = [])),
    responses(
        (status = 204, description = "Deactivated"),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such product", body = ErrorBody),
    ))]
async fn deactivate_product(
    State(state): State<AppState>,
    user: CurrentUser,
    AppPath(id): AppPath<i64>,
) -> Result<StatusCode> {
    user.require_admin()?;
    let mut tx = state.db.begin().await?;
    let before = db::products::get_for_update(&mut *tx, id)
        .await?
        .ok_or_else(|| ApiError::not_found("Product"))?;
    let after = db::products::update(&mut *tx, id, None, None, None, Some(false)).await?;
    audit::record(
        &mut tx,
        &user,
        "product.deactivated",
        ("product", id),
        Some(&before),
        after.as_ref(),
    )
    .await?;
    tx.commit().await?;
    state.cache.invalidate(Entity::Product, &[id]).await;
    Ok(StatusCode::NO_CONTENT)
}
