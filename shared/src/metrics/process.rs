//! The standard `process_*` metrics, read from `/proc` at each scrape (Linux only; elsewhere
//! nothing is recorded). No `unsafe` (the workspace forbids it), so no `sysconf`: CPU times
//! and start time in `/proc` are in USER_HZ, which the Linux ABI fixes at 100 for user space.

use std::fs;

const USER_HZ: f64 = 100.0;

/// Records CPU seconds, memory, threads, file descriptors and start time.
pub fn record() {
    let Ok(stat) = fs::read_to_string("/proc/self/stat") else {
        return;
    };
    if let Some(fields) = stat_fields(&stat) {
        // After the command name: field 3 is index 0, so utime (14) is 11, stime (15) 12,
        // num_threads (20) 17, starttime (22) 19.
        let num = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok());
        if let (Some(user), Some(system)) = (num(11), num(12)) {
            // A gauge holding a running total: the `metrics` counters are whole numbers, CPU
            // time is not; `rate()` treats it the same.
            metrics::gauge!("process_cpu_seconds_total").set((user + system) / USER_HZ);
        }
        if let Some(threads) = num(17) {
            metrics::gauge!("process_threads").set(threads);
        }
        if let (Some(start), Some(boot)) = (num(19), boot_time()) {
            metrics::gauge!("process_start_time_seconds").set(boot + start / USER_HZ);
        }
    }
    if let Ok(status) = fs::read_to_string("/proc/self/status") {
        if let Some(kib) = status_kib(&status, "VmRSS:") {
            metrics::gauge!("process_resident_memory_bytes").set(kib * 1024.0);
        }
        if let Some(kib) = status_kib(&status, "VmSize:") {
            metrics::gauge!("process_virtual_memory_bytes").set(kib * 1024.0);
        }
    }
    if let Ok(fds) = fs::read_dir("/proc/self/fd") {
        metrics::gauge!("process_open_fds").set(fds.count() as f64);
    }
    if let Some(max) = fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|l| max_open_files(&l))
    {
        metrics::gauge!("process_max_fds").set(max);
    }
}

/// The fields after `pid (comm)`; the name may hold spaces and parentheses, so split after
/// the last `)`.
fn stat_fields(stat: &str) -> Option<Vec<&str>> {
    let rest = &stat[stat.rfind(')')? + 1..];
    Some(rest.split_whitespace().collect())
}

fn status_kib(status: &str, key: &str) -> Option<f64> {
    let line = status.lines().find(|l| l.starts_with(key))?;
    line[key.len()..].split_whitespace().next()?.parse().ok()
}

fn boot_time() -> Option<f64> {
    let stat = fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("btime "))?;
    line["btime ".len()..].trim().parse().ok()
}

fn max_open_files(limits: &str) -> Option<f64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_formats() {
        let stat =
            "42 (my (odd) name) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 7 0 1234 0 0";
        let f = stat_fields(stat).unwrap();
        assert_eq!((f[11], f[12], f[17], f[19]), ("250", "50", "7", "1234"));
        assert_eq!(
            status_kib("Name:\tx\nVmRSS:\t  2048 kB\n", "VmRSS:"),
            Some(2048.0)
        );
        assert_eq!(status_kib("Name:\tx\n", "VmRSS:"), None);
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max open files            1024                 524288               files\n";
        assert_eq!(max_open_files(limits), Some(1024.0));
    }

    #[test]
    fn records_this_process() {
        record();
        let text = std::fs::read_to_string("/proc/self/status").unwrap();
        assert!(status_kib(&text, "VmRSS:").unwrap() > 0.0);
    }
}
