//! The users this instance has authenticated, kept so a request costs no database round trip
//! for "is this user still active, and what is its role?".
//!
//! Staleness is ruled out by PostgreSQL itself: a trigger on `users` (migration 0004) sends
//! `NOTIFY orderflow_user_changed, '<id>'` when a role, activation or customer link changes,
//! and one on `sessions` (0006) when one of the user's sessions ends, delivered when (and
//! only if) the change commits, whoever made it. A session that started after the user was
//! cached is simply not in the entry: that request reads the user again. Every instance listens
//! on its own connection and forgets that user at once. While the listening connection is
//! down the cache is switched off and emptied (notifications may have been missed), so a
//! lost connection can make requests slower, never stale. The instance that makes a change
//! also forgets the user itself before answering, so its own next request is exact without
//! waiting for the notification.

use orderflow_shared::domain::Role;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};
use tokio::sync::watch;
use uuid::Uuid;

pub const CHANNEL: &str = "orderflow_user_changed";
/// Entries are re-read after this even without a notification (a safety net only).
const MAX_AGE: Duration = Duration::from_secs(300);
/// Past this many users the cache starts over (it holds ~64 bytes per user).
const CAPACITY: usize = 50_000;

/// What a request needs to know about its user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthUser {
    pub id: i64,
    pub role: Role,
    pub customer_id: Option<i64>,
    /// Its live sessions (logins): a token of any other session is refused.
    pub sessions: Arc<[Uuid]>,
}

impl AuthUser {
    pub fn has_session(&self, session: Uuid) -> bool {
        self.sessions.contains(&session)
    }
}

#[derive(Default)]
pub struct UserCache {
    entries: Mutex<HashMap<i64, (AuthUser, Instant)>>,
    /// Bumped by every forget/clear: a reader that started before one must not insert.
    generation: AtomicU64,
    /// True while the notification listener is connected and listening.
    live: AtomicBool,
}

impl UserCache {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// The cached user, if the cache is live and holds a fresh entry.
    pub fn get(&self, id: i64) -> Option<AuthUser> {
        if !self.live.load(Ordering::Acquire) {
            return None;
        }
        let entries = self.entries.lock().expect("user cache lock");
        entries
            .get(&id)
            .filter(|(_, at)| at.elapsed() < MAX_AGE)
            .map(|(user, _)| user.clone())
    }

    /// Call before reading a user from the database; pass the result to `insert`.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Caches `user` as read from the database, unless something was forgotten since
    /// `generation` was taken (the read may predate that change).
    pub fn insert(&self, user: AuthUser, generation: u64) {
        if !self.live.load(Ordering::Acquire) {
            return;
        }
        let mut entries = self.entries.lock().expect("user cache lock");
        if self.generation.load(Ordering::Acquire) != generation {
            return;
        }
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(user.id, (user, Instant::now()));
    }

    pub fn forget(&self, id: i64) {
        let mut entries = self.entries.lock().expect("user cache lock");
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.remove(&id);
    }

    fn clear(&self) {
        let mut entries = self.entries.lock().expect("user cache lock");
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.clear();
    }

    fn set_live(&self, live: bool) {
        self.clear();
        self.live.store(live, Ordering::Release);
    }

    pub fn is_live(&self) -> bool {
        self.live.load(Ordering::Acquire)
    }

    /// Applies one notification payload (a user id; anything else empties the cache).
    fn apply(&self, payload: &str) {
        match payload.parse() {
            Ok(id) => self.forget(id),
            Err(_) => self.clear(),
        }
    }
}

/// Listens for user changes until `stop`, reconnecting with a growing pause; the cache is
/// live only while the listener is.
pub async fn listen(db: PgConnectOptions, cache: Arc<UserCache>, mut stop: watch::Receiver<bool>) {
    let mut pause = Duration::from_millis(100);
    loop {
        match subscribe(&db).await {
            Ok(mut listener) => {
                pause = Duration::from_millis(100);
                cache.set_live(true);
                tracing::debug!("user cache live");
                loop {
                    tokio::select! {
                        message = listener.try_recv() => match message {
                            Ok(Some(n)) => cache.apply(n.payload()),
                            // The connection dropped: changes may have been missed meanwhile.
                            Ok(None) | Err(_) => break,
                        },
                        _ = stop.changed() => return,
                    }
                }
                cache.set_live(false);
                tracing::warn!("user change notifications lost; user cache off until reconnected");
            }
            Err(e) => tracing::debug!(error = %e, "user change listener not connected"),
        }
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = stop.changed() => return,
        }
        pause = (pause * 2).min(Duration::from_secs(5));
    }
}

async fn subscribe(db: &PgConnectOptions) -> sqlx::Result<PgListener> {
    // A connection of its own, outside the request pool.
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(db.clone())
        .await?;
    let mut listener = PgListener::connect_with(&pool).await?;
    // Reconnection is ours: a silent reconnect inside sqlx would hide missed notifications.
    listener.eager_reconnect(false);
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: i64) -> AuthUser {
        AuthUser {
            id,
            role: Role::Customer,
            customer_id: Some(id),
            sessions: Arc::from(vec![Uuid::from_u128(id as u128)]),
        }
    }

    #[test]
    fn nothing_is_served_until_the_listener_is_live() {
        let cache = UserCache::new();
        cache.insert(user(1), cache.generation());
        assert_eq!(cache.get(1), None);
        cache.set_live(true);
        cache.insert(user(1), cache.generation());
        assert_eq!(cache.get(1), Some(user(1)));
        cache.set_live(false);
        assert_eq!(cache.get(1), None);
    }

    #[test]
    fn a_read_that_started_before_a_change_is_not_cached() {
        let cache = UserCache::new();
        cache.set_live(true);
        let before = cache.generation();
        cache.apply("7");
        cache.insert(user(1), before);
        assert_eq!(cache.get(1), None);
    }

    #[test]
    fn notifications_forget_one_user_or_everything() {
        let cache = UserCache::new();
        cache.set_live(true);
        for id in [1, 2] {
            cache.insert(user(id), cache.generation());
        }
        cache.apply("1");
        assert_eq!((cache.get(1), cache.get(2)), (None, Some(user(2))));
        cache.apply("garbage");
        assert_eq!(cache.get(2), None);
    }
}
