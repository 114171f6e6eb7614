//! `/api/v1/admin`: the audit log (admin only).

use axum::{Json, extract::State};
use orderflow_shared::{
    db::{
        self,
        audit::{AuditEntry, AuditFilter},
    },
    domain::Paged,
};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    app::AppState,
    auth::CurrentUser,
    error::{ErrorBody, Result},
    extract::AppQuery,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(audit_log))
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
        (status = 200, description = "A page of audit entries", body = Paged<AuditEntry>),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 422, description = "Bad filter or paging", body = ErrorBody),
    ))]
async fn audit_log(
    State(state): State<AppState>,
    user: CurrentUser,
    AppQuery(q): AppQuery<AuditQuery>,
) -> Result<Json<Paged<AuditEntry>>> {
    user.require_admin()?;
    let page = super::page(q.page, q.page_size)?;
    let filter = AuditFilter {
        actor_user_id: q.actor_user_id,
        entity_type: q.entity_type,
        entity_id: q.entity_id,
        action: q.action,
    };
    let (rows, total) = db::audit::list(&state.db, &filter, page).await?;
    Ok(Json(Paged::new(rows, page, total)))
}
