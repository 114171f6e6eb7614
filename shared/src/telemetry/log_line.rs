//! `trace_id` and `span_id` on every JSON log line written inside a span, so that a log line
//! leads to its trace and a trace to its log lines. The line is the JSON formatter's own, with
//! the two fields put first.

use std::{fmt, sync::OnceLock};
use tracing::{Dispatch, Event, Subscriber};
use tracing_subscriber::{
    fmt::{FmtContext, FormatEvent, FormatFields, format::Writer},
    registry::LookupSpan,
};

/// The global dispatcher, for the OpenTelemetry layer's span contexts: inside a subscriber's
/// callback `Dispatch::default()` is the no-op one, so it is kept here once installed.
static DISPATCH: OnceLock<Dispatch> = OnceLock::new();

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
fn ids<S, N>(ctx: &FmtContext<'_, S, N>) -> Option<(String, String)>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    use opentelemetry::trace::TraceContextExt;
    let dispatch = DISPATCH.get()?;
    // The nearest span the OpenTelemetry layer knows (it skips other crates' spans).
    ctx.lookup_current()?.scope().find_map(|span| {
        let cx = tracing_opentelemetry::get_otel_context(&span.id(), dispatch)?;
        let otel = cx.span();
        let context = otel.span_context();
        context.is_valid().then(|| {
            (
                context.trace_id().to_string(),
                context.span_id().to_string(),
            )
        })
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
        let mut line = String::with_capacity(256);
        self.inner
            .format_event(ctx, Writer::new(&mut line), event)?;
        match line.strip_prefix('{') {
            Some(rest) => write!(
                writer,
                "{{\"trace_id\":\"{trace_id}\",\"span_id\":\"{span_id}\",{rest}"
            ),
            None => writer.write_str(&line),
        }
    }
}
