//! `/api/v1/admin`: the audit log and dead jobs (admin only).

use axum::{
    Json,
    extract::State,
    http::{StatusCode, Uri},
};
use orderflow_shared::{
    db::{
        self,
        audit::{AuditEntry, AuditFilter},
        dead_jobs::DeadJob,
    },
    domain::{PageParams, Paged, Validator, paging::KeyValue, text},
};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    audit,
    auth::CurrentUser,
    error::{ApiError, ErrorBody, Result},
    extract::{AppPath, AppQuery},
    paging::{Listing, PageResponse},
    state::AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(audit_log))
        .routes(routes!(dead_jobs))
        .routes(routes!(retry_dead_job))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// Where the page starts: the `cursor` of the previous page's `next` link.
    pub cursor: Option<String>,
    /// 1-based page number, up to 10,000 rows deep (use `next` links beyond).
    #[param(minimum = 1)]
    pub page: Option<i64>,
    #[param(minimum = 1, maximum = 100)]
    pub page_size: Option<i64>,
}

/// Jobs that failed permanently or ran out of attempts, newest first (admin).
#[utoipa::path(get, path = "/api/v1/admin/jobs/dead", tag = "admin",
    params(PageQuery),
    security(("bearer" = []), ("oauth2" = [])),
    responses(
        (status = 200, description = "A page of dead jobs", body = Paged<DeadJob>,
            headers(("Link" = String, description = "`<…>; rel=\"next\"` unless this is the last page"))),
        (status = 400, description = "A cursor that is not for this request", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 422, description = "Bad paging", body = ErrorBody),
    ))]
async fn dead_jobs(
    State(state): State<AppState>,
    user: CurrentUser,
    uri: Uri,
    AppQuery(q): AppQuery<PageQuery>,
) -> Result<PageResponse<DeadJob>> {
    user.require_admin()?;
    let listing = Listing::new(&state.cursors, "dead_jobs", &[], &uri);
    let page = listing.page(q.cursor.as_deref(), PageParams::new(q.page, q.page_size))?;
    let rows = db::dead_jobs::list(&state.db, &page).await?;
    Ok(listing.respond(
        &page,
        rows,
        |j| vec![KeyValue::time(j.died_at), KeyValue::Int(j.id)],
        |j| j,
    ))
}

/// Re-enqueues a dead job with fresh attempts (admin, audited). It goes through the outbox, so
/// it works even while Redis is down. 409 if it was already retried.
#[utoipa::path(post, path = "/api/v1/admin/jobs/dead/{id}/retry", tag = "admin",
    params(("id" = i64, Path, description = "Dead job id")),
    security(("bearer" = []), ("oauth2" = [])),
    responses(
        (status = 202, description = "Re-enqueued", body = DeadJob),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such dead job", body = ErrorBody),
        (status = 409, description = "Already retried, or its outbox row was cleaned up", body = ErrorBody),
    ))]
async fn retry_dead_job(
    State(state): State<AppState>,
    user: CurrentUser,
    AppPath(id): AppPath<i64>,
) -> Result<(StatusCode, Json<DeadJob>)> {
    user.require_admin()?;
    let mut tx = state.db.begin().await?;
    let job = db::dead_jobs::get_for_update(&mut *tx, id)
        .await?
        .ok_or_else(|| ApiError::not_found("Dead job"))?;
    if job.retried_at.is_some() {
        return Err(ApiError::Conflict(
            "This dead job was already retried".into(),
        ));
    }
    let outbox_id = job
        .outbox_id
        .ok_or_else(|| ApiError::Conflict("The job's outbox record was cleaned up".into()))?;
    if !db::outbox::reset_for_retry(&mut *tx, outbox_id).await? {
        return Err(ApiError::Conflict(
            "The job's outbox record was cleaned up".into(),
        ));
    }
    db::dead_jobs::mark_retried(&mut *tx, id, user.id).await?;
    audit::record(
        &mut tx,
        &user,
        "job.retried",
        ("dead_job", id),
        Some(&job),
        None,
    )
    .await?;
    let job = db::dead_jobs::get_for_update(&mut *tx, id)
        .await?
        .ok_or_else(|| ApiError::not_found("Dead job"))?;
    tx.commit().await?;
    state.outbox.wake();
    Ok((StatusCode::ACCEPTED, Json(job)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// The user who made the change.
    pub actor_user_id: Option<i64>,
    /// `order`, `product`, `customer`, `user`, …
    pub entity_type: Option<String>,
    pub entity_id: Option<i64>,
    /// e.g. `order.status_changed`, `product.updated`.
    pub action: Option<String>,
    /// Where the page starts: the `cursor` of the previous page's `next` link.
    pub cursor: Option<String>,
    /// 1-based page number, up to 10,000 rows deep (use `next` links beyond).
    #[param(minimum = 1)]
    pub page: Option<i64>,
    #[param(minimum = 1, maximum = 100)]
    pub page_size: Option<i64>,
}

/// Audited changes, newest first (admin).
#[utoipa::path(get, path = "/api/v1/admin/audit-log", tag = "admin",
    params(AuditQuery),
    security(("bearer" = []), ("oauth2" = [])),
    responses(
        (status = 200, description = "A page of audit entries", body = Paged<AuditEntry>,
            headers(("Link" = String, description = "`<…>; rel=\"next\"` unless this is the last page"))),
        (status = 400, description = "A cursor that is not for this request", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 422, description = "Bad filter or paging", body = ErrorBody),
    ))]
async fn audit_log(
    State(state): State<AppState>,
    user: CurrentUser,
    uri: Uri,
    AppQuery(q): AppQuery<AuditQuery>,
) -> Result<PageResponse<AuditEntry>> {
    user.require_admin()?;
    let mut v = Validator::new();
    let storable = |s: String| text::storable(&s).map(str::to_owned);
    let entity_type = v.check_opt("entity_type", q.entity_type, storable);
    let action = v.check_opt("action", q.action, storable);
    v.finish().map_err(ApiError::invalid)?;
    let filter = AuditFilter {
        actor_user_id: q.actor_user_id,
        entity_type,
        entity_id: q.entity_id,
        action,
    };
    let filters = format!("{filter:?}");
    let listing = Listing::new(&state.cursors, "audit_log", &[&filters], &uri);
    let page = listing.page(q.cursor.as_deref(), PageParams::new(q.page, q.page_size))?;
    let rows = db::audit::list(&state.db, &filter, &page).await?;
    Ok(listing.respond(&page, rows, |e| vec![KeyValue::Int(e.id)], |e| e))
}
