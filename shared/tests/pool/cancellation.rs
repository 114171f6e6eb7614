//! One test per await a caller can be cut short at (a client gone, a request timeout): the
//! proxy holds the server's reply to that message, the caller is dropped there, and then the
//! next user of the pool — on that same connection where the pool keeps it — must find a
//! clean session: its write committed and visible from another connection, no transaction
//! open, no warning from the server, no session idle in a transaction.

use futures::TryStreamExt;
use orderflow_testkit::pg_proxy::{STARTUP, SYNC};
use std::time::Duration;

use crate::helpers::{PATIENCE, fixture, options};

#[tokio::test]
async fn cut_short_while_the_connection_opens() {
    let f = fixture(options(1)).await;
    let hold = f.proxy.hold_reply(STARTUP);
    let pool = f.pool.clone();
    f.cut_short_at(&hold, async move { pool.acquire().await.map(drop) })
        .await;
    hold.release();
    f.next_user_commits("after").await;
    assert_eq!(f.pool.stats().in_use, 0, "the slot came back");
}

#[tokio::test]
async fn cut_short_waiting_for_begin() {
    let f = fixture(options(1)).await;
    let hold = f.proxy.hold_reply("BEGIN");
    let pool = f.pool.clone();
    f.cut_short_at(&hold, async move {
        let mut tx = pool.begin().await.unwrap();
        sqlx::query("INSERT INTO notes (note) VALUES ('never')")
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    })
    .await;
    hold.release();
    f.next_user_commits("after").await;
    assert!(!f.visible("never").await);
}

#[tokio::test]
async fn cut_short_waiting_for_a_statement_in_a_transaction() {
    let f = fixture(options(1)).await;
    let hold = f.proxy.hold_reply("UPDATE notes");
    let pool = f.pool.clone();
    f.cut_short_at(&hold, async move {
        let mut tx = pool.begin().await.unwrap();
        sqlx::query("UPDATE notes SET note = 'changed' WHERE id = 1")
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    })
    .await;
    hold.release();
    f.next_user_commits("after").await;
    assert!(
        !f.visible("changed").await,
        "the cut-short update rolled back"
    );
    // Its row lock went with it.
    let mut other = f.direct.begin().await.unwrap();
    sqlx::query("SET LOCAL lock_timeout = '1s'")
        .execute(&mut *other)
        .await
        .unwrap();
    sqlx::query("UPDATE notes SET note = 'mine' WHERE id = 1")
        .execute(&mut *other)
        .await
        .expect("the row is not locked");
    other.commit().await.unwrap();
}

#[tokio::test]
async fn cut_short_waiting_for_commit() {
    let f = fixture(options(1)).await;
    let hold = f.proxy.hold_reply("COMMIT");
    let pool = f.pool.clone();
    f.cut_short_at(&hold, async move {
        let mut tx = pool.begin().await.unwrap();
        sqlx::query("INSERT INTO notes (note) VALUES ('sent')")
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    })
    .await;
    hold.release();
    f.settled().await;
    f.next_user_commits("after").await;
    // Only the answer was held: the server committed, and nothing undid it.
    assert!(f.visible("sent").await);
}

#[tokio::test]
async fn cut_short_waiting_for_rollback() {
    let f = fixture(options(1)).await;
    let hold = f.proxy.hold_reply("ROLLBACK");
    let pool = f.pool.clone();
    f.cut_short_at(&hold, async move {
        let mut tx = pool.begin().await.unwrap();
        sqlx::query("INSERT INTO notes (note) VALUES ('undone')")
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.rollback().await.unwrap();
    })
    .await;
    hold.release();
    f.settled().await;
    f.next_user_commits("after").await;
    assert!(!f.visible("undone").await);
}

#[tokio::test]
async fn cut_short_waiting_for_a_single_statement() {
    let f = fixture(options(2)).await;
    let hold = f
        .proxy
        .hold_reply("INSERT INTO notes (note) VALUES ('single')");
    let pool = f.pool.clone();
    f.cut_short_at(&hold, async move {
        sqlx::query("INSERT INTO notes (note) VALUES ('single')")
            .execute(&pool)
            .await
            .unwrap();
    })
    .await;
    // The reply is still held: the next user is not made to wait for it.
    let other = tokio::time::timeout(PATIENCE / 2, f.next_pid())
        .await
        .expect("the next user is not queued behind a cut-short statement");
    hold.release();
    f.settled().await;
    let settled = f.next_user_commits("after").await;
    assert_ne!(settled, other, "the settled connection is reused");
    assert!(f.visible("single").await, "the server ran the statement");
}

#[tokio::test]
async fn cut_short_while_reading_rows() {
    let f = fixture(options(2)).await;
    // The rows after the first few are held.
    let hold = f.proxy.hold_reply_after("generate_series", 3);
    let pool = f.pool.clone();
    f.cut_short_at(&hold, async move {
        let mut conn = pool.acquire().await.unwrap();
        let mut rows =
            sqlx::query_scalar::<_, i32>("SELECT generate_series(1, 100000)").fetch(&mut conn);
        while rows.try_next().await.unwrap().is_some() {}
    })
    .await;
    let other = tokio::time::timeout(PATIENCE / 2, f.next_pid())
        .await
        .expect("the next user does not read someone else's rows");
    hold.release();
    f.settled().await;
    let settled = f.next_user_commits("after").await;
    assert_ne!(settled, other, "the settled connection is reused");
}

#[tokio::test]
async fn cut_short_during_the_check_of_an_idle_connection() {
    let mut checked = options(1);
    checked.check_idle_after = Duration::ZERO;
    let f = fixture(checked).await;
    let first = f.next_pid().await;
    let hold = f.proxy.hold_reply(SYNC);
    let pool = f.pool.clone();
    f.cut_short_at(&hold, async move { pool.acquire().await.map(drop) })
        .await;
    hold.release();
    assert_eq!(f.next_user_commits("after").await, first);
}

#[tokio::test]
async fn a_session_in_a_failed_transaction_is_never_handed_out_again() {
    let f = fixture(options(1)).await;
    let first = f.next_pid().await;
    {
        let mut conn = f.pool.acquire().await.unwrap();
        // Transaction control the pool did not send (its API has begin/commit for that).
        sqlx::raw_sql("BEGIN").execute(&mut conn).await.unwrap();
        assert!(sqlx::query("SELECT 1/0").execute(&mut conn).await.is_err());
        let aborted = sqlx::query("SELECT 1")
            .execute(&mut conn)
            .await
            .unwrap_err();
        assert_eq!(
            aborted
                .as_database_error()
                .and_then(|e| e.code())
                .as_deref(),
            Some("25P02")
        );
    }
    let next = f.next_user_commits("after").await;
    assert_ne!(next, first, "the failed session was closed, not reused");
}
