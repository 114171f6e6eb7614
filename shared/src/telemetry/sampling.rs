//! A request's trace: the sampling decision, taken before anything is made, and the request's
//! server span, made with the OpenTelemetry SDK beside the request's log span (not through
//! `tracing`: no registry work, no attributes re-read from log fields, nothing on each poll).
//! A request the sampler leaves out makes no span at all. Either way the request's trace
//! context is kept in a task-local (`scope`): the parent of its statement and Redis spans, the
//! context its outbox rows carry (so a job follows its request's decision instead of sampling
//! on its own), and the `trace_id` of its log lines.
//!
//! The decision is the configured sampler's own (`OTEL_TRACES_SAMPLER`/`_ARG`, read by the SDK
//! exactly as for the provider), on the trace id the request will have: the client's, or one
//! chosen here and handed to the SDK through `Ids` when the span starts, so that the SDK's
//! sampler, asked again, decides the same.

use opentelemetry::{
    Context, KeyValue,
    trace::{
        SpanContext, SpanId, SpanKind, TraceContextExt, TraceFlags, TraceId, TraceState, Tracer,
    },
};
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator, SamplingDecision, ShouldSample};
use std::{cell::Cell, future::Future, sync::OnceLock};

use super::TraceHeaders;

static SAMPLER: OnceLock<Box<dyn ShouldSample>> = OnceLock::new();

/// The sampler the SDK builds from the environment (`Config::default()` reads
/// `OTEL_TRACES_SAMPLER`/`_ARG`, as the provider does).
pub(super) fn init() {
    let _ = SAMPLER.set(opentelemetry_sdk::trace::Config::default().sampler);
}

thread_local! {
    /// The trace id the next root span started on this thread gets (set only around `start`).
    static PRESET: Cell<Option<TraceId>> = const { Cell::new(None) };
}

/// The provider's id generator: random ids, except a root span started by `Decision::start`,
/// which gets the trace id its sampling decision was taken on.
#[derive(Debug, Default)]
pub(super) struct Ids(RandomIdGenerator);

impl IdGenerator for Ids {
    fn new_trace_id(&self) -> TraceId {
        PRESET
            .with(Cell::take)
            .unwrap_or_else(|| self.0.new_trace_id())
    }

    fn new_span_id(&self) -> SpanId {
        self.0.new_span_id()
    }
}

/// A request's sampling decision.
pub enum Decision {
    /// Traced: its span continues `parent` (the client's span) or is a root on `trace_id`.
    Sampled {
        parent: Option<Context>,
        trace_id: TraceId,
    },
    /// Left out: the context it passes on (the client's trace id, or a new one; not sampled).
    Unsampled(SpanContext),
}

/// Decides for a request named `name` that came with `incoming` (its `traceparent`, if any;
/// a malformed one is ignored).
pub fn decide(incoming: Option<&TraceHeaders>, name: &str) -> Decision {
    let ids = RandomIdGenerator::default();
    let parent = incoming.and_then(super::propagation::extract);
    let trace_id = parent.as_ref().map_or_else(
        || ids.new_trace_id(),
        |cx| cx.span().span_context().trace_id(),
    );
    let sampled = SAMPLER.get().is_some_and(|sampler| {
        let result =
            sampler.should_sample(parent.as_ref(), trace_id, name, &SpanKind::Server, &[], &[]);
        result.decision == SamplingDecision::RecordAndSample
    });
    if sampled {
        return Decision::Sampled { parent, trace_id };
    }
    let state = parent.as_ref().map_or_else(TraceState::default, |cx| {
        cx.span().span_context().trace_state().clone()
    });
    Decision::Unsampled(SpanContext::new(
        trace_id,
        ids.new_span_id(),
        TraceFlags::default(),
        false,
        state,
    ))
}

