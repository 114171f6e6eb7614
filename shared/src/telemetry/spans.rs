//! Spans that `tracing` cannot make: waits that ended before anyone could enter a span (the
//! outbox wait, the queue wait), recorded with their own start and end times; and the labels
//! of a database statement's span.

use opentelemetry::{
    Context, KeyValue,
    trace::{Span, SpanKind, Tracer, TracerProvider},
};
use std::time::SystemTime;

/// Records a finished span `name` from `start` to `end` as a child of `parent`.
pub fn interval(
    name: &'static str,
    parent: &Context,
    (start, end): (SystemTime, SystemTime),
    attributes: Vec<KeyValue>,
) {
    if !super::enabled() {
        return;
    }
    let tracer = opentelemetry::global::tracer_provider().tracer("orderflow");
    let mut span = tracer
        .span_builder(name)
        .with_kind(SpanKind::Internal)
        .with_start_time(start)
        .with_attributes(attributes)
        .start_with_context(&tracer, parent);
    span.end_with_timestamp(end.max(start));
}

/// On a job's span (current): its attempt number, and the `queue.wait` span from when the job
/// was queued (or due again after a backoff) to now, when the job is traced.
pub fn job_attempt(queued_at_ms: Option<i64>, attempt: i64) {
    if !super::enabled() {
        return;
    }
    let span = tracing::Span::current();
    super::set_attribute(&span, "attempt", attempt);
    if let Some(queued) = queued_at_ms {
        use tracing_opentelemetry::OpenTelemetrySpanExt;
        interval(
            "queue.wait",
            &span.context(),
            (from_unix_ms(queued), SystemTime::now()),
            vec![
                KeyValue::new("messaging.system", "redis"),
                KeyValue::new("orderflow.attempt", attempt),
            ],
        );
    }
}

/// On a job's span (current): how the attempt ended (`success`, `skipped`, `retry`, `dead`,
/// `duplicate`); a retry or a dead job marks the span as an error.
pub fn job_outcome(outcome: &'static str) {
    if !super::enabled() {
        return;
    }
    let span = tracing::Span::current();
    super::set_attribute(&span, "outcome", outcome);
    if matches!(outcome, "retry" | "dead") {
        super::set_error(&span);
    }
}

/// The span of a Redis call made for `component` (`cache`, `rate_limit`, `login_lockout`,
/// `queue`): no key, no value. A disabled span outside a sampled trace.
pub fn redis(component: &'static str) -> tracing::Span {
    if !super::in_trace() {
        return tracing::Span::none();
    }
    tracing::info_span!(
        "redis",
        otel.name = format!("redis {component}"),
        otel.kind = "client",
        db.system.name = "redis",
        orderflow.component = component,
    )
}

/// The span of an SMTP send of an email of `kind`. Its reply class is set when it ends (never
/// the server's text: it can name the recipient). A disabled span outside a sampled trace.
pub fn smtp(kind: &str) -> tracing::Span {
    if !super::in_trace() {
        return tracing::Span::none();
    }
    tracing::info_span!("smtp.send", otel.kind = "client", email.kind = kind)
}

/// A time in Unix milliseconds as a `SystemTime`.
pub fn from_unix_ms(ms: i64) -> SystemTime {
    SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64)
}

pub fn to_unix_ms(at: SystemTime) -> i64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A statement's operation (its first keyword) and the table it names first after `FROM`,
/// `INTO` or `UPDATE`: labels for its span, never its parameters. Not a parser: a statement
/// it cannot read is labelled `("OTHER", "")`.
pub fn statement_label(sql: &str) -> (&'static str, String) {
    let mut words = sql
        .split(|c: char| c.is_whitespace() || c == '(' || c == ')' || c == ',' || c == ';')
        .filter(|w| !w.is_empty());
    let operation = match words.next().map(str::to_ascii_uppercase).as_deref() {
        Some("SELECT") => "SELECT",
        Some("INSERT") => "INSERT",
        Some("UPDATE") => "UPDATE",
        Some("DELETE") => "DELETE",
        Some("WITH") => "WITH",
        Some("BEGIN") => "BEGIN",
        Some("COMMIT") => "COMMIT",
        Some("ROLLBACK") => "ROLLBACK",
        Some("SET") => "SET",
        _ => "OTHER",
    };
    let mut table = String::new();
    if operation == "UPDATE" {
        table = sql.split_whitespace().nth(1).unwrap_or_default().to_owned();
    } else {
        let mut previous = "";
        for word in sql
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|w| !w.is_empty())
        {
            let after_keyword = previous.eq_ignore_ascii_case("FROM")
                || previous.eq_ignore_ascii_case("INTO")
                || previous.eq_ignore_ascii_case("UPDATE");
            // A function (`generate_series(…)`) or a subquery (`(SELECT …`) is not a table.
            if after_keyword && !word.contains('(') {
                table = word.to_owned();
                break;
            }
            previous = word.trim_start_matches('(');
        }
    }
    let table: String = table
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '.')
        .collect();
    (operation, table)
}

#[cfg(test)]
mod tests {
    use super::statement_label;

    #[test]
    fn statements_are_labelled_by_operation_and_first_table() {
        for (sql, operation, table) in [
            ("SELECT id FROM orders WHERE id = $1", "SELECT", "orders"),
            ("select count(*) from order_items", "SELECT", "order_items"),
            ("INSERT INTO outbox (kind) VALUES ($1)", "INSERT", "outbox"),
            (
                "UPDATE outbox SET attempts = attempts + 1",
                "UPDATE",
                "outbox",
            ),
            (
                "DELETE FROM idempotency_keys WHERE x",
                "DELETE",
                "idempotency_keys",
            ),
            (
                "WITH o AS (INSERT INTO orders (a) VALUES (1) RETURNING id) SELECT 1",
                "WITH",
                "orders",
            ),
            ("SELECT 1", "SELECT", ""),
            (
                "SELECT g FROM generate_series(1, 3) g JOIN x ON true",
                "SELECT",
                "",
            ),
            ("SELECT a FROM (SELECT 1) s", "SELECT", ""),
            ("BEGIN", "BEGIN", ""),
            (
                "  \n SELECT a FROM\n public.users;",
                "SELECT",
                "public.users",
            ),
            ("VACUUM", "OTHER", ""),
            ("", "OTHER", ""),
        ] {
            assert_eq!(
                statement_label(sql),
                (operation, table.to_string()),
                "{sql:?}"
            );
        }
    }
}
