//! A span per statement inside a sampled trace (`telemetry::spans::statement`), labelled with
//! its operation and first table, never its SQL text or parameters. The query
//! is taken apart to read its SQL (sqlx's `Execute::sql` consumes it) and put back together.

use sqlx::{
    Execute, Postgres, SqlStr,
    error::BoxDynError,
    postgres::{PgArguments, PgStatement},
};

use crate::telemetry::spans;

/// A query rebuilt from the parts of another.
pub(super) struct Parts {
    sql: SqlStr,
    statement: Option<PgStatement>,
    arguments: Option<Result<Option<PgArguments>, BoxDynError>>,
    persistent: bool,
}

impl Execute<'_, Postgres> for Parts {
    fn sql(self) -> SqlStr {
        self.sql
    }

    fn statement(&self) -> Option<&PgStatement> {
        self.statement.as_ref()
    }

    fn take_arguments(&mut self) -> Result<Option<PgArguments>, BoxDynError> {
        self.arguments.take().unwrap_or(Ok(None))
    }

    fn persistent(&self) -> bool {
        self.persistent
    }
}

/// The statement's span in the sampled trace `parent`, and the query to run.
pub(super) fn span<'q>(
    parent: &opentelemetry::Context,
    mut query: impl Execute<'q, Postgres>,
) -> (Option<spans::Client>, Parts) {
    let statement = query.statement().cloned();
    let persistent = query.persistent();
    let arguments = Some(query.take_arguments());
    let sql = query.sql();
    let span = spans::statement(parent, sql.as_str());
    (
        span,
        Parts {
            sql,
            statement,
            arguments,
            persistent,
        },
    )
}
