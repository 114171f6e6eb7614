//! Logs and traces for both binaries: JSON lines in production, pretty output in development,
//! and, when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, OpenTelemetry spans exported over OTLP
//! (docs/tracing.md lists every span and attribute).
//!
//! - `export.rs`: the exporter, its bounded queue and the span counters;
//! - `log_line.rs`: `trace_id` and `span_id` on every JSON line inside a span;
//! - `propagation.rs`: W3C trace context in and out (HTTP headers, job payloads);
//! - `spans.rs`: spans with timestamps of their own (the outbox and queue waits) and the
//!   labels of database statements.

mod export;
mod log_line;
pub mod propagation;
pub mod sampling;
pub mod spans;

use crate::settings::LogFormat;
use opentelemetry_sdk::trace::SdkTracerProvider;
use std::sync::atomic::{AtomicBool, Ordering};
use tracing_subscriber::{EnvFilter, Layer, fmt, layer::SubscriberExt, util::SubscriberInitExt};

pub use export::{VARIABLES, register_metrics};
pub use propagation::TraceHeaders;

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Whether spans are exported: instrumentation that costs anything checks this first, so a
/// process without an OTLP endpoint does no tracing work at all.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Sets an attribute on `span`'s OpenTelemetry span only (the logs do not see it, and it costs
/// no re-formatting of the span's log fields); nothing when traces are off.
pub fn set_attribute(
    span: &tracing::Span,
    key: &'static str,
    value: impl Into<opentelemetry::Value>,
) {
    if enabled() {
        use tracing_opentelemetry::OpenTelemetrySpanExt;
        span.set_attribute(key, value);
    }
}

/// Marks `span` failed in its trace (nothing when traces are off).
pub fn set_error(span: &tracing::Span) {
    if enabled() {
        use tracing_opentelemetry::OpenTelemetrySpanExt;
        span.set_status(opentelemetry::trace::Status::error(""));
    }
}

/// Whether spans of this callsite go to the OpenTelemetry layer: OrderFlow's own, at INFO or
/// above, made with an `otel.kind`.
fn exported(meta: &tracing::Metadata<'_>) -> bool {
    meta.is_span()
        && *meta.level() <= tracing::Level::INFO
        && meta.target().starts_with("orderflow_")
        && meta.fields().field("otel.kind").is_some()
}

/// The process's tracing; `shutdown` exports what is still queued (bounded by the export
/// timeout) before the process exits.
#[must_use = "call shutdown() before exiting, or queued spans are lost"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    pub fn shutdown(self) {
        if let Some(provider) = self.provider
            && let Err(e) = provider.shutdown()
        {
            tracing::warn!(error = %e, "spans not exported at shutdown");
        }
    }
}

/// Installs the global subscriber. `RUST_LOG` overrides `default_filter`. `service` is the
/// default `service.name` (`OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES` override it).
/// Refuses a malformed OTLP setting, naming the variable. Safe to call more than once
/// (tests): later calls install nothing.
pub fn init(
    format: LogFormat,
    default_filter: &str,
    service: &'static str,
) -> anyhow::Result<Telemetry> {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let provider = export::provider_from_env(service)?;
    let otel = provider.as_ref().map(|provider| {
        use opentelemetry::trace::TracerProvider;
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("orderflow"))
            // Per span only what docs/tracing.md lists: no source location, thread, target
            // or busy/idle times (timed on every poll of a request's future), and no
            // OpenTelemetry context attached on every poll (spans find their parents through
            // `tracing`; nothing here reads `Context::current()`).
            .with_location(false)
            .with_threads(false)
            .with_target(false)
            .with_level(false)
            .with_tracked_inactivity(false)
            .with_context_activation(false)
            // Only OrderFlow's own spans, and no events: log lines stay in the logs (joined to
            // spans by `trace_id`), so no message, error text or address is copied into a
            // span, and spans of libraries (apalis, hyper, h2) do not start traces of their own.
            // A static filter with a level hint: without the hint the process's maximum level
            // would become TRACE, and every `debug!`/`trace!` (and `log` record) of every
            // crate would pass the static level check.
            // OrderFlow's spans made for traces are the ones with an `otel.kind` (a request
            // left out by the sampler has a plain span without one), decided once per callsite.
            .with_filter(
                tracing_subscriber::filter::DynFilterFn::new(|meta, _| exported(meta))
                    .with_callsite_filter(|meta| {
                        if exported(meta) {
                            tracing::subscriber::Interest::always()
                        } else {
                            tracing::subscriber::Interest::never()
                        }
                    })
                    .with_max_level_hint(tracing::level_filters::LevelFilter::INFO),
            )
    });
    let traced = otel.is_some();
    let registry = tracing_subscriber::registry().with(filter).with(otel);
    let json = || {
        fmt::layer()
            .fmt_fields(fmt::format::JsonFields::new())
            // What `fmt::layer().json()` sets: no ANSI, hence no escaping of every field.
            .with_ansi(false)
            .event_format(log_line::WithTraceIds::new(
                fmt::format()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false),
                traced,
            ))
    };
    let installed = match format {
        LogFormat::Json => registry.with(json()).try_init(),
        LogFormat::Pretty => registry.with(fmt::layer()).try_init(),
    };
    let Some(provider) = provider else {
        return Ok(Telemetry { provider: None });
    };
    if installed.is_err() {
        // Another subscriber was first (a test process): it would not export these spans.
        let _ = provider.shutdown();
        return Ok(Telemetry { provider: None });
    }
    log_line::remember_dispatch();
    sampling::init();
    {
        use opentelemetry::trace::TracerProvider;
        spans::set_tracer(provider.tracer("orderflow"));
    }
    opentelemetry::global::set_tracer_provider(provider.clone());
    ENABLED.store(true, Ordering::Relaxed);
    Ok(Telemetry {
        provider: Some(provider),
    })
}
