//! Forgotten passwords: asking for a reset email answers the same, in the same time, whether
//! or not an account has the address (the API writes one outbox row either way; the worker
//! looks the account up); the emailed token sets a new password once.

use axum::{Json, extract::State, http::StatusCode};
use orderflow_shared::{
    db,
    domain::{Email, Validator, account_email::Purpose, password},
    opaque_token,
};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{bad_token, end_every_session, enqueue_account_email, take_email_allowance};
use crate::{
    error::{ApiError, ErrorBody, Result},
    extract::AppJson,
    state::AppState,
};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForgotPasswordRequest {
    #[schema(example = "ada@example.com")]
    pub email: String,
}

#[derive(Serialize, ToSchema)]
pub struct Accepted {
    pub detail: &'static str,
}

const ACCEPTED: &str =
    "If an account has this address (and it is verified), a reset link is on its way";

/// Emails a single-use link to set a new password (valid `PASSWORD_RESET_TTL_SECONDS`, 30
/// minutes by default) to the account with this verified address, if there is one. The
/// answer is the same either way; a few per hour per address at most.
#[utoipa::path(post, path = "/api/v1/auth/forgot-password", tag = "auth",
    request_body = ForgotPasswordRequest,
    responses(
        (status = 202, description = "Accepted (whether or not an account has the address)", body = Accepted),
        (status = 422, description = "Not an email address", body = ErrorBody),
        (status = 429, description = "Asked too often for this address or from this client (see Retry-After)", body = ErrorBody),
    ))]
pub async fn forgot_password(
    State(state): State<AppState>,
    AppJson(req): AppJson<ForgotPasswordRequest>,
) -> Result<(StatusCode, Json<Accepted>)> {
    let email = Email::parse(&req.email).map_err(|e| ApiError::validation("email", e))?;
    take_email_allowance(&state, &format!("address:{}", email.as_str())).await?;
    let mut tx = state.db.begin().await?;
    enqueue_account_email(
        &mut tx,
        Purpose::ResetPassword,
        (None, Some(email.as_str())),
    )
    .await?;
    tx.commit().await?;
    state.outbox.wake();
    Ok((StatusCode::ACCEPTED, Json(Accepted { detail: ACCEPTED })))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetPasswordRequest {
    /// The `token` of the reset email's link.
    pub token: String,
    /// 8 to 128 characters.
    pub password: String,
}

/// Sets a new password with the reset email's token (single use), ends every session of the
/// account (access and refresh tokens alike) and lifts its login locks.
#[utoipa::path(post, path = "/api/v1/auth/reset-password", tag = "auth",
    request_body = ResetPasswordRequest,
    responses(
        (status = 204, description = "Password set; every session ended"),
        (status = 400, description = "The link is invalid, used or expired", body = ErrorBody),
        (status = 422, description = "The password breaks the policy", body = ErrorBody),
        (status = 503, description = "Too many sign-ins in progress (see Retry-After)", body = ErrorBody),
    ))]
pub async fn reset_password(
    State(state): State<AppState>,
    AppJson(req): AppJson<ResetPasswordRequest>,
) -> Result<StatusCode> {
    let mut v = Validator::new();
    v.check("password", password::check_policy(&req.password));
    v.finish().map_err(ApiError::invalid)?;
    // Hashed before the token is spent: a busy hasher (503) leaves the link usable.
    let hash = state
        .passwords
        .hash(SecretString::from(req.password))
        .await?;
    let mut tx = state.db.begin().await?;
    let user_id = db::account_tokens::consume(
        &mut *tx,
        &opaque_token::hash(&req.token),
        Purpose::ResetPassword,
    )
    .await?
    .ok_or_else(bad_token)?;
    let user = db::users::get(&mut *tx, user_id)
        .await?
        .ok_or_else(bad_token)?;
    db::users::set_password(&mut *tx, user_id, &hash).await?;
    let ended = end_every_session(&mut tx, user_id).await?;
    tx.commit().await?;
    state.users.forget(user_id);
    if !state.logins.unlock(&user.email).await {
        tracing::warn!(
            user_id,
            "login locks not lifted after a reset: Redis unreachable"
        );
    }
    tracing::info!(user_id, ended, "password reset; every session ended");
    Ok(StatusCode::NO_CONTENT)
}
