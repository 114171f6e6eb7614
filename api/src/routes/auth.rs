//! `/api/v1/auth`: register, login (OAuth2 password form), refresh rotation, logout, me.

use axum::{
    Json,
    extract::State,
    http::{StatusCode, header},
    response::IntoResponse,
};
use chrono::Utc;
use metrics::counter;
use orderflow_shared::{
    db,
    domain::{Email, Tier, Validator, password, text},
};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{
    auth::{CurrentUser, refresh},
    error::{ApiError, ErrorBody, Result},
    extract::{AppForm, AppJson},
    routes::users::UserResponse,
    state::AppState,
};

/// The routes that take credentials (limited per client IP).
pub fn credentials_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(refresh_tokens))
        .routes(routes!(logout))
}

/// The authenticated session (limited per user).
pub fn session_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(me))
}

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

/// The OAuth2 password grant form; `username` is the email.
#[derive(Deserialize, ToSchema)]
pub struct LoginForm {
    #[schema(example = "ada@example.com")]
    pub username: String,
    pub password: String,
    /// Sent by OAuth2 clients such as Swagger UI; only `password` is supported.
    pub grant_type: Option<String>,
    pub scope: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    #[schema(example = "bearer")]
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    #[schema(example = 900)]
    pub expires_in: u64,
    /// Single use: exchanging it at `/auth/refresh` returns a new pair.
    pub refresh_token: String,
}

/// Creates a `customer` user and its customer record.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Registered", body = UserResponse),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 409, description = "Email already registered", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Invalid email, password or name", body = ErrorBody),
        (status = 429, description = "Too many attempts", body = ErrorBody),
        (status = 503, description = "Too many sign-ins in progress (see Retry-After)", body = ErrorBody),
    ))]
async fn register(
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
        orderflow_shared::domain::Role::Customer,
        Some(customer.id),
    )
    .await
    .map_err(already_registered)?;
    tx.commit().await?;
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

fn bad_credentials() -> ApiError {
    ApiError::Unauthorized("Incorrect email or password".into())
}

/// OAuth2 password grant. Unknown email and wrong password answer alike, in similar time.
/// After `LOGIN_LOCKOUT_THRESHOLD` consecutive failures for one email (from any address,
/// whether or not an account has it), its logins are refused with 429 for a cool-down that
/// doubles with each further failure; a success, or an admin's unlock, resets it.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth",
    request_body(content = LoginForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Token pair", body = TokenResponse),
        (status = 401, description = "Incorrect email or password", body = ErrorBody),
        (status = 415, description = "Not a form", body = ErrorBody),
        (status = 422, description = "Missing field", body = ErrorBody),
        (status = 429, description = "Too many attempts from this client, or for this account", body = ErrorBody),
        (status = 503, description = "Too many sign-ins in progress (see Retry-After)", body = ErrorBody),
    ))]
async fn login(
    State(state): State<AppState>,
    AppForm(form): AppForm<LoginForm>,
) -> Result<Json<TokenResponse>> {
    if form.grant_type.as_deref().is_some_and(|g| g != "password") {
        return Err(ApiError::validation(
            "grant_type",
            "only \"password\" is supported",
        ));
    }
    // Room to hash first: when hashing is saturated, the 503 costs no other work.
    let slot = state.passwords.reserve().await?;
    if let Some(wait) = state.logins.locked_for(&form.username).await {
        return Err(account_locked(wait));
    }
    let user = match Email::parse(&form.username) {
        Ok(email) => db::users::find_by_email(&state.db, email.as_str()).await?,
        Err(_) => None,
    };
    let verified = slot
        .verify(
            SecretString::from(form.password),
            user.as_ref().map(|u| u.password_hash.clone()),
        )
        .await?;
    let Some(user) = user.filter(|_| verified) else {
        if let Some(cooldown) = state.logins.failed(&form.username).await {
            tracing::warn!(
                cooldown_seconds = cooldown.as_secs(),
                "login locked after repeated failures"
            );
        }
        counter!("orderflow_logins_total", "outcome" => "failure").increment(1);
        return Err(bad_credentials());
    };
    state.logins.succeeded(&form.username).await;
    if !user.is_active {
        counter!("orderflow_logins_total", "outcome" => "inactive").increment(1);
        return Err(ApiError::Unauthorized("Account is disabled".into()));
    }
    let mut tx = state.db.begin().await?;
    let tokens = issue_pair(&state, &mut tx, &user, Uuid::new_v4()).await?;
    tx.commit().await?;
    counter!("orderflow_logins_total", "outcome" => "success").increment(1);
    tracing::info!(user_id = user.id, "logged in");
    Ok(Json(tokens))
}

