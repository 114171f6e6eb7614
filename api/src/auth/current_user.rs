//! `CurrentUser`: the authenticated caller, from a bearer token checked against the user's
//! current row (so deactivation and role changes take effect at once, not when the token
//! expires). The row comes from this instance's user cache, which PostgreSQL's change
//! notifications keep exact (`user_cache.rs`); a miss reads it in one statement.

use axum::{
    extract::FromRequestParts,
    http::{HeaderMap, header, request::Parts},
};
use orderflow_shared::{db, domain::Role};

use super::user_cache::AuthUser;

use crate::{error::ApiError, state::AppState};

#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub id: i64,
    pub role: Role,
    pub customer_id: Option<i64>,
    /// The session (login) the request's token belongs to.
    pub session: uuid::Uuid,
}

impl CurrentUser {
    pub fn require_staff(&self) -> Result<(), ApiError> {
        if self.role.is_staff_or_admin() {
            Ok(())
        } else {
            Err(ApiError::Forbidden)
        }
    }

    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.role == Role::Admin {
            Ok(())
        } else {
            Err(ApiError::Forbidden)
        }
    }

    /// The customer record a `customer` user acts as; `None` for staff and admins.
    pub fn own_customer_id(&self) -> Option<i64> {
        match self.role {
            Role::Customer => self.customer_id,
            _ => None,
        }
    }

    /// The customer a read is limited to: `None` for staff and admins (everything), a
    /// customer's own id otherwise. (Id 0 is never assigned: a customer user without a
    /// customer record, which the schema forbids anyway, would see nothing.)
    pub fn read_scope(&self) -> Option<i64> {
        match self.role {
            Role::Customer => Some(self.customer_id.unwrap_or(0)),
            _ => None,
        }
    }

    /// Staff and admins see every customer; a customer only itself.
    pub fn can_see_customer(&self, customer_id: i64) -> bool {
        self.role.is_staff_or_admin() || self.customer_id == Some(customer_id)
    }
}

/// The token of an `Authorization: Bearer <token>` header, if the request has one.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

fn unauthorized() -> ApiError {
    ApiError::Unauthorized("Could not validate credentials".into())
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if !parts.headers.contains_key(header::AUTHORIZATION) {
            return Err(ApiError::Unauthorized("Not authenticated".into()));
        }
        let token = bearer_token(&parts.headers).ok_or_else(unauthorized)?;
        let bearer = state.jwt.bearer(token).map_err(|err| {
            tracing::info!(reason = %err, "access token refused");
            unauthorized()
        })?;
        let cached = state
            .users
            .get(bearer.user_id)
            .filter(|u| u.has_session(bearer.session));
        let user = match cached {
            Some(user) => user,
            // Not cached, or cached before this session started (or after it ended): read.
            None => {
                let generation = state.users.generation();
                let row = db::users::get_auth(&state.db, bearer.user_id)
                    .await?
                    .filter(|u| u.is_active)
                    .ok_or_else(unauthorized)?;
                let user = AuthUser {
                    id: row.id,
                    role: row.role,
                    customer_id: row.customer_id,
                    sessions: row.sessions.into(),
                };
                state.users.insert(user.clone(), generation);
                if !user.has_session(bearer.session) {
                    tracing::info!(
                        user_id = user.id,
                        "access token of an ended session refused"
                    );
                    return Err(unauthorized());
                }
                user
            }
        };
        tracing::Span::current().record("user_id", user.id);
        orderflow_shared::telemetry::sampling::set_request_attribute("user_id", user.id);
        orderflow_shared::telemetry::sampling::set_request_attribute(
            "user.role",
            user.role.as_str(),
        );
        Ok(Self {
            id: user.id,
            role: user.role,
            customer_id: user.customer_id,
            session: bearer.session,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bearer_tokens_are_read() {
        let headers = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::AUTHORIZATION, v.parse().unwrap());
            h
        };
        assert_eq!(bearer_token(&headers("Bearer abc")), Some("abc"));
        assert_eq!(bearer_token(&headers("bearer  abc ")), Some("abc"));
        assert_eq!(bearer_token(&headers("Basic abc")), None);
        assert_eq!(bearer_token(&headers("Bearer ")), None);
        assert_eq!(bearer_token(&HeaderMap::new()), None);
    }
}
