//! Sessions: refreshing (never past the session's end), logging out of one or of all,
//! changing the password (which ends every session), and `me`.

use axum::{Json, extract::State, http::StatusCode};
use orderflow_shared::{
    db,
    domain::{Validator, password},
};
use secrecy::SecretString;
use serde::Deserialize;
use utoipa::ToSchema;

use super::{RefreshRequest, TokenResponse, end_every_session, issue_pair};
use crate::{
    auth::{CurrentUser, refresh},
    error::{ApiError, ErrorBody, Result},
    extract::AppJson,
    routes::users::UserResponse,
    state::AppState,
};

fn invalid_refresh() -> ApiError {
    ApiError::Unauthorized("Invalid or expired refresh token".into())
}

/// Exchanges a refresh token for a new pair in the same session. Each refresh token works
/// once; presenting a used one again (a sign it was stolen) ends the session. No refresh
/// takes a session past `SESSION_MAX_SECONDS` after its login.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "New token pair", body = TokenResponse),
        (status = 401, description = "Invalid, expired, revoked or reused token, or the session ended", body = ErrorBody),
        (status = 422, description = "Missing field", body = ErrorBody),
    ))]
pub async fn refresh_tokens(
    State(state): State<AppState>,
    AppJson(req): AppJson<RefreshRequest>,
) -> Result<Json<TokenResponse>> {
    let hash = refresh::hash(&req.refresh_token);
    let mut tx = state.db.begin().await?;
    let Some(token) = db::refresh_tokens::consume(&mut *tx, &hash).await? else {
        if let Some(old) = db::refresh_tokens::find(&mut *tx, &hash).await?
            && old.used_at.is_some()
        {
            let revoked = db::refresh_tokens::revoke_family(&mut *tx, old.family_id).await?;
            db::sessions::revoke(&mut *tx, old.family_id).await?;
            tx.commit().await?;
            state.users.forget(old.user_id);
            tracing::warn!(
                user_id = old.user_id,
                revoked,
                "refresh token reused: session ended"
            );
            return Err(ApiError::Unauthorized(
                "Refresh token already used; all sessions of this login were revoked".into(),
            ));
        }
        return Err(invalid_refresh());
    };
    let session_ends = db::sessions::live_until(&mut *tx, token.family_id)
        .await?
        .ok_or_else(invalid_refresh)?;
    let user = db::users::get(&mut *tx, token.user_id)
        .await?
        .filter(|u| u.is_active)
        .ok_or_else(invalid_refresh)?;
    let tokens = issue_pair(&state, &mut tx, &user, (token.family_id, session_ends)).await?;
    tx.commit().await?;
    Ok(Json(tokens))
}

/// Ends the refresh token's session: its refresh tokens and its access tokens stop working
/// at once. Unknown tokens are ignored.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 204, description = "Logged out"),
        (status = 422, description = "Missing field", body = ErrorBody),
    ))]
pub async fn logout(
    State(state): State<AppState>,
    AppJson(req): AppJson<RefreshRequest>,
) -> Result<StatusCode> {
    let hash = refresh::hash(&req.refresh_token);
    let mut tx = state.db.begin().await?;
    if let Some(token) = db::refresh_tokens::find(&mut *tx, &hash).await? {
        db::refresh_tokens::revoke_family(&mut *tx, token.family_id).await?;
        db::sessions::revoke(&mut *tx, token.family_id).await?;
        tx.commit().await?;
        state.users.forget(token.user_id);
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Ends every session of the caller, this one included.
#[utoipa::path(post, path = "/api/v1/auth/logout-all", tag = "auth",
    security(("bearer" = []), ("oauth2" = [])),
    responses(
        (status = 204, description = "Every session ended"),
        (status = 401, description = "Not authenticated", body = ErrorBody),
    ))]
pub async fn logout_all(State(state): State<AppState>, user: CurrentUser) -> Result<StatusCode> {
    let mut tx = state.db.begin().await?;
    let ended = end_every_session(&mut tx, user.id).await?;
    tx.commit().await?;
    state.users.forget(user.id);
    tracing::info!(user_id = user.id, ended, "every session ended");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    pub current_password: String,
    /// 8 to 128 characters.
    pub new_password: String,
}

/// Changes the caller's password (the current one is required) and ends every session, this
/// one included: log in again with the new password.
#[utoipa::path(post, path = "/api/v1/auth/change-password", tag = "auth",
    request_body = ChangePasswordRequest,
    security(("bearer" = []), ("oauth2" = [])),
    responses(
        (status = 204, description = "Password changed; every session ended"),
        (status = 401, description = "Not authenticated, or the current password is wrong", body = ErrorBody),
        (status = 422, description = "The new password breaks the policy", body = ErrorBody),
        (status = 503, description = "Too many sign-ins in progress (see Retry-After)", body = ErrorBody),
    ))]
pub async fn change_password(
    State(state): State<AppState>,
    user: CurrentUser,
    AppJson(req): AppJson<ChangePasswordRequest>,
) -> Result<StatusCode> {
    let mut v = Validator::new();
    v.check("new_password", password::check_policy(&req.new_password));
    v.finish().map_err(ApiError::invalid)?;
    let account = db::users::get(&state.db, user.id)
        .await?
        .ok_or_else(|| ApiError::Unauthorized("Could not validate credentials".into()))?;
    let slot = state.passwords.reserve().await?;
    let current = slot
        .verify(
            SecretString::from(req.current_password),
            Some(account.password_hash.clone()),
        )
        .await?;
    if !current {
        return Err(ApiError::Unauthorized(
            "Current password is incorrect".into(),
        ));
    }
    let hash = state
        .passwords
        .hash(SecretString::from(req.new_password))
        .await?;
    let mut tx = state.db.begin().await?;
    db::users::set_password(&mut *tx, user.id, &hash).await?;
    let ended = end_every_session(&mut tx, user.id).await?;
    tx.commit().await?;
    state.users.forget(user.id);
    tracing::info!(
        user_id = user.id,
        ended,
        "password changed; every session ended"
    );
    Ok(StatusCode::NO_CONTENT)
}

/// The authenticated user.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth",
    security(("bearer" = []), ("oauth2" = [])),
    responses(
        (status = 200, description = "The current user", body = UserResponse),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
    ))]
pub async fn me(State(state): State<AppState>, user: CurrentUser) -> Result<Json<UserResponse>> {
    let user = db::users::get(&state.db, user.id)
        .await?
        .ok_or_else(|| ApiError::Unauthorized("Could not validate credentials".into()))?;
    Ok(Json(user.into()))
}
