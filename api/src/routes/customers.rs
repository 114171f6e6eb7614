//! `/api/v1/customers`: staff manage customer records; a customer may read its own.

use axum::{
    Json,
    extract::State,
    http::{StatusCode, Uri, header},
    response::IntoResponse,
};
use orderflow_shared::{
    cache::Entity,
    db::{
        self,
        customers::{Customer, CustomerFilter},
    },
    domain::{Email, PageParams, Paged, Tier, Validator, paging::KeyValue, text},
};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    audit,
    auth::CurrentUser,
    error::{ApiError, ErrorBody, Result},
    extract::{AppJson, AppPath, AppQuery},
    paging::{Listing, PageResponse},
    state::AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_customer, list_customers))
        .routes(routes!(get_customer, update_customer, deactivate_customer))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCustomerRequest {
    #[schema(example = "Grace Hopper")]
    pub name: String,
    #[schema(example = "grace@example.com")]
    pub email: String,
    /// Defaults to `free`.
    pub tier: Option<Tier>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCustomerRequest {
    pub name: Option<String>,
    pub tier: Option<Tier>,
    pub is_active: Option<bool>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CustomerQuery {
    /// Exact email (case-insensitive).
    pub email: Option<String>,
    pub is_active: Option<bool>,
    pub tier: Option<Tier>,
    /// Where the page starts: the `cursor` of the previous page's `next` link.
    pub cursor: Option<String>,
    /// 1-based page number, up to 10,000 rows deep (use `next` links beyond).
    #[param(minimum = 1)]
    pub page: Option<i64>,
    #[param(minimum = 1, maximum = 100)]
    pub page_size: Option<i64>,
}

/// Creates a customer record (staff/admin).
#[utoipa::path(post, path = "/api/v1/customers", tag = "customers",
    request_body = CreateCustomerRequest,
    security(("bearer" = []), ("oauth2" = [])),
    responses(
        (status = 201, description = "Created", body = Customer),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Not staff", body = ErrorBody),
        (status = 409, description = "Email already used", body = ErrorBody),
        (status = 422, description = "Invalid field", body = ErrorBody),
    ))]
async fn create_customer(
    State(state): State<AppState>,
    user: CurrentUser,
    AppJson(req): AppJson<CreateCustomerRequest>,
) -> Result<impl IntoResponse> {
    user.require_staff()?;
    let mut v = Validator::new();
    let name = v.check("name", text::required(&req.name, 200));
    let email = v.check("email", Email::parse(&req.email));
    v.finish().map_err(ApiError::invalid)?;
    let customer = db::customers::insert(
        &state.db,
        &name.expect("validated"),
        email.expect("validated").as_str(),
        req.tier.unwrap_or_default(),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        [(
            header::LOCATION,
            format!("/api/v1/customers/{}", customer.id),
        )],
        Json(customer),
    ))
}

/// Lists customers (staff/admin), filtered by email, activation and tier.
#[utoipa::path(get, path = "/api/v1/customers", tag = "customers",
    params(CustomerQuery),
    security(("bearer" = []), ("oauth2" = [])),
    responses(
        (status = 200, description = "A page of customers, by id", body = Paged<Customer>,
            headers(("Link" = String, description = "`<…>; rel=\"next\"` unless this is the last page"))),
        (status = 400, description = "A cursor that is not for this request", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Not staff", body = ErrorBody),
        (status = 422, description = "Bad paging or filter", body = ErrorBody),
    ))]
async fn list_customers(
    State(state): State<AppState>,
    user: CurrentUser,
    uri: Uri,
    AppQuery(q): AppQuery<CustomerQuery>,
) -> Result<PageResponse<Customer>> {
    user.require_staff()?;
    let mut v = Validator::new();
    let email = v.check_opt("email", q.email, |e| {
        text::storable(&e).map(|e| e.trim().to_lowercase())
    });
    v.finish().map_err(ApiError::invalid)?;
    let filter = CustomerFilter {
        email,
        is_active: q.is_active,
        tier: q.tier,
    };
    let filters = format!("{filter:?}");
    let listing = Listing::new(&state.cursors, "customers", &[&filters], &uri);
    let page = listing.page(q.cursor.as_deref(), PageParams::new(q.page, q.page_size))?;
    let rows = db::customers::list(&state.db, &filter, &page).await?;
    Ok(listing.respond(&page, rows, |c| vec![KeyValue::Int(c.id)], |c| c))
}

