//! `target/soak/report.md`: per-minute traffic, p99 per route, resources, the faults, and the
//! checks with their verdicts.

use std::{collections::BTreeMap, fmt::Write, time::Duration};

use super::{
    load::Record,
    sample::Sample,
    verdict::{self, Event},
};

/// The routes the load uses, in table order.
pub const ROUTES: [&str; 7] = [
    "POST /orders",
    "GET /orders/{id}",
    "GET /orders",
    "GET /orders/summary",
    "GET /products",
    "PATCH /orders/{id}/status",
    "POST /auth/login",
];

fn mmss(d: Duration) -> String {
    format!("{:02}:{:02}", d.as_secs() / 60, d.as_secs() % 60)
}

fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

/// Requests per minute by outcome, and p99 per route (requests the client cut short left out).
pub fn traffic(records: &[Record]) -> String {
    let mut by_minute: BTreeMap<u64, Vec<&Record>> = BTreeMap::new();
    for r in records {
        by_minute.entry(r.at.as_secs() / 60).or_default().push(r);
    }
    let mut out = String::from(
        "| minute | requests | 2xx | 4xx | 503 | other 5xx | no answer | cut by the client |",
    );
    for route in ROUTES {
        let _ = write!(out, " p99 {route} (ms) |");
    }
    out.push_str("\n|---|---|---|---|---|---|---|---|");
    out.push_str(&"---|".repeat(ROUTES.len()));
    out.push('\n');
    for (minute, rs) in &by_minute {
        let count = |f: &dyn Fn(&Record) -> bool| rs.iter().filter(|r| f(r)).count();
        let _ = write!(
            out,
            "| {minute} | {} | {} | {} | {} | {} | {} | {} |",
            rs.len(),
            count(&|r| r.status.is_some_and(|s| (200..300).contains(&s))),
            count(&|r| r.status.is_some_and(|s| (400..500).contains(&s))),
            count(&|r| r.status == Some(503)),
            count(&|r| r.status.is_some_and(|s| s >= 500 && s != 503)),
            count(&|r| r.status.is_none() && !r.cut),
            count(&|r| r.cut),
        );
        for route in ROUTES {
            let took = rs
                .iter()
                .filter(|r| r.route == route && !r.cut && r.status.is_some())
                .map(|r| r.took)
                .collect();
            match verdict::p99(took) {
                Some(p) => {
                    let _ = write!(out, " {:.0} |", p.as_secs_f64() * 1000.0);
                }
                None => out.push_str(" – |"),
            }
        }
        out.push('\n');
    }
    out
}

/// One row per minute: each process's RSS (MiB) and descriptors, Redis memory, leaked
/// sessions, and the 201s not in the database.
pub fn resources(samples: &[Sample]) -> String {
    let names: Vec<String> = samples
        .iter()
        .flat_map(|s| s.processes.keys().cloned())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut out = String::from("| minute |");
    for name in &names {
        let _ = write!(out, " {name} RSS MiB / fds |");
    }
    out.push_str(" Redis MiB | idle in transaction > 5 s | 201s so far | 201s missing |\n|---|");
    out.push_str(&"---|".repeat(names.len() + 4));
    out.push('\n');
    for s in samples {
        let _ = write!(out, "| {} |", s.minute);
        for name in &names {
            match s.processes.get(name) {
                Some((starts, rss, fds)) => {
                    let restarted = if *starts > 1 {
                        format!(" (#{starts})")
                    } else {
                        String::new()
                    };
                    let _ = write!(out, " {} / {fds}{restarted} |", mib(*rss));
                }
                None => out.push_str(" down |"),
            }
        }
        let opt = |v: Option<String>| v.unwrap_or_else(|| "no answer".into());
        let _ = writeln!(
            out,
            " {} | {} | {} | {} |",
            opt(s.redis_used_memory.map(|b| mib(b / 1024))),
            opt(s.idle_in_transaction.map(|n| n.to_string())),
            s.answered_201,
            opt(s.missing.map(|n| n.to_string())),
        );
    }
    out
}

pub fn faults(events: &[Event]) -> String {
    let mut out = String::from("| at | fault | target | over after |\n|---|---|---|---|\n");
    for e in events {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.1} s |",
            mmss(e.from),
            e.fault.name(),
            e.target.map_or("–".into(), |t| format!("#{}", t + 1)),
            (e.to - e.from).as_secs_f64()
        );
    }
    out
}

/// Every 5xx and every missing answer, grouped by what explains it.
pub fn explanations(records: &[Record], events: &[Event]) -> String {
    let mut groups: BTreeMap<String, usize> = BTreeMap::new();
    for r in records
        .iter()
        .filter(|r| !r.cut && r.status.is_none_or(|s| s >= 500))
    {
        let why = verdict::explanation(r, events).unwrap_or("UNEXPLAINED");
        let what = r.status.map_or("no answer".to_string(), |s| s.to_string());
        *groups.entry(format!("{what} | {why}")).or_default() += 1;
    }
    let mut out = String::from("| status | explained by | requests |\n|---|---|---|\n");
    if groups.is_empty() {
        out.push_str("| – | none happened | 0 |\n");
    }
    for (group, n) in groups {
        let _ = writeln!(out, "| {group} | {n} |");
    }
    for r in verdict::unexplained(records, events).iter().take(20) {
        let _ = writeln!(
            out,
            "\nunexplained: at {} {} on API #{} → {:?} after {:.0} ms",
            mmss(r.at),
            r.route,
            r.api + 1,
            r.status,
            r.took.as_secs_f64() * 1000.0
        );
    }
    out
}
