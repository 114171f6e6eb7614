//! The standard `process_*` series (CPU seconds, resident and virtual memory, open and
//! maximum file descriptors, threads, start time), read at each scrape by the
//! `metrics-process` crate under the names Prometheus' own clients use, which the dashboards
//! and alerts query.

use std::sync::LazyLock;

static COLLECTOR: LazyLock<metrics_process::Collector> = LazyLock::new(|| {
    let collector = metrics_process::Collector::default();
    collector.describe();
    collector
});

/// Records the process's figures now (called before each render).
pub fn record() {
    COLLECTOR.collect();
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_process_series_have_the_names_the_dashboards_query() {
        // Some CPU time to show (it is counted in 10 ms ticks).
        let busy = std::time::Instant::now();
        let mut x = 0u64;
        while busy.elapsed() < std::time::Duration::from_millis(60) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        let text = super::super::render();
        for series in [
            "process_cpu_seconds_total",
            "process_resident_memory_bytes",
            "process_virtual_memory_bytes",
            "process_open_fds",
            "process_max_fds",
            "process_threads",
            "process_start_time_seconds",
        ] {
            assert!(
                text.lines().any(|l| l.starts_with(&format!("{series} "))),
                "{series} missing from:\n{text}"
            );
        }
        let cpu: f64 = text
            .lines()
            .find_map(|l| l.strip_prefix("process_cpu_seconds_total "))
            .and_then(|v| v.parse().ok())
            .expect("a number");
        assert!(cpu > 0.0, "a gauge of fractional seconds: {cpu}");
    }
}
