//! The span exporter: OTLP over HTTP/protobuf or gRPC, configured by the standard variables
//! (`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_PROTOCOL`, `OTEL_EXPORTER_OTLP_TIMEOUT`,
//! `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`,
//! `OTEL_TRACES_SAMPLER`/`_ARG`, `OTEL_BSP_*`), read by the OpenTelemetry SDK itself.
//!
//! Spans are exported in batches from the SDK's own thread: a request or a job only puts its
//! finished spans in a bounded queue, never waits for the collector. A full queue drops the
//! span and a failed export drops its batch; both are counted in
//! `orderflow_trace_spans_total{outcome}`. The SDK's batch processor counts its drops but
//! does not expose the count, so the queue bound is kept here, in front of it.

use anyhow::{Context as _, bail};
use opentelemetry::Context;
use opentelemetry_otlp::SpanExporter as OtlpExporter;
use opentelemetry_sdk::{
    Resource,
    error::OTelSdkResult,
    trace::{
        BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider, Span, SpanData, SpanExporter,
        SpanProcessor,
    },
};
use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

/// The standard variables the OpenTelemetry SDK and this module read (docs/tracing.md).
pub const VARIABLES: &[&str] = &[
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TIMEOUT",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
    "OTEL_BSP_MAX_QUEUE_SIZE",
    "OTEL_BSP_SCHEDULE_DELAY",
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
    "OTEL_BSP_EXPORT_TIMEOUT",
    "OTEL_SDK_DISABLED",
    "OTEL_TRACES_EXPORTER",
];

const OUTCOMES: [&str; 3] = ["exported", "dropped_queue_full", "dropped_export_failed"];

/// Registers `orderflow_trace_spans_total` at 0 for each outcome (with the shared metrics, in
/// both binaries, whether or not traces are exported).
pub fn register_metrics() {
    crate::metrics::zero("orderflow_trace_spans_total", "outcome", &OUTCOMES);
}

fn count(outcome: &'static str, spans: usize) {
    metrics::counter!("orderflow_trace_spans_total", "outcome" => outcome).increment(spans as u64);
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The endpoint when traces are wanted: set, and not switched off by `OTEL_SDK_DISABLED=true`
/// or `OTEL_TRACES_EXPORTER=none`.
fn endpoint() -> Option<String> {
    if var("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true"))
        || var("OTEL_TRACES_EXPORTER").is_some_and(|v| v.eq_ignore_ascii_case("none"))
    {
        return None;
    }
    var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").or_else(|| var("OTEL_EXPORTER_OTLP_ENDPOINT"))
}

/// `grpc` or `http/protobuf` (the default), from the traces-specific variable first.
fn grpc() -> anyhow::Result<bool> {
    let (name, value) = [
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
    ]
    .into_iter()
    .find_map(|name| var(name).map(|v| (name, v)))
    .unwrap_or(("", "http/protobuf".into()));
    match value.trim() {
        "grpc" => Ok(true),
        "http/protobuf" => Ok(false),
        other => bail!("{name}={other:?}: OrderFlow exports with grpc or http/protobuf"),
    }
}

fn usize_var(name: &str, default: usize) -> anyhow::Result<usize> {
    match var(name) {
        None => Ok(default),
        Some(v) => match v.trim().parse::<usize>() {
            Ok(n) if (1..=1_000_000).contains(&n) => Ok(n),
            _ => bail!("{name}={v:?}: expected a whole number from 1 to 1000000"),
        },
    }
}

/// The tracer provider, or `None` when no endpoint is set (no exporter, no per-request cost).
pub fn provider_from_env(service: &'static str) -> anyhow::Result<Option<SdkTracerProvider>> {
    let Some(endpoint) = endpoint() else {
        return Ok(None);
    };
    let exporter = if grpc()? {
        OtlpExporter::builder().with_tonic().build()
    } else {
        OtlpExporter::builder().with_http().build()
    }
    .with_context(|| format!("OTEL_EXPORTER_OTLP_ENDPOINT={endpoint:?}: no OTLP exporter"))?;
    let queue = usize_var("OTEL_BSP_MAX_QUEUE_SIZE", 2048)?;
    let pending = Arc::new(AtomicUsize::new(0));
    // The SDK's own queue is twice ours, so that it never drops a span this one let through.
    let config = BatchConfigBuilder::default()
        .with_max_queue_size(queue * 2)
        .build();
    let batches = BatchSpanProcessor::builder(Counted {
        inner: exporter,
        pending: pending.clone(),
    })
    .with_batch_config(config)
    .build();
    Ok(Some(
        SdkTracerProvider::builder()
            .with_span_processor(Bounded {
                inner: batches,
                pending,
                limit: queue,
            })
            .with_resource(resource(service))
            .with_id_generator(super::sampling::Ids::default())
            .build(),
    ))
}

/// `service.name` from `OTEL_SERVICE_NAME`, else from `OTEL_RESOURCE_ATTRIBUTES`, else the
/// binary's own name; `OTEL_RESOURCE_ATTRIBUTES` adds the rest.
fn resource(service: &'static str) -> Resource {
    let detected = Resource::builder().build();
    let named = detected
        .get(&opentelemetry::Key::from_static_str("service.name"))
        .filter(|name| !name.as_str().starts_with("unknown_service"));
    let builder = Resource::builder().with_attribute(opentelemetry::KeyValue::new(
        "service.version",
        env!("CARGO_PKG_VERSION"),
    ));
    match named {
        Some(name) => builder.with_service_name(name),
        None => builder.with_service_name(service),
    }
    .build()
}

/// Keeps at most `limit` finished spans waiting for export; counts what it drops.
#[derive(Debug)]
struct Bounded {
    inner: BatchSpanProcessor,
    pending: Arc<AtomicUsize>,
    limit: usize,
}

impl SpanProcessor for Bounded {
    fn on_start(&self, span: &mut Span, cx: &Context) {
        self.inner.on_start(span, cx);
    }

    fn on_end(&self, span: SpanData) {
        if self.pending.fetch_add(1, Ordering::AcqRel) >= self.limit {
            self.pending.fetch_sub(1, Ordering::AcqRel);
            count("dropped_queue_full", 1);
            return;
        }
        self.inner.on_end(span);
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// The OTLP exporter, counting what it exports and what it fails to.
#[derive(Debug)]
struct Counted<E> {
    inner: E,
    pending: Arc<AtomicUsize>,
}

impl<E: SpanExporter> SpanExporter for Counted<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let spans = batch.len();
        self.pending.fetch_sub(spans, Ordering::AcqRel);
        let result = self.inner.export(batch).await;
        match &result {
            Ok(()) => count("exported", spans),
            Err(_) => count("dropped_export_failed", spans),
        }
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}
