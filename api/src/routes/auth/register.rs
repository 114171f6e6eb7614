//! Registering, and proving the address: a self-registered account's address gets the
//! verification email and nothing else until its link is followed (orders can be placed
//! meanwhile; their emails are not sent).

use axum::{
    Json,
    extract::State,
    http::{StatusCode, header},
    response::IntoResponse,
};
use orderflow_shared::{
    db,
    domain::{Email, Role, Tier, Validator, account_email::Purpose, password, text},
    opaque_token,
};
use secrecy::SecretString;
use serde::Deserialize;
use utoipa::ToSchema;

use super::{TokenRequest, bad_token, enqueue_account_email, take_email_allowance};
use crate::{
    auth::CurrentUser,
    error::{ApiError, ErrorBody, Result},
    extract::AppJson,
    routes::users::UserResponse,
    state::AppState,
};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    #[schema(example = "ada@example.com")]
    pub email: String,
    /// 8 to 128 characters.
    #[schema(example = "correct horse battery staple")]
    pub password: String,
    #[schema(example = "Ada Lovelace")]
    pub name: String,
}

/// Creates a `customer` user and its customer record, and emails a link to verify the
/// address (`email_verified: false` until it is followed; no other email goes to it before;
/// with `EMAIL_VERIFICATION_REQUIRED=false` the address counts as verified at once).
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Registered; a verification email is on its way", body = UserResponse),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 409, description = "Email already registered", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Invalid email, password or name", body = ErrorBody),
        (status = 429, description = "Too many attempts", body = ErrorBody),
        (status = 503, description = "Too many sign-ins in progress (see Retry-After)", body = ErrorBody),
    ))]
pub async fn register(
    State(state): State<AppState>,
    AppJson(req): AppJson<RegisterRequest>,
) -> Result<impl IntoResponse> {
    let mut v = Validator::new();
    let email = v.check("email", Email::parse(&req.email));
    v.check("password", password::check_policy(&req.password));
    let name = v.check("name", text::required(&req.name, 200));
    v.finish().map_err(ApiError::invalid)?;
    let (email, name) = (email.expect("validated"), name.expect("validated"));

    let password_hash = state
        .passwords
        .hash(SecretString::from(req.password))
        .await?;
    let mut tx = state.db.begin().await?;
    let customer = db::customers::insert(&mut *tx, &name, email.as_str(), Tier::Free)
        .await
        .map_err(already_registered)?;
    let user = db::users::insert(
        &mut *tx,
        email.as_str(),
        &name,
        &password_hash,
        (Role::Customer, Some(customer.id)),
        !state.settings.core.accounts.verification_required,
    )
    .await
    .map_err(already_registered)?;
    if state.settings.core.accounts.verification_required {
        enqueue_account_email(&mut tx, Purpose::VerifyEmail, (Some(user.id), None)).await?;
    }
    tx.commit().await?;
    state.outbox.wake();
    tracing::info!(
        user_id = user.id,
        customer_id = customer.id,
        "user registered"
    );
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, "/api/v1/auth/me".to_string())],
        Json(UserResponse::from(user)),
    ))
}

/// Either table's unique email means the same thing to the person registering.
fn already_registered(err: sqlx::Error) -> ApiError {
    match ApiError::from(err) {
        ApiError::Conflict(_) => ApiError::Conflict("Email already registered".into()),
        other => other,
    }
}

/// Verifies the address with the token of the verification email's link. Single use.
#[utoipa::path(post, path = "/api/v1/auth/verify-email", tag = "auth",
    request_body = TokenRequest,
    responses(
        (status = 204, description = "Address verified"),
        (status = 400, description = "The link is invalid, used or expired", body = ErrorBody),
        (status = 422, description = "Missing field", body = ErrorBody),
    ))]
pub async fn verify_email(
    State(state): State<AppState>,
    AppJson(req): AppJson<TokenRequest>,
) -> Result<StatusCode> {
    let hash = opaque_token::hash(&req.token);
    let mut tx = state.db.begin().await?;
    let user_id = db::account_tokens::consume(&mut *tx, &hash, Purpose::VerifyEmail)
        .await?
        .ok_or_else(bad_token)?;
    db::users::mark_verified(&mut *tx, user_id).await?;
    tx.commit().await?;
    tracing::info!(user_id, "email address verified");
    Ok(StatusCode::NO_CONTENT)
}

/// Sends the verification email again (a few times an hour at most, per account and per
/// address). Answers 204 without sending when the address is verified already.
#[utoipa::path(post, path = "/api/v1/auth/resend-verification", tag = "auth",
    security(("bearer" = []), ("oauth2" = [])),
    responses(
        (status = 202, description = "A new verification email is on its way"),
        (status = 204, description = "Already verified: nothing sent"),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 429, description = "Asked too often (see Retry-After)", body = ErrorBody),
    ))]
pub async fn resend_verification(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<StatusCode> {
    let account = db::users::get(&state.db, user.id)
        .await?
        .ok_or_else(|| ApiError::Unauthorized("Could not validate credentials".into()))?;
    if account.email_verified_at.is_some() {
        return Ok(StatusCode::NO_CONTENT);
    }
    take_email_allowance(&state, &format!("user:{}", account.id)).await?;
    take_email_allowance(&state, &format!("address:{}", account.email)).await?;
    let mut tx = state.db.begin().await?;
    enqueue_account_email(&mut tx, Purpose::VerifyEmail, (Some(account.id), None)).await?;
    tx.commit().await?;
    state.outbox.wake();
    Ok(StatusCode::ACCEPTED)
}
