//! Logging in, throttled per (account, client network) and per account
//! (`limits/lockout`), and lifting every lock of an account through its emailed link.

use axum::{Extension, Json, extract::State, http::StatusCode};
use metrics::counter;
use orderflow_shared::{
    db,
    domain::{Email, account_email::Purpose},
    opaque_token,
};
use secrecy::SecretString;
use serde::Deserialize;
use utoipa::ToSchema;

use super::{TokenRequest, TokenResponse, bad_token, enqueue_account_email, start_session};
use crate::{
    error::{ApiError, ErrorBody, Result},
    extract::{AppForm, AppJson},
    limits::lockout::Admission,
    middleware::client_ip::ClientIp,
    state::AppState,
};

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

fn bad_credentials() -> ApiError {
    ApiError::Unauthorized("Incorrect email or password".into())
}

/// The same answer whether or not the account exists.
fn account_locked(wait: std::time::Duration) -> ApiError {
    counter!("orderflow_logins_total", "outcome" => "locked").increment(1);
    ApiError::rate_limited(wait)
}

/// OAuth2 password grant. Unknown email and wrong password answer alike, in similar time.
/// After `LOGIN_LOCKOUT_THRESHOLD` failures for one email from one client network, that
/// network's attempts are refused with 429 for a cool-down that doubles with each further
/// failure (other networks are not affected); past `LOGIN_SLOWDOWN_THRESHOLD` failures from
/// all networks every attempt waits a little first, and a verified owner is emailed a link
/// that lifts every lock. Attempts are counted before the password is checked.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth",
    request_body(content = LoginForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Token pair", body = TokenResponse),
        (status = 401, description = "Incorrect email or password", body = ErrorBody),
        (status = 415, description = "Not a form", body = ErrorBody),
        (status = 422, description = "Missing field", body = ErrorBody),
        (status = 429, description = "Too many attempts from this client, or from this network for this account", body = ErrorBody),
        (status = 503, description = "Too many sign-ins in progress (see Retry-After)", body = ErrorBody),
    ))]
pub async fn login(
    State(state): State<AppState>,
    Extension(client): Extension<ClientIp>,
    AppForm(form): AppForm<LoginForm>,
) -> Result<Json<TokenResponse>> {
    if form.grant_type.as_deref().is_some_and(|g| g != "password") {
        return Err(ApiError::validation(
            "grant_type",
            "only \"password\" is supported",
        ));
    }
    let attempt = match state
        .logins
        .admit(&form.username, &client.quota_key())
        .await
    {
        Admission::Refused(wait) => return Err(account_locked(wait)),
        Admission::Admitted { attempt, delay } => {
            if let Some(delay) = delay {
                counter!("orderflow_logins_total", "outcome" => "slowed").increment(1);
                tokio::time::sleep(delay).await;
            }
            attempt
        }
    };
    // Room to hash: when hashing is saturated, the 503 costs no other work (and the attempt
    // counts for nothing).
    let slot = match state.passwords.reserve().await {
        Ok(slot) => slot,
        Err(busy) => {
            state.logins.abandoned(attempt).await;
            return Err(busy.into());
        }
    };
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
        let failure = state.logins.failed(attempt).await;
        if let Some(cooldown) = failure.locked_for {
            tracing::warn!(
                cooldown_seconds = cooldown.as_secs(),
                "logins from one network locked after repeated failures"
            );
        }
        if failure.starts_slowdown
            && let Ok(email) = Email::parse(&form.username)
        {
            // The owner may be locked out on its own network too: a link lifts every lock.
            let mut tx = state.db.begin().await?;
            enqueue_account_email(&mut tx, Purpose::Unlock, (None, Some(email.as_str()))).await?;
            tx.commit().await?;
            state.outbox.wake();
            tracing::warn!("account slowed down after repeated failures; unlock link queued");
        }
        counter!("orderflow_logins_total", "outcome" => "failure").increment(1);
        return Err(bad_credentials());
    };
    state.logins.succeeded(attempt).await;
    if !user.is_active {
        counter!("orderflow_logins_total", "outcome" => "inactive").increment(1);
        return Err(ApiError::Unauthorized("Account is disabled".into()));
    }
    let mut tx = state.db.begin().await?;
    let tokens = start_session(&state, &mut tx, &user).await?;
    tx.commit().await?;
    counter!("orderflow_logins_total", "outcome" => "success").increment(1);
    tracing::info!(user_id = user.id, "logged in");
    Ok(Json(tokens))
}

/// Lifts every login lock of the account with the token of its emailed unlock link (single
/// use).
#[utoipa::path(post, path = "/api/v1/auth/unlock", tag = "auth",
    request_body = TokenRequest,
    responses(
        (status = 204, description = "Every lock lifted"),
        (status = 400, description = "The link is invalid, used or expired", body = ErrorBody),
        (status = 422, description = "Missing field", body = ErrorBody),
        (status = 503, description = "The lockout store is unreachable: try again", body = ErrorBody),
    ))]
pub async fn unlock(
    State(state): State<AppState>,
    AppJson(req): AppJson<TokenRequest>,
) -> Result<StatusCode> {
    let hash = opaque_token::hash(&req.token);
    let mut tx = state.db.begin().await?;
    let user_id = db::account_tokens::consume(&mut *tx, &hash, Purpose::Unlock)
        .await?
        .ok_or_else(bad_token)?;
    let user = db::users::get(&mut *tx, user_id)
        .await?
        .ok_or_else(bad_token)?;
    // Lifted before the token is spent: a link that did not work can be used again.
    if !state.logins.unlock(&user.email).await {
        return Err(ApiError::Unavailable(
            "Could not reach the lockout store, try again".into(),
        ));
    }
    tx.commit().await?;
    tracing::info!(user_id, "login locks lifted by the owner's link");
    Ok(StatusCode::NO_CONTENT)
}
