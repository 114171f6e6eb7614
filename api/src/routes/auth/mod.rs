//! `/api/v1/auth`: accounts and sessions. One file per flow: `register` (and verifying the
//! address), `login` (and unlocking by an emailed link), `session` (refresh, logout,
//! logout-all, password change, `me`), `password_reset`.

mod login;
mod password_reset;
mod register;
mod session;

use chrono::{DateTime, Utc};
use orderflow_shared::{db, domain::account_email::Purpose, jobs::JobKind};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{
    auth::refresh,
    error::{ApiError, Result},
    limits::Class,
    state::AppState,
};

pub use login::LoginForm;

/// The routes that take credentials or tokens from email links (limited per client IP).
pub fn credentials_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register::register))
        .routes(routes!(register::verify_email))
        .routes(routes!(login::login))
        .routes(routes!(login::unlock))
        .routes(routes!(session::refresh_tokens))
        .routes(routes!(session::logout))
        .routes(routes!(password_reset::forgot_password))
        .routes(routes!(password_reset::reset_password))
}

/// The authenticated session (limited per user).
pub fn session_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(session::me))
        .routes(routes!(session::logout_all))
        .routes(routes!(session::change_password))
        .routes(routes!(register::resend_verification))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// A single-use token from an account email's link (its `token=` query parameter).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    pub token: String,
}

#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    #[schema(example = "bearer")]
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    #[schema(example = 900)]
    pub expires_in: u64,
    /// Single use: exchanging it at `/auth/refresh` returns a new pair. Never valid past
    /// the session's end (`SESSION_MAX_SECONDS` after the login).
    pub refresh_token: String,
}

/// Signs an access token for `session` and stores a new refresh token in its family, valid
/// until the session ends at the latest.
async fn issue_pair(
    state: &AppState,
    tx: &mut db::Conn,
    user: &db::users::User,
    (session, session_ends): (Uuid, DateTime<Utc>),
) -> Result<TokenResponse> {
    let access_token = state.jwt.issue(user.id, session, user.role)?;
    let (refresh_token, hash) = refresh::generate();
    let ttl = chrono::Duration::from_std(state.settings.jwt.refresh_token_ttl)
        .map_err(ApiError::internal)?;
    let expires = (Utc::now() + ttl).min(session_ends);
    db::refresh_tokens::insert(&mut *tx, user.id, session, &hash, expires).await?;
    Ok(TokenResponse {
        access_token,
        token_type: "bearer",
        expires_in: state.jwt.ttl_seconds(),
        refresh_token,
    })
}

/// Starts a session for `user` and issues its first pair.
async fn start_session(
    state: &AppState,
    tx: &mut db::Conn,
    user: &db::users::User,
) -> Result<TokenResponse> {
    let session = Uuid::new_v4();
    let max =
        chrono::Duration::from_std(state.settings.jwt.session_max).map_err(ApiError::internal)?;
    let ends = Utc::now() + max;
    db::sessions::create(&mut *tx, session, user.id, ends).await?;
    issue_pair(state, tx, user, (session, ends)).await
}

/// Ends every session of `user` (their access tokens are refused from the next request on,
/// on every instance: PostgreSQL notifies them; this one forgets at once).
async fn end_every_session(tx: &mut db::Conn, user_id: i64) -> Result<u64> {
    Ok(db::sessions::revoke_all(&mut *tx, user_id).await?)
}

/// Queues an account email (inside the caller's transaction: it goes out if, and only if,
/// the change commits). The worker looks the account up and makes the token.
async fn enqueue_account_email(
    tx: &mut db::Conn,
    purpose: Purpose,
    (user_id, email): (Option<i64>, Option<&str>),
) -> Result<()> {
    let request_id = crate::request_id::current();
    let payload = serde_json::json!({
        "purpose": purpose,
        "user_id": user_id,
        "email": email,
        "request_id": request_id,
    });
    db::outbox::enqueue(&mut *tx, JobKind::AccountEmail, payload, None).await?;
    Ok(())
}

/// Takes one account email from the hourly allowance of `subject` (an account or an
/// address): 429 with `Retry-After` when it is spent.
async fn take_email_allowance(state: &AppState, subject: &str) -> Result<()> {
    let decision = state.limiter.check(Class::AccountEmail, subject).await;
    if decision.allowed {
        Ok(())
    } else {
        Err(ApiError::rate_limited(decision.retry_after))
    }
}

/// The one answer for a token that is unknown, used, expired or for something else.
fn bad_token() -> ApiError {
    ApiError::BadRequest("This link is invalid or has expired".into())
}
