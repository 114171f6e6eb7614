//! `/api/v1/users` (admin only): list users, change roles and activation.

use axum::{
    Json,
    extract::State,
    http::{StatusCode, Uri},
};
use chrono::{DateTime, Utc};
use orderflow_shared::{
    db,
    domain::{PageParams, Paged, Role, Tier, paging::KeyValue},
};
use serde::{Deserialize, Serialize};
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
        .routes(routes!(list_users))
        .routes(routes!(get_user, update_user))
        .routes(routes!(unlock_user))
}

/// A user as clients see it: never the password hash.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserResponse {
    #[schema(example = 7)]
    pub id: i64,
    #[schema(example = "ada@example.com")]
    pub email: String,
    #[schema(example = "Ada Lovelace")]
    pub name: String,
    pub role: Role,
    /// The linked customer record; null unless the role is `customer`.
    #[schema(example = 3)]
    pub customer_id: Option<i64>,
    pub is_active: bool,
    /// False until the owner of a self-registered account followed the verification link
    /// (no email but the verification goes to the address before).
    pub email_verified: bool,
    pub created_at: DateTime<Utc>,
}

impl From<db::users::User> for UserResponse {
    fn from(user: db::users::User) -> Self {
        Self {
            customer_id: user.customer_id.filter(|_| user.role == Role::Customer),
            id: user.id,
            email: user.email,
            name: user.name,
            role: user.role,
            is_active: user.is_active,
            email_verified: user.email_verified_at.is_some(),
            created_at: user.created_at,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UserFilter {
    pub role: Option<Role>,
    pub is_active: Option<bool>,
    /// Where the page starts: the `cursor` of the previous page's `next` link.
    pub cursor: Option<String>,
    /// 1-based page number, up to 10,000 rows deep (use `next` links beyond).
    #[param(minimum = 1)]
    pub page: Option<i64>,
    #[param(minimum = 1, maximum = 100)]
    pub page_size: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    pub role: Option<Role>,
    pub is_active: Option<bool>,
}

/// Lists users (admin).
#[utoipa::path(get, path = "/api/v1/users", tag = "users",
    params(UserFilter),
    security(("bearer" = []), ("oauth2" = [])),
    responses(
        (status = 200, description = "A page of users, by id", body = Paged<UserResponse>,
            headers(("Link" = String, description = "`<…>; rel=\"next\"` unless this is the last page"))),
        (status = 400, description = "A cursor that is not for this request", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 422, description = "Bad paging or filter", body = ErrorBody),
    ))]
async fn list_users(
    State(state): State<AppState>,
    user: CurrentUser,
    uri: Uri,
    AppQuery(filter): AppQuery<UserFilter>,
) -> Result<PageResponse<UserResponse>> {
    user.require_admin()?;
    let filters = format!("role={:?} is_active={:?}", filter.role, filter.is_active);
    let listing = Listing::new(&state.cursors, "users", &[&filters], &uri);
    let page = listing.page(
        filter.cursor.as_deref(),
        PageParams::new(filter.page, filter.page_size),
    )?;
    let rows = db::users::list(&state.db, filter.role, filter.is_active, &page).await?;
    Ok(listing.respond(
        &page,
        rows,
        |u| vec![KeyValue::Int(u.id)],
        UserResponse::from,
    ))
}

/// One user (admin).
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users",
    params(("id" = i64, Path, description = "User id")),
    security(("bearer" = []), ("oauth2" = [])),
    responses(
        (status = 200, description = "The user", body = UserResponse),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
    ))]
async fn get_user(
    State(state): State<AppState>,
    user: CurrentUser,
    AppPath(id): AppPath<i64>,
) -> Result<Json<UserResponse>> {
    user.require_admin()?;
    let found = db::users::get(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::not_found("User"))?;
    Ok(Json(found.into()))
}

/// Changes a user's role and/or activation (admin). Becoming a `customer` links (or creates)
/// the customer record with the user's email. The last active admin cannot be demoted or
/// deactivated. Deactivation and role changes revoke the user's refresh tokens.
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users",
    params(("id" = i64, Path, description = "User id")),
    request_body = UpdateUserRequest,
    security(("bearer" = []), ("oauth2" = [])),
    responses(
        (status = 200, description = "The updated user", body = UserResponse),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 409, description = "Would leave no active admin", body = ErrorBody),
        (status = 422, description = "Invalid role or unknown field", body = ErrorBody),
    ))]