/// One customer: staff/admin, or the customer itself (anyone else gets 404).
#[utoipa::path(get, path = "/api/v1/customers/{id}", tag = "customers",
    params(("id" = i64, Path, description = "Customer id")),
    security(("bearer" = []), ("oauth2" = [])),
    responses(
        (status = 200, description = "The customer", body = Customer),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 404, description = "No such customer (or not yours)", body = ErrorBody),
    ))]
async fn get_customer(
    State(state): State<AppState>,
    user: CurrentUser,
    AppPath(id): AppPath<i64>,
) -> Result<Json<Customer>> {
    if !user.can_see_customer(id) {
        return Err(ApiError::not_found("Customer"));
    }
    db::customers::get(&state.db, id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("Customer"))
}

/// Changes name or tier (staff, admin) or activation (admin only, as `DELETE`: whoever may
/// deactivate a customer may do it by either route).
#[utoipa::path(patch, path = "/api/v1/customers/{id}", tag = "customers",
    params(("id" = i64, Path, description = "Customer id")),
    request_body = UpdateCustomerRequest,
    security(("bearer" = []), ("oauth2" = [])),
    responses(
        (status = 200, description = "The updated customer", body = Customer),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Not staff, or staff changing `is_active` (admin only)", body = ErrorBody),
        (status = 404, description = "No such customer", body = ErrorBody),
        (status = 422, description = "Invalid field", body = ErrorBody),
    ))]
async fn update_customer(
    State(state): State<AppState>,
    user: CurrentUser,
    AppPath(id): AppPath<i64>,
    AppJson(req): AppJson<UpdateCustomerRequest>,
) -> Result<Json<Customer>> {
    user.require_staff()?;
    if req.is_active.is_some() {
        // The same rule as `DELETE /customers/{id}`.
        user.require_admin()?;
    }
    let mut v = Validator::new();
    let name = v.check_opt("name", req.name, |n| text::required(&n, 200));
    v.finish().map_err(ApiError::invalid)?;
    let mut tx = state.db.begin().await?;
    let before = db::customers::get_for_update(&mut *tx, id)
        .await?
        .ok_or_else(|| ApiError::not_found("Customer"))?;
    let after = db::customers::update(&mut *tx, id, name.as_deref(), req.tier, req.is_active)
        .await?
        .ok_or_else(|| ApiError::not_found("Customer"))?;
    audit::record(
        &mut tx,
        &user,
        "customer.updated",
        ("customer", id),
        Some(&before),
        Some(&after),
    )
    .await?;
    // Orders show their customer's current name: a rename changes every cached copy.
    let renamed = if after.name != before.name {
        db::orders::ids_of_customer(&mut *tx, id).await?
    } else {
        Vec::new()
    };
    tx.commit().await?;
    state.cache.invalidate(Entity::Order, &renamed).await;
    Ok(Json(after))
}

/// Deactivates a customer (admin). Records are kept: orders refer to them.
#[utoipa::path(delete, path = "/api/v1/customers/{id}", tag = "customers",
    params(("id" = i64, Path, description = "Customer id")),
    security(("bearer" = []), ("oauth2" = [])),
    responses(
        (status = 204, description = "Deactivated"),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such customer", body = ErrorBody),
    ))]
async fn deactivate_customer(
    State(state): State<AppState>,
    user: CurrentUser,
    AppPath(id): AppPath<i64>,
) -> Result<StatusCode> {
    user.require_admin()?;
    let mut tx = state.db.begin().await?;
    let before = db::customers::get_for_update(&mut *tx, id)
        .await?
        .ok_or_else(|| ApiError::not_found("Customer"))?;
    let after = db::customers::update(&mut *tx, id, None, None, Some(false)).await?;
    audit::record(
        &mut tx,
        &user,
        "customer.deactivated",
        ("customer", id),
        Some(&before),
        after.as_ref(),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