impl Decision {
    /// Starts the request's trace: when sampled, a server span of the SDK named and described
    /// by `describe` (called only then), child of the client's span or a root on the trace id
    /// decided on. Returns the request's trace context, for `scope`; `finish` ends it.
    pub fn start(
        self,
        describe: impl FnOnce() -> (String, Vec<(&'static str, String)>),
    ) -> Context {
        let (parent, trace_id) = match self {
            Decision::Unsampled(context) => {
                return Context::new().with_remote_span_context(context);
            }
            Decision::Sampled { parent, trace_id } => (parent.unwrap_or_default(), trace_id),
        };
        let Some(tracer) = super::spans::tracer() else {
            return Context::new();
        };
        let (name, attributes) = describe();
        let builder = tracer
            .span_builder(name)
            .with_kind(SpanKind::Server)
            .with_attributes(
                attributes
                    .into_iter()
                    .map(|(key, value)| KeyValue::new(key, value)),
            );
        // A root takes its trace id from `PRESET` (through `Ids`): the one the decision was
        // taken on, so that the SDK's sampler decides the same. A child has its parent's.
        PRESET.with(|preset| preset.set(Some(trace_id)));
        let span = tracer.build_with_context(builder, &parent);
        PRESET.with(Cell::take);
        parent.with_span(span)
    }
}

/// Ends the request's span (when sampled) with its status code; a 5xx marks it failed.
pub fn finish(cx: &Context, status: u16) {
    let span = cx.span();
    if !span.is_recording() {
        return;
    }
    span.set_attribute(KeyValue::new(
        "http.response.status_code",
        i64::from(status),
    ));
    if status >= 500 {
        span.set_status(opentelemetry::trace::Status::error(""));
    }
    span.end();
}

/// Sets an attribute on the span of the request running on this task (nothing outside a
/// sampled request).
pub fn set_request_attribute(key: &'static str, value: impl Into<opentelemetry::Value>) {
    if !super::enabled() {
        return;
    }
    let _ = REQUEST.try_with(|cx| {
        let span = cx.span();
        if span.is_recording() {
            span.set_attribute(KeyValue::new(key, value));
        }
    });
}

tokio::task_local! {
    static REQUEST: Context;
}

/// Runs a request with its trace context (`Decision::start`) at hand: the parent of its
/// statement and Redis spans and the context its outbox rows carry, without a look-up of the
/// request's `tracing` span for each. Only for code that runs in the request span itself.
pub async fn scope<F: Future>(context: Context, future: F) -> F::Output {
    REQUEST.scope(context, future).await
}

/// Runs `f` (a log line written after the request's future) with the request's context at
/// hand, as `scope` does.
pub fn sync_scope<R>(context: &Context, f: impl FnOnce() -> R) -> R {
    REQUEST.sync_scope(context.clone(), f)
}

/// The context of the request running on this task, if any.
pub(super) fn request() -> Option<Context> {
    REQUEST.try_with(Clone::clone).ok()
}

/// The (trace id, span id) of the request running on this task, for its log lines.
pub(super) fn request_ids() -> Option<(TraceId, SpanId)> {
    REQUEST
        .try_with(|cx| {
            let span = cx.span();
            let context = span.span_context();
            context
                .is_valid()
                .then(|| (context.trace_id(), context.span_id()))
        })
        .ok()
        .flatten()
}

/// `traceresponse` (W3C Trace Context level 2) for the request whose context is `cx`: its
/// trace id, its span id and whether it is sampled.
pub fn traceresponse(cx: &Context) -> Option<String> {
    super::propagation::of_context(cx).map(|headers| headers.traceparent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preset_trace_ids_are_used_once() {
        let ids = Ids::default();
        let preset = TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap();
        PRESET.with(|p| p.set(Some(preset)));
        assert_eq!(ids.new_trace_id(), preset);
        assert_ne!(ids.new_trace_id(), preset);
    }

    #[test]
    fn unsampled_traceresponse_says_not_sampled() {
        let context = SpanContext::new(
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
            SpanId::from_hex("00f067aa0ba902b7").unwrap(),
            TraceFlags::default(),
            false,
            TraceState::default(),
        );
        assert_eq!(
            traceresponse(&Context::new().with_remote_span_context(context)).as_deref(),
            Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")
        );
        assert_eq!(traceresponse(&Context::new()), None);
    }
}