async fn update_user(
    State(state): State<AppState>,
    actor: CurrentUser,
    AppPath(id): AppPath<i64>,
    AppJson(req): AppJson<UpdateUserRequest>,
) -> Result<Json<UserResponse>> {
    actor.require_admin()?;
    let mut tx = state.db.begin().await?;
    // Every active admin's row first, in id order: two admins demoting each other at once
    // are served one after the other, and the second sees one admin fewer.
    let admins = db::users::lock_active_admins(&mut *tx).await?;
    let before = db::users::get_for_update(&mut *tx, id)
        .await?
        .ok_or_else(|| ApiError::not_found("User"))?;
    let loses_admin = before.role == Role::Admin
        && before.is_active
        && (req.role.is_some_and(|r| r != Role::Admin) || req.is_active == Some(false));
    if loses_admin && !admins.iter().any(|a| *a != id) {
        return Err(ApiError::Conflict(
            "Cannot demote or deactivate the last active admin".into(),
        ));
    }
    let customer_id = match (req.role, before.customer_id) {
        (Some(Role::Customer), None) => Some(
            db::customers::insert(&mut *tx, &before.name, &before.email, Tier::Free)
                .await?
                .id,
        ),
        _ => None,
    };
    let after = db::users::update(&mut *tx, id, req.role, customer_id, req.is_active)
        .await?
        .ok_or_else(|| ApiError::not_found("User"))?;
    if !after.is_active {
        // Deactivation ends every session: refresh tokens and access tokens alike.
        db::sessions::revoke_all(&mut *tx, id).await?;
    } else if after.role != before.role {
        // A new role applies from the next request on (the user cache forgets the user); the
        // login's refresh tokens go, so the client logs in again under its new role.
        db::refresh_tokens::revoke_for_user(&mut *tx, id).await?;
    }
    let (before, after) = (UserResponse::from(before), UserResponse::from(after));
    audit::record(
        &mut tx,
        &actor,
        "user.updated",
        ("user", id),
        Some(&before),
        Some(&after),
    )
    .await?;
    tx.commit().await?;
    // Other instances hear of it from PostgreSQL (NOTIFY); this one forgets it before
    // answering, so the very next request is refused.
    state.users.forget(id);
    tracing::info!(target_user = id, role = %after.role, is_active = after.is_active, "user updated");
    Ok(Json(after))
}

/// Lifts the user's login lockout and forgets its failed logins (admin; audited as
/// `user.login_unlocked`). Answers 204 whether or not the account was locked.
#[utoipa::path(post, path = "/api/v1/users/{id}/unlock", tag = "users",
    params(("id" = i64, Path, description = "User id")),
    security(("bearer" = []), ("oauth2" = [])),
    responses(
        (status = 204, description = "Logins allowed again"),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 503, description = "Redis unreachable: nothing changed", body = ErrorBody),
    ))]
async fn unlock_user(
    State(state): State<AppState>,
    actor: CurrentUser,
    AppPath(id): AppPath<i64>,
) -> Result<StatusCode> {
    actor.require_admin()?;
    let mut tx = state.db.begin().await?;
    let user = db::users::get(&mut *tx, id)
        .await?
        .ok_or_else(|| ApiError::not_found("User"))?;
    let user = UserResponse::from(user);
    audit::record(
        &mut tx,
        &actor,
        "user.login_unlocked",
        ("user", id),
        None,
        Some(&user),
    )
    .await?;
    // Lifted in Redis before the audit row commits: an unlock that did not happen is never
    // recorded as done.
    if !state.logins.unlock(&user.email).await {
        return Err(ApiError::Unavailable(
            "Could not reach the lockout store, try again".into(),
        ));
    }
    tx.commit().await?;
    tracing::info!(target_user = id, "login lockout lifted");
    Ok(StatusCode::NO_CONTENT)
}