/// The same answer whether or not the account exists.
fn account_locked(wait: std::time::Duration) -> ApiError {
    counter!("orderflow_logins_total", "outcome" => "locked").increment(1);
    ApiError::rate_limited(wait)
}

/// Signs an access token and stores a new refresh token in `family`.
async fn issue_pair(
    state: &AppState,
    tx: &mut db::Conn,
    user: &db::users::User,
    family: Uuid,
) -> Result<TokenResponse> {
    let access_token = state.jwt.issue(user.id, user.role)?;
    let (refresh_token, hash) = refresh::generate();
    let ttl = chrono::Duration::from_std(state.settings.jwt.refresh_token_ttl)
        .map_err(ApiError::internal)?;
    db::refresh_tokens::insert(&mut *tx, user.id, family, &hash, Utc::now() + ttl).await?;
    Ok(TokenResponse {
        access_token,
        token_type: "bearer",
        expires_in: state.jwt.ttl_seconds(),
        refresh_token,
    })
}

/// Exchanges a refresh token for a new pair. Each refresh token works once; presenting a used
/// one again (a sign it was stolen) revokes every token of that login.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "New token pair", body = TokenResponse),
        (status = 401, description = "Invalid, expired, revoked or reused token", body = ErrorBody),
        (status = 422, description = "Missing field", body = ErrorBody),
    ))]
async fn refresh_tokens(
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
            tx.commit().await?;
            tracing::warn!(
                user_id = old.user_id,
                revoked,
                "refresh token reused: family revoked"
            );
            return Err(ApiError::Unauthorized(
                "Refresh token already used; all sessions of this login were revoked".into(),
            ));
        }
        return Err(ApiError::Unauthorized(
            "Invalid or expired refresh token".into(),
        ));
    };
    let user = db::users::get(&mut *tx, token.user_id)
        .await?
        .filter(|u| u.is_active)
        .ok_or_else(|| ApiError::Unauthorized("Invalid or expired refresh token".into()))?;
    let tokens = issue_pair(&state, &mut tx, &user, token.family_id).await?;
    tx.commit().await?;
    Ok(Json(tokens))
}

/// Revokes the refresh token's whole family (this login). Unknown tokens are ignored.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 204, description = "Logged out"),
        (status = 422, description = "Missing field", body = ErrorBody),
    ))]
async fn logout(
    State(state): State<AppState>,
    AppJson(req): AppJson<RefreshRequest>,
) -> Result<StatusCode> {
    let hash = refresh::hash(&req.refresh_token);
    if let Some(token) = db::refresh_tokens::find(&state.db, &hash).await? {
        db::refresh_tokens::revoke_family(&state.db, token.family_id).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The authenticated user.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth",
    security(("bearer" = []), ("oauth2" = [])),
    responses(
        (status = 200, description = "The current user", body = UserResponse),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
    ))]
async fn me(State(state): State<AppState>, user: CurrentUser) -> Result<Json<UserResponse>> {
    let user = db::users::get(&state.db, user.id)
        .await?
        .ok_or_else(|| ApiError::Unauthorized("Could not validate credentials".into()))?;
    Ok(Json(user.into()))
}
