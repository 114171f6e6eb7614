//! The soak's judgement: losses, duplicates, leaks, and an explanation for every 5xx and
//! every request left without an answer.

use std::time::Duration;

use super::{load::Record, sample::Sample, schedule::Fault};

/// A fault as it happened: (what, when it started, when it was over), times since the start.
#[derive(Debug, Clone)]
pub struct Event {
    pub fault: Fault,
    /// Which instance it hit (API or worker index), when it hit one.
    pub target: Option<usize>,
    pub from: Duration,
    pub to: Duration,
}

/// How long after a PostgreSQL restart 503s still count as its doing (the pool replaces the
/// connections the restart ended).
const PG_GRACE: Duration = Duration::from_secs(15);
/// How long after an API instance is back requests to it may still find it gone.
const API_GRACE: Duration = Duration::from_secs(2);

/// Why a 5xx or a missing answer happened, if a fault explains it.
pub fn explanation(record: &Record, events: &[Event]) -> Option<&'static str> {
    let during =
        |e: &Event, grace: Duration| record.at + record.took >= e.from && record.at <= e.to + grace;
    events.iter().find_map(|e| match (e.fault, record.status) {
        (Fault::RestartPostgres, Some(503)) if during(e, PG_GRACE) => {
            Some("503 during a PostgreSQL restart")
        }
        (Fault::KillApi, None) if e.target == Some(record.api) && during(e, API_GRACE) => {
            Some("no answer from a SIGKILLed API instance")
        }
        _ => None,
    })
}

/// Requests that need an explanation (5xx, or no answer without the client cutting them
/// short) and have none.
pub fn unexplained<'a>(records: &'a [Record], events: &[Event]) -> Vec<&'a Record> {
    records
        .iter()
        .filter(|r| !r.cut && r.status.is_none_or(|s| s >= 500))
        .filter(|r| explanation(r, events).is_none())
        .collect()
}

/// Minutes left out at the start (processes, caches and Redis' retained jobs fill up).
pub const WARM_UP: u64 = 2;

/// The window the flatness checks compare: 10 minutes, or a third of a shorter run (after
/// the warm-up).
pub fn window(minutes: u64) -> u64 {
    10.min(minutes.saturating_sub(WARM_UP) / 3).max(1)
}

/// Flatness is judged on 10-minute windows only; a shorter run reports the figures.
pub fn flatness_judged(minutes: u64) -> bool {
    window(minutes) == 10
}

/// A resource's growth from the first window to the last: (first mean, last mean).
#[derive(Debug, Clone, Copy)]
pub struct Growth {
    pub first: f64,
    pub last: f64,
}

impl Growth {
    pub fn percent(self) -> f64 {
        if self.first <= 0.0 {
            return 0.0;
        }
        (self.last - self.first) * 100.0 / self.first
    }
}

/// The mean of `value` over the first window of samples after the warm-up and over the last
/// window, or `None` when a window has no value.
pub fn growth(
    samples: &[Sample],
    minutes: u64,
    value: impl Fn(&Sample) -> Option<f64>,
) -> Option<Growth> {
    let w = window(minutes);
    let mean = |range: std::ops::Range<u64>| {
        let values: Vec<f64> = samples
            .iter()
            .filter(|s| range.contains(&s.minute))
            .filter_map(&value)
            .collect();
        (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
    };
    let last_minute = samples.iter().map(|s| s.minute).max()?;
    Some(Growth {
        first: mean(WARM_UP..WARM_UP + w)?,
        last: mean(last_minute + 1 - w..last_minute + 1)?,
    })
}

/// Slots that ran as one process from start to end (their memory is comparable).
pub fn never_restarted(samples: &[Sample]) -> Vec<String> {
    let Some(last) = samples.last() else {
        return Vec::new();
    };
    last.processes
        .iter()
        .filter(|(name, (starts, ..))| {
            *starts == 1
                && samples
                    .iter()
                    .all(|s| s.processes.get(*name).is_some_and(|p| p.0 == 1))
        })
        .map(|(name, _)| name.clone())
        .collect()
}

/// Memory may grow this much from the first window to the last.
pub const MAX_RSS_GROWTH_PERCENT: f64 = 10.0;
/// Open descriptors may grow by this much (pooled connections come and go by a few).
pub fn fds_flat(g: Growth) -> bool {
    g.last <= g.first * 1.1 || g.last - g.first <= 8.0
}

/// p99 of `took`, or `None` for none.
pub fn p99(mut took: Vec<Duration>) -> Option<Duration> {
    if took.is_empty() {
        return None;
    }
    took.sort();
    Some(took[(took.len() * 99).div_ceil(100) - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(at_s: u64, api: usize, status: Option<u16>) -> Record {
        Record {
            at: Duration::from_secs(at_s),
            route: "POST /orders",
            api,
            status,
            cut: false,
            took: Duration::from_millis(100),
        }
    }

    #[test]
    fn only_a_fault_that_causes_it_explains_a_failure() {
        let events = [
            Event {
                fault: Fault::RestartPostgres,
                target: None,
                from: Duration::from_secs(100),
                to: Duration::from_secs(104),
            },
            Event {
                fault: Fault::KillApi,
                target: Some(1),
                from: Duration::from_secs(200),
                to: Duration::from_secs(203),
            },
        ];
        let cases = [
            (record(102, 0, Some(503)), true),
            (record(118, 0, Some(503)), true),
            (record(125, 0, Some(503)), false),
            (record(102, 0, Some(500)), false),
            (record(201, 1, None), true),
            (record(201, 0, None), false),
            (record(50, 0, Some(503)), false),
        ];
        for (r, explained) in cases {
            assert_eq!(explanation(&r, &events).is_some(), explained, "{r:?}");
        }
        let mut cut = record(50, 0, None);
        cut.cut = true;
        assert!(unexplained(&[cut], &events).is_empty());
    }

    #[test]
    fn growth_compares_the_first_and_last_windows_without_the_warm_up() {
        let samples: Vec<Sample> = (0..=60)
            .map(|m| Sample {
                minute: m,
                redis_used_memory: Some(if m < WARM_UP { 1 } else { 100 + m }),
                ..Sample::default()
            })
            .collect();
        let g = growth(&samples, 60, |s| s.redis_used_memory.map(|v| v as f64)).unwrap();
        assert_eq!(g.first, 106.5);
        assert_eq!(g.last, 155.5);
        assert!(flatness_judged(60) && flatness_judged(32) && !flatness_judged(5));
    }
}
