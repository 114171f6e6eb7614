//! Connections opened in the background up to the minimum, recycled after their lifetime,
//! closed after their idle timeout, and checked before reuse once they may be dead.

use std::time::Duration;

use crate::helpers::{PATIENCE, fixture, options};

async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn terminate(f: &crate::helpers::Fixture, pid: i32) {
    let ended: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(pid)
        .fetch_one(&f.direct)
        .await
        .unwrap();
    assert!(ended);
}

#[tokio::test]
async fn the_minimum_is_opened_in_the_background_and_replaced_when_closed() {
    let mut o = options(4);
    o.min_connections = 2;
    o.check_idle_after = Duration::ZERO;
    let f = fixture(o).await;
    eventually("two connections open", || f.pool.size() == 2).await;
    assert_eq!(f.proxy.connections(), 2);
    // One dies on the server; the next user is handed a working one, and the minimum is
    // restored.
    let pid = f.next_pid().await;
    terminate(&f, pid).await;
    f.next_user_commits("after").await;
    eventually("the closed one replaced", || f.pool.size() == 2).await;
}

#[tokio::test]
async fn a_connection_past_its_lifetime_is_replaced_between_uses() {
    let mut o = options(1);
    o.max_lifetime = Some(Duration::from_millis(300));
    let f = fixture(o).await;
    let first = f.next_pid().await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let second = f.next_user_commits("after").await;
    assert_ne!(first, second);
}

#[tokio::test]
async fn idle_connections_beyond_the_minimum_close_after_the_idle_timeout() {
    let mut o = options(4);
    o.min_connections = 1;
    o.idle_timeout = Some(Duration::from_millis(300));
    let f = fixture(o).await;
    let held: Vec<_> = futures::future::join_all((0..3).map(|_| f.pool.acquire()))
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    drop(held);
    assert_eq!(f.pool.num_idle(), 3);
    eventually("down to the minimum", || f.pool.size() == 1).await;
}

#[tokio::test]
async fn after_one_connection_fails_the_others_parked_before_are_checked() {
    let mut o = options(2);
    o.check_idle_after = Duration::from_secs(3600);
    let f = fixture(o).await;
    let (a, b) = (
        f.pool.acquire().await.unwrap(),
        f.pool.acquire().await.unwrap(),
    );
    drop((a, b));
    assert_eq!(f.pool.num_idle(), 2);
    let killed: i64 = sqlx::query_scalar(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE datname = $1 AND application_name = $2",
    )
    .bind(&f.db.name)
    .bind(crate::helpers::APPLICATION)
    .fetch_one(&f.direct)
    .await
    .unwrap();
    assert_eq!(killed, 2);
    // The first user of a connection the server ended finds out (one error, as with any
    // pool that does not ping every connection it hands out)…
    let first = sqlx::query("SELECT 1").execute(&f.pool).await;
    assert!(first.is_err(), "{first:?}");
    // …and the other parked connection is checked, and replaced, before anyone uses it.
    f.next_user_commits("after").await;
}

#[tokio::test]
async fn a_session_the_server_ended_for_idling_in_a_transaction_is_not_reused() {
    let f = fixture(options(1)).await;
    let first = f.next_pid().await;
    let mut tx = f.pool.begin().await.unwrap();
    sqlx::query("SET LOCAL idle_in_transaction_session_timeout = '100ms'")
        .execute(&mut *tx)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    // FATAL 25P03, or the closed socket: either way the session is gone.
    let ended = sqlx::query("SELECT 1").execute(&mut *tx).await;
    assert!(ended.is_err(), "{ended:?}");
    drop(tx);
    let next = f.next_user_commits("after").await;
    assert_ne!(next, first, "the ended session was replaced");
}
