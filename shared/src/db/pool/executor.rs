//! `Executor` for the pool (one statement on a connection of its own) and for a connection
//! (its statements recorded, so that one cut short is settled before reuse).

use futures::{Stream, StreamExt, future::BoxFuture, stream::BoxStream};
use sqlx::{
    Either, Error, Execute, Executor, Postgres,
    postgres::{PgQueryResult, PgRow, PgStatement, PgTypeInfo},
};
use std::{
    pin::Pin,
    task::{Context, Poll},
};

use super::{Conn, Pool, conn::Tracker};

type Step = Result<Either<PgQueryResult, PgRow>, Error>;

impl<'c> Executor<'c> for &'c mut Conn {
    type Database = Postgres;

    fn fetch_many<'e, 'q: 'e, E>(self, query: E) -> BoxStream<'e, Step>
    where
        'c: 'e,
        E: 'q + Execute<'q, Postgres>,
    {
        let (raw, mut tracker) = self.parts();
        tracker.start();
        if let Some(parent) = crate::telemetry::spans::sampled_parent() {
            let (span, query) = super::traced::span(&parent, query);
            return Tracked {
                inner: raw.fetch_many(query),
                tracker,
                span,
            }
            .boxed();
        }
        Tracked {
            inner: raw.fetch_many(query),
            tracker,
            span: None,
        }
        .boxed()
    }

    fn fetch_optional<'e, 'q: 'e, E>(self, query: E) -> BoxFuture<'e, Result<Option<PgRow>, Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Postgres>,
    {
        if let Some(parent) = crate::telemetry::spans::sampled_parent() {
            let (span, query) = super::traced::span(&parent, query);
            return Box::pin(async move {
                let _span = span;
                self.op = Some(super::conn::Op::Statement);
                let row = self.raw().fetch_optional(query).await;
                self.finish(row)
            });
        }
        Box::pin(async move {
            self.op = Some(super::conn::Op::Statement);
            let row = self.raw().fetch_optional(query).await;
            self.finish(row)
        })
    }

    fn prepare_with<'e>(
        self,
        sql: sqlx::SqlStr,
        parameters: &'e [PgTypeInfo],
    ) -> BoxFuture<'e, Result<PgStatement, Error>>
    where
        'c: 'e,
    {
        Box::pin(async move {
            self.op = Some(super::conn::Op::Statement);
            let prepared = self.raw().prepare_with(sql, parameters).await;
            self.finish(prepared)
        })
    }

    fn describe<'e>(
        self,
        sql: sqlx::SqlStr,
    ) -> BoxFuture<'e, Result<sqlx::Describe<Postgres>, Error>>
    where
        'c: 'e,
    {
        Box::pin(async move {
            self.op = Some(super::conn::Op::Statement);
            let described = self.raw().describe(sql).await;
            self.finish(described)
        })
    }
}

/// A connection's result stream that records on the connection when it has been read to its
/// end (or failed); dropped before that, the statement stays recorded as under way.
struct Tracked<'e> {
    inner: BoxStream<'e, Step>,
    tracker: Tracker<'e>,
    /// The statement's span (in a sampled trace): ends when the stream is dropped.
    span: Option<crate::telemetry::spans::Client>,
}

impl Stream for Tracked<'_> {
    type Item = Step;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Step>> {
        let polled = self.inner.poll_next_unpin(cx);
        match &polled {
            Poll::Ready(None) => self.tracker.finish(None),
            Poll::Ready(Some(Err(e))) => {
                if let Some(span) = self.span.as_mut() {
                    span.fail();
                }
                self.tracker.finish(Some(e));
            }
            _ => {}
        }
        polled
    }
}

impl<'p> Executor<'p> for &'_ Pool {
    type Database = Postgres;

    fn fetch_many<'e, 'q: 'e, E>(self, query: E) -> BoxStream<'e, Step>
    where
        'p: 'e,
        E: 'q + Execute<'q, Postgres>,
    {
        let pool = self.clone();
        futures::stream::once(async move {
            let mut conn = match pool.acquire().await {
                Ok(conn) => conn,
                Err(e) => return vec![Err(e)],
            };
            (&mut conn).fetch_many(query).collect::<Vec<_>>().await
        })
        .flat_map(futures::stream::iter)
        .boxed()
    }

    fn fetch_optional<'e, 'q: 'e, E>(self, query: E) -> BoxFuture<'e, Result<Option<PgRow>, Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, Postgres>,
    {
        let pool = self.clone();
        Box::pin(async move {
            let mut conn = pool.acquire().await?;
            (&mut conn).fetch_optional(query).await
        })
    }

    fn fetch_all<'e, 'q: 'e, E>(self, query: E) -> BoxFuture<'e, Result<Vec<PgRow>, Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, Postgres>,
    {
        let pool = self.clone();
        Box::pin(async move {
            let mut conn = pool.acquire().await?;
            (&mut conn).fetch_all(query).await
        })
    }

    fn prepare_with<'e>(
        self,
        sql: sqlx::SqlStr,
        parameters: &'e [PgTypeInfo],
    ) -> BoxFuture<'e, Result<PgStatement, Error>>
    where
        'p: 'e,
    {
        let pool = self.clone();
        Box::pin(async move {
            let mut conn = pool.acquire().await?;
            (&mut conn).prepare_with(sql, parameters).await
        })
    }

    fn describe<'e>(
        self,
        sql: sqlx::SqlStr,
    ) -> BoxFuture<'e, Result<sqlx::Describe<Postgres>, Error>>
    where
        'p: 'e,
    {
        let pool = self.clone();
        Box::pin(async move {
            let mut conn = pool.acquire().await?;
            (&mut conn).describe(sql).await
        })
    }
}
