//! The Prometheus recorder both binaries install, and the metrics they share. Each serves
//! `render()` on its own metrics listener. Every name is listed in docs/metrics.md.

pub mod process;
pub mod sampler;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Latency buckets in seconds: 1 ms to 10 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// How often histogram samples are folded into their buckets when nothing scrapes.
const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Installs the global recorder once per process (tests start many apps in one process) and
/// returns the handle that renders the exposition text.
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .expect("buckets are not empty")
                .build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (e.g. by a test harness); the handle
            // then renders nothing, which is harmless.
            let _ = metrics::set_global_recorder(recorder);
            // Histogram samples pile up in memory until something drains them into their
            // buckets: a scrape does, and so must this when nothing scrapes (`build_recorder`
            // starts no upkeep of its own). Without it the API grew by ~8 bytes per request.
            let upkeep = handle.clone();
            let _ = std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(UPKEEP_EVERY);
                        upkeep.run_upkeep();
                    }
                });
            handle
        })
        .clone()
}

/// The exposition text, with the process metrics read just before.
pub fn render() -> String {
    let handle = install();
    process::record();
    handle.render()
}

/// `orderflow_build_info{binary, version, commit} 1`.
pub fn build_info(binary: &'static str) {
    metrics::gauge!(
        "orderflow_build_info",
        "binary" => binary,
        "version" => env!("CARGO_PKG_VERSION"),
        "commit" => env!("ORDERFLOW_COMMIT")
    )
    .set(1.0);
}

/// Counts a Redis command that failed or timed out. `component`: a fixed name (docs/metrics.md).
pub fn redis_error(component: &'static str) {
    metrics::counter!("orderflow_redis_errors_total", "component" => component).increment(1);
}

/// Creates each series of the given label values at 0, so that every series a dashboard or an
/// alert asks for exists from the start: `rate()` answers 0 rather than nothing, and a
/// renamed metric shows up as missing in the monitoring test instead of hiding behind
/// "no data".
pub fn zero(name: &'static str, label: &'static str, values: &[&'static str]) {
    for value in values {
        metrics::counter!(name, label => *value).absolute(0);
    }
}

/// The counters both binaries share, at 0.
pub fn register_shared() {
    metrics::counter!("orderflow_db_pool_acquire_timeouts_total").absolute(0);
    crate::db::pool::register_metrics();
    metrics::counter!("orderflow_outbox_dispatched_total").absolute(0);
    for entity in ["order", "product"] {
        for outcome in ["hit", "miss", "error", "bypass"] {
            metrics::counter!("orderflow_cache_requests_total", "entity" => entity, "outcome" => outcome)
                .absolute(0);
        }
        for outcome in ["done", "deferred"] {
            metrics::counter!("orderflow_cache_invalidations_total", "entity" => entity, "outcome" => outcome)
                .absolute(0);
        }
    }
    zero("orderflow_redis_errors_total", "component", &["cache"]);
    crate::telemetry::register_metrics();
}
