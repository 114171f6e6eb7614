//! A pool behind the proxy on a database of its own, and the checks every cancellation test
//! ends with.

use orderflow_shared::db::{Pool, PoolOptions};
use orderflow_testkit::{
    TestDatabase,
    pg_proxy::{Hold, PgProxy},
};
use sqlx::{PgPool, postgres::PgConnectOptions};
use std::{future::Future, str::FromStr, time::Duration};

/// `application_name` of the pool's sessions.
pub const APPLICATION: &str = "pool-under-test";

/// Long enough for anything on a loaded machine; a hang fails the test instead of blocking it.
pub const PATIENCE: Duration = Duration::from_secs(10);

pub struct Fixture {
    pub pool: Pool,
    pub proxy: PgProxy,
    /// Straight to the server, never through the pool or the proxy.
    pub direct: PgPool,
    pub db: TestDatabase,
}

pub async fn fixture(options: PoolOptions) -> Fixture {
    let db = TestDatabase::create().await;
    let proxy = PgProxy::in_front_of(&db.url()).await;
    let connect = PgConnectOptions::from_str(&proxy.url_for(&db.url()))
        .unwrap()
        .application_name(APPLICATION);
    let pool = Pool::new(connect, options);
    let direct = PgPool::connect(&db.url()).await.unwrap();
    sqlx::raw_sql(
        "CREATE TABLE notes (id bigserial PRIMARY KEY, note text NOT NULL); \
         INSERT INTO notes (note) VALUES ('first')",
    )
    .execute(&direct)
    .await
    .unwrap();
    Fixture {
        pool,
        proxy,
        direct,
        db,
    }
}

/// `max` connections, a generous acquire timeout.
pub fn options(max: u32) -> PoolOptions {
    PoolOptions::new(max, PATIENCE)
}

impl Fixture {
    /// Runs `work` until the proxy holds the reply `hold` waits for, then drops it there.
    pub async fn cut_short_at<F>(&self, hold: &Hold, work: F)
    where
        F: Future + Send + 'static,
        F::Output: Send,
    {
        let task = tokio::spawn(work);
        tokio::time::timeout(PATIENCE, hold.reached())
            .await
            .expect("the work reached the held reply");
        task.abort();
        assert!(
            task.await.is_err_and(|e| e.is_cancelled()),
            "the work was cut short"
        );
    }

    pub async fn visible(&self, note: &str) -> bool {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM notes WHERE note = $1")
            .bind(note)
            .fetch_one(&self.direct)
            .await
            .unwrap()
            > 0
    }

    /// Waits until no connection is being settled.
    pub async fn settled(&self) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while self.pool.stats().settling > 0 {
            assert!(tokio::time::Instant::now() < deadline, "still settling");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The next user of the pool: its single-statement write is committed (visible from
    /// another connection at once), its session holds no transaction, the server sent no
    /// warning to anyone, and no session of this database is idle in a transaction. Returns
    /// the backend pid it ran on.
    pub async fn next_user_commits(&self, note: &str) -> i32 {
        let mut conn = tokio::time::timeout(PATIENCE, self.pool.acquire())
            .await
            .expect("acquire answers")
            .expect("a connection");
        let pid: i32 = tokio::time::timeout(
            PATIENCE,
            sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(&mut conn),
        )
        .await
        .expect("the next user's statement is answered")
        .unwrap();
        sqlx::query("INSERT INTO notes (note) VALUES ($1)")
            .bind(note)
            .execute(&mut conn)
            .await
            .unwrap();
        let xid: Option<i64> = sqlx::query_scalar("SELECT txid_current_if_assigned()")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(xid, None, "the write ran inside a transaction left open");
        drop(conn);
        assert!(self.visible(note).await, "{note:?} was not committed");
        self.assert_clean().await;
        pid
    }

    /// No warning from the server, no session idle in a transaction.
    pub async fn assert_clean(&self) {
        let notices = self.proxy.notices();
        assert!(notices.is_empty(), "the server warned: {notices:?}");
        // A session the pool just closed may still be listed for a moment; a leaked one stays.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        loop {
            let idle_in_transaction: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE datname = $1 AND state LIKE 'idle in transaction%'",
            )
            .bind(&self.db.name)
            .fetch_one(&self.direct)
            .await
            .unwrap();
            if idle_in_transaction == 0 {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "a session is idle in a transaction"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The backend pid of the connection the pool hands out next.
    pub async fn next_pid(&self) -> i32 {
        let mut conn = self.pool.acquire().await.unwrap();
        sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(&mut conn)
            .await
            .unwrap()
    }
}
