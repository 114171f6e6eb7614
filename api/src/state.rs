//! What every handler can reach: connections, caches, keys and settings. Its own module so
//! routes and the router builder (`app.rs`) both depend on it and not on each other.

use axum::extract::FromRef;
use orderflow_shared::{cache::ReadCache, db::Pool, settings::ApiSettings};
use std::sync::Arc;

use crate::{
    auth::{jwt::JwtKeys, password::Passwords, user_cache::UserCache},
    jobs::OutboxWaker,
    limits::{Limiter, LoginGuard},
    paging::CursorKeys,
};

#[derive(Clone, FromRef)]
pub struct AppState {
    pub db: Pool,
    /// For `/ready`: the instance's one multiplexed Redis connection (reconnects by itself),
    /// not a new connection per probe.
    pub redis: redis::aio::ConnectionManager,
    /// Single orders and products, shared by every instance through Redis.
    pub cache: ReadCache,
    /// Authenticated users, forgotten on PostgreSQL's change notifications.
    pub users: Arc<UserCache>,
    /// Tells the workers' outbox sweep that new jobs were committed.
    pub outbox: OutboxWaker,
    pub jwt: Arc<JwtKeys>,
    /// Signs and checks the cursors of `next` links.
    pub cursors: Arc<CursorKeys>,
    pub passwords: Passwords,
    /// Request quotas, shared by every instance through Redis.
    pub limiter: Arc<Limiter>,
    /// Per-account login lockout, shared the same way.
    pub logins: Arc<LoginGuard>,
    pub settings: Arc<ApiSettings>,
}
