//! Spans made with the OpenTelemetry SDK rather than `tracing`: waits that ended before anyone
//! could enter a span (the outbox wait, the queue wait), recorded with their own start and end
//! times; and the spans of calls to other systems (statements, Redis, SMTP), which are only
//! ever traced, never logged, and so skip `tracing`'s per-span and per-poll work.

use opentelemetry::{
    Context, KeyValue,
    trace::{Span, SpanKind, Tracer},
};
use opentelemetry_sdk::trace::SdkTracer;
use std::{borrow::Cow, sync::OnceLock, time::SystemTime};

/// Records a finished span `name` from `start` to `end` as a child of `parent`.
pub fn interval(
    name: &'static str,
    parent: &Context,
    (start, end): (SystemTime, SystemTime),
    attributes: Vec<KeyValue>,
) {
    let Some(tracer) = TRACER.get() else {
        return;
    };
    let mut span = tracer
        .span_builder(name)
        .with_kind(SpanKind::Internal)
        .with_start_time(start)
        .with_attributes(attributes)
        .start_with_context(tracer, parent);
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

/// The OpenTelemetry tracer of the process, for the spans made without `tracing`.
static TRACER: OnceLock<SdkTracer> = OnceLock::new();

pub(super) fn set_tracer(tracer: SdkTracer) {
    let _ = TRACER.set(tracer);
}

pub(super) fn tracer() -> Option<&'static SdkTracer> {
    TRACER.get()
}

/// The span of a call to another system (a statement, a Redis call, an SMTP send), made with
/// the OpenTelemetry SDK directly: not a `tracing` span, so it costs no registry entry, no
/// log-layer work and nothing on each poll of the call's future (measured: docs/tracing.md,
/// "Cost"). Ends when dropped — when the call finishes or is cut short.
pub struct Client(opentelemetry_sdk::trace::Span);

impl Client {
    pub fn set_attribute(&mut self, key: &'static str, value: impl Into<opentelemetry::Value>) {
        self.0.set_attribute(KeyValue::new(key, value));
    }

    /// Marks the call failed in its trace.
    pub fn fail(&mut self) {
        self.0.set_status(opentelemetry::trace::Status::error(""));
    }
}

/// The current `tracing` span's trace context when its trace is sampled: client spans are
/// made only then, so background work (sweeps, samplers, listeners) starts no trace of its
/// own and a request the sampler left out costs no child spans.
pub fn sampled_parent() -> Option<Context> {
    use opentelemetry::trace::TraceContextExt;
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    if !super::enabled() {
        return None;
    }
    let cx = super::sampling::request().unwrap_or_else(|| tracing::Span::current().context());
    let sampled = {
        let span = cx.span();
        let context = span.span_context();
        context.is_valid() && context.is_sampled()
    };
    sampled.then_some(cx)
}

fn client(parent: &Context, name: Cow<'static, str>, attributes: Vec<KeyValue>) -> Option<Client> {
    let tracer = TRACER.get()?;
    let span = tracer
        .span_builder(name)
        .with_kind(SpanKind::Client)
        .with_attributes(attributes)
        .start_with_context(tracer, parent);
    Some(Client(span))
}

/// The span of a statement (`SELECT orders`: its operation and first table, never its text or
/// parameters), inside the sampled trace `parent`.
pub fn statement(parent: &Context, sql: &str) -> Option<Client> {
    let (operation, table) = statement_label(sql);
    let (name, table) = labels::intern(operation, table);
    client(
        parent,
        name,
        vec![
            KeyValue::new("db.system.name", "postgresql"),
            KeyValue::new("db.operation.name", operation),
            KeyValue::new("db.collection.name", table),
        ],
    )
}

/// The span of a Redis call made for `component` (`cache`, `rate_limit`, `login_lockout`,
/// `queue`): no key, no value. `None` outside a sampled trace.
pub fn redis(component: &'static str) -> Option<Client> {
    let parent = sampled_parent()?;
    let (name, _) = labels::intern("redis", component);
    client(
        &parent,
        name,
        vec![
            KeyValue::new("db.system.name", "redis"),
            KeyValue::new("orderflow.component", component),
        ],
    )
}

/// The span of an SMTP send of an email of `kind`. Its reply class is set when it ends (never
/// the server's text: it can name the recipient). `None` outside a sampled trace.
pub fn smtp(kind: &str) -> Option<Client> {
    let parent = sampled_parent()?;
    client(
        &parent,
        Cow::Borrowed("smtp.send"),
        vec![KeyValue::new("email.kind", kind.to_owned())],
    )
}

/// Span names and tables as `&'static str`, made once per (operation, table): a statement's
/// span then allocates no string. The set is bounded by the schema (the tables OrderFlow's
/// statements name); past `LIMIT` distinct tables the strings are simply allocated.
mod labels {
    use std::{
        borrow::Cow,
        collections::HashMap,
        sync::{LazyLock, RwLock},
    };

    const LIMIT: usize = 256;

    /// table → [(operation, span name)]; strings leaked once, never freed (bounded).
    type Names = HashMap<&'static str, Vec<(&'static str, &'static str)>>;
    static NAMES: LazyLock<RwLock<Names>> = LazyLock::new(Default::default);

    fn find(names: &Names, operation: &str, table: &str) -> Option<(&'static str, &'static str)> {
        let (table, operations) = names.get_key_value(table)?;
        operations
            .iter()
            .find(|(op, _)| *op == operation)
            .map(|(_, name)| (*name, *table))
    }

    /// (`"{operation} {table}"`, or the operation alone when there is no table; the table).
    pub(super) fn intern(
        operation: &'static str,
        table: &str,
    ) -> (Cow<'static, str>, Cow<'static, str>) {
        let read = NAMES.read().unwrap_or_else(|e| e.into_inner());
        if let Some((name, table)) = find(&read, operation, table) {
            return (Cow::Borrowed(name), Cow::Borrowed(table));
        }
        drop(read);
        let mut names = NAMES.write().unwrap_or_else(|e| e.into_inner());
        if let Some((name, table)) = find(&names, operation, table) {
            return (Cow::Borrowed(name), Cow::Borrowed(table));
        }
        let name = if table.is_empty() {
            operation.to_owned()
        } else {
            format!("{operation} {table}")
        };
        let known = names.get_key_value(table).map(|(table, _)| *table);
        if known.is_none() && names.len() >= LIMIT {
            return (Cow::Owned(name), Cow::Owned(table.to_owned()));
        }
        let name: &'static str = Box::leak(name.into_boxed_str());
        let table = known.unwrap_or_else(|| Box::leak(table.to_owned().into_boxed_str()));
        names.entry(table).or_default().push((operation, name));
        (Cow::Borrowed(name), Cow::Borrowed(table))
    }
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
pub fn statement_label(sql: &str) -> (&'static str, &str) {
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
    let mut table = "";
    if operation == "UPDATE" {
        table = sql.split_whitespace().nth(1).unwrap_or_default();
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
                table = word;
                break;
            }
            previous = word.trim_start_matches('(');
        }
    }
    let end = table
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
        .unwrap_or(table.len());
    (operation, &table[..end])
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
            assert_eq!(statement_label(sql), (operation, table), "{sql:?}");
        }
    }
}
