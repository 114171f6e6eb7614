//! A span per statement when traces are exported (`telemetry::enabled`): `db.statement`,
//! labelled with its operation and first table, never its SQL text or parameters. The query
//! is taken apart to read its SQL (sqlx's `Execute::sql` consumes it) and put back together.

use sqlx::{
    Execute, Postgres, SqlStr,
    error::BoxDynError,
    postgres::{PgArguments, PgStatement},
};

use crate::telemetry;

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

/// The statement's span and the query to run inside it.
pub(super) fn span<'q>(mut query: impl Execute<'q, Postgres>) -> (tracing::Span, Parts) {
    let statement = query.statement().cloned();
    let persistent = query.persistent();
    let arguments = Some(query.take_arguments());
    let sql = query.sql();
    let (operation, table) = telemetry::spans::statement_label(sql.as_str());
    let name = if table.is_empty() {
        operation.to_owned()
    } else {
        format!("{operation} {table}")
    };
    let span = tracing::info_span!(
        "db.statement",
        otel.name = name,
        otel.kind = "client",
        db.system.name = "postgresql",
        db.operation.name = operation,
        db.collection.name = table,
    );
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
