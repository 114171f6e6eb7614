//! W3C trace context across OrderFlow's boundaries: an incoming `traceparent`/`tracestate`
//! continues the client's trace, `traceresponse` answers with the request's own, and job
//! payloads carry the trace of the request (or job) that wrote their outbox row, so that the
//! worker's span continues it.

use opentelemetry::{
    Context,
    propagation::{Extractor, Injector, TextMapPropagator},
    trace::TraceContextExt,
};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use serde::{Deserialize, Serialize};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// A job's trace: where it continues, and when it was put on its Redis queue (set by the
/// dispatcher; the worker's queue-wait span starts there).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceHeaders {
    pub traceparent: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracestate: Option<String>,
    /// Unix milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queued_at_ms: Option<i64>,
}

struct Headers<'a>(&'a mut TraceHeaders);

impl Injector for Headers<'_> {
    fn set(&mut self, key: &str, value: String) {
        match key {
            "traceparent" => self.0.traceparent = value,
            "tracestate" if !value.is_empty() => self.0.tracestate = Some(value),
            _ => {}
        }
    }
}

impl Extractor for &TraceHeaders {
    fn get(&self, key: &str) -> Option<&str> {
        match key {
            "traceparent" => Some(&self.traceparent),
            "tracestate" => self.tracestate.as_deref(),
            _ => None,
        }
    }

    fn keys(&self) -> Vec<&str> {
        vec!["traceparent", "tracestate"]
    }
}

/// The trace context of `cx`, when it has a valid span.
pub fn of_context(cx: &Context) -> Option<TraceHeaders> {
    if !cx.span().span_context().is_valid() {
        return None;
    }
    let mut headers = TraceHeaders {
        traceparent: String::new(),
        tracestate: None,
        queued_at_ms: None,
    };
    TraceContextPropagator::new().inject_context(cx, &mut Headers(&mut headers));
    (!headers.traceparent.is_empty()).then_some(headers)
}

/// The current request's (or span's) trace context, for a job payload (a request left out by
/// the sampler passes on its unsampled context); `None` when tracing is off.
pub fn current() -> Option<TraceHeaders> {
    if !super::enabled() {
        return None;
    }
    of_context(&super::sampling::request().unwrap_or_else(|| tracing::Span::current().context()))
}

/// The remote context in `headers`, when they hold a valid `traceparent` (a malformed one is
/// ignored, as the W3C recommendation asks: the request starts a trace of its own).
pub fn extract(headers: &TraceHeaders) -> Option<Context> {
    let cx = TraceContextPropagator::new().extract(&headers);
    cx.span().span_context().is_valid().then_some(cx)
}

/// Makes `span` continue the trace in `headers` (a no-op when tracing is off or there is
/// none). Call before the span is first entered.
pub fn continue_trace(span: &tracing::Span, headers: Option<&TraceHeaders>) {
    if !super::enabled() {
        return;
    }
    if let Some(cx) = headers.and_then(extract) {
        let _ = span.set_parent(cx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(traceparent: &str) -> TraceHeaders {
        TraceHeaders {
            traceparent: traceparent.into(),
            tracestate: Some("vendor=1".into()),
            queued_at_ms: None,
        }
    }

    #[test]
    fn a_valid_traceparent_round_trips_with_its_state() {
        let incoming = headers("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
        let cx = extract(&incoming).expect("valid");
        assert_eq!(of_context(&cx), Some(incoming));
    }

    #[test]
    fn malformed_or_zero_traceparents_are_ignored() {
        for bad in [
            "",
            "garbage",
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
            "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01x",
        ] {
            assert!(extract(&headers(bad)).is_none(), "{bad:?} accepted");
        }
    }

    #[test]
    fn payloads_without_trace_fields_still_decode() {
        let parsed: TraceHeaders = serde_json::from_str(
            r#"{"traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}"#,
        )
        .unwrap();
        assert_eq!(parsed.tracestate, None);
        assert_eq!(parsed.queued_at_ms, None);
        assert_eq!(
            serde_json::to_string(&parsed).unwrap(),
            r#"{"traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}"#
        );
    }
}
