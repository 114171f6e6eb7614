//! `trace_id` and `span_id` on every JSON log line written inside a span, so that a log line
//! leads to its trace and a trace to its log lines. The line is the JSON formatter's own, with
//! the two fields put first.

use opentelemetry::trace::{SpanId, TraceId};
use std::{cell::RefCell, fmt, sync::OnceLock};
use tracing::{Dispatch, Event, Subscriber};
use tracing_subscriber::{
    fmt::{FmtContext, FormatEvent, FormatFields, format::Writer},
    registry::LookupSpan,
};

/// The global dispatcher, for the OpenTelemetry layer's span contexts: inside a subscriber's
/// callback `Dispatch::default()` is the no-op one, so it is kept here once installed.
static DISPATCH: OnceLock<Dispatch> = OnceLock::new();

thread_local! {
    static LINE: RefCell<String> = RefCell::new(String::with_capacity(512));
}

pub(super) fn remember_dispatch() {
    let _ = DISPATCH.set(tracing::dispatcher::get_default(Clone::clone));
}

pub(super) struct WithTraceIds<F> {
    inner: F,
    traced: bool,
}

impl<F> WithTraceIds<F> {
    pub(super) fn new(inner: F, traced: bool) -> Self {
        Self { inner, traced }
    }
}

/// The (trace id, span id) of the span the event is in, when it has a valid one.
fn ids<S, N>(ctx: &FmtContext<'_, S, N>) -> Option<(TraceId, SpanId)>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    use opentelemetry::trace::TraceContextExt;
    // In a request: its trace (the request's span is not a `tracing` span).
    if let Some(ids) = super::sampling::request_ids() {
        return Some(ids);
    }
    let dispatch = DISPATCH.get()?;
    // The nearest span the OpenTelemetry layer knows (it skips other crates' spans).
    ctx.lookup_current()?.scope().find_map(|span| {
        let cx = tracing_opentelemetry::get_otel_context(&span.id(), dispatch)?;
        let otel = cx.span();
        let context = otel.span_context();
        context
            .is_valid()
            .then(|| (context.trace_id(), context.span_id()))
    })
}

impl<S, N, F> FormatEvent<S, N> for WithTraceIds<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let ids = if self.traced { ids(ctx) } else { None };
        let Some((trace_id, span_id)) = ids else {
            return self.inner.format_event(ctx, writer, event);
        };
        // The inner line is formatted into a buffer kept per thread (no allocation per line;
        // a fresh one if a line were ever formatted while another is), then written after the
        // two ids.
        let mut write = |line: &mut String| {
            line.clear();
            self.inner.format_event(ctx, Writer::new(line), event)?;
            match line.strip_prefix('{') {
                Some(rest) => write!(
                    writer,
                    "{{\"trace_id\":\"{trace_id}\",\"span_id\":\"{span_id}\",{rest}"
                ),
                None => writer.write_str(line),
            }
        };
        LINE.with(|cell| match cell.try_borrow_mut() {
            Ok(mut line) => {
                let written = write(&mut line);
                if line.capacity() > 64 * 1024 {
                    *line = String::with_capacity(512);
                }
                written
            }
            Err(_) => write(&mut String::new()),
        })
    }
}
