//! The soak's checks: the minute sample, the final invariants (every 201 committed once with
//! its items, one confirmation per order), and the report with its verdict.

use orderflow_testkit::smtp::Running;
use std::{
    collections::HashMap,
    fmt::Write,
    time::{Duration, Instant},
};

use super::{
    fleet::Fleet,
    load::Seen,
    report,
    sample::{self, Sample},
    verdict::{self, Event},
};
use crate::stack::{Run, copies};

/// How long the worker gets to send every confirmation after the load stops.
const DRAIN_LIMIT: Duration = Duration::from_secs(300);
/// Copies a lease running out or an orphan re-enqueued would send arrive within this.
const LATE_COPIES: Duration = Duration::from_secs(15);

pub async fn minute(minute: u64, fleet: &Fleet, run: &Run, seen: &Seen) -> Sample {
    let ids: Vec<i64> = seen.created.lock().unwrap().iter().map(|c| c.id).collect();
    Sample {
        minute,
        processes: sample::processes(&fleet.pids()),
        redis_used_memory: sample::redis_used_memory(&run.redis_url).await,
        idle_in_transaction: sample::idle_in_transaction(&fleet.db, &fleet.database).await,
        answered_201: ids.len(),
        missing: sample::missing(&fleet.db, &ids).await,
    }
}

pub fn progress(s: &Sample, seen: &Seen) -> String {
    let requests = seen.records.lock().unwrap().len();
    let rss: Vec<String> = s
        .processes
        .iter()
        .map(|(name, (_, rss, fds))| format!("{name} {} MiB/{fds} fds", rss / 1024))
        .collect();
    format!(
        "minute {}: {requests} requests, {} answered 201, missing {:?}, idle in transaction {:?}, \
         Redis {:?} B; {}",
        s.minute,
        s.answered_201,
        s.missing,
        s.idle_in_transaction,
        s.redis_used_memory,
        rss.join(", ")
    )
}

/// What the end of the run found.
pub struct Finals {
    pub orders_in_database: usize,
    /// Orders answered 201 that are missing, lack items, or carry another key.
    pub lost: Vec<i64>,
    /// Idempotency keys with more than one order.
    pub duplicate_keys: i64,
    /// (orders without a confirmation, with copies under different Message-IDs, extra copies
    /// under the same Message-ID).
    pub emails: (usize, usize, usize),
    pub drained_in: Duration,
}

/// Confirmation Message-IDs per order, parsed incrementally.
#[derive(Default)]
struct Confirmations {
    parsed: usize,
    by_order: HashMap<i64, Vec<String>>,
}

impl Confirmations {
    fn update(&mut self, smtp: &Running) {
        for message in smtp.messages_after(self.parsed) {
            self.parsed += 1;
            let parsed = message.parsed();
            if !parsed.subject().unwrap_or_default().contains("received") {
                continue;
            }
            let order = parsed
                .header_raw("X-OrderFlow-Order-Id")
                .and_then(|v| v.trim().parse().ok());
            if let Some(order) = order {
                let id = parsed.message_id().unwrap_or_default().to_string();
                self.by_order.entry(order).or_default().push(id);
            }
        }
    }
}

pub async fn final_checks(fleet: &Fleet, smtp: &Running, seen: &Seen) -> anyhow::Result<Finals> {
    let created = seen.created.lock().unwrap().clone();
    let ids: Vec<i64> = created.iter().map(|c| c.id).collect();
    let rows: Vec<(i64, Option<String>, i64)> = sqlx::query_as(
        "SELECT o.id, o.notes, (SELECT count(*) FROM order_items i WHERE i.order_id = o.id) \
         FROM orders o WHERE o.id = ANY($1)",
    )
    .bind(&ids)
    .fetch_all(&fleet.db)
    .await?;
    let found: HashMap<i64, (Option<String>, i64)> = rows
        .into_iter()
        .map(|(id, notes, items)| (id, (notes, items)))
        .collect();
    let lost = created
        .iter()
        .filter(|c| match found.get(&c.id) {
            Some((notes, items)) => notes.as_deref() != Some(&c.key) || *items != c.lines as i64,
            None => true,
        })
        .map(|c| c.id)
        .collect();
    let duplicate_keys: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT notes FROM orders WHERE notes IS NOT NULL \
         GROUP BY notes HAVING count(*) > 1) d",
    )
    .fetch_one(&fleet.db)
    .await?;
    let all: Vec<i64> = sqlx::query_scalar("SELECT id FROM orders")
        .fetch_all(&fleet.db)
        .await?;

    let started = Instant::now();
    let mut confirmations = Confirmations::default();
    loop {
        confirmations.update(smtp);
        let missing = all
            .iter()
            .filter(|o| !confirmations.by_order.contains_key(o))
            .count();
        if missing == 0 || started.elapsed() > DRAIN_LIMIT {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let drained_in = started.elapsed();
    tokio::time::sleep(LATE_COPIES).await;
    confirmations.update(smtp);
    Ok(Finals {
        orders_in_database: all.len(),
        lost,
        duplicate_keys,
        emails: copies(&all, &confirmations.by_order),
        drained_in,
    })
}

/// The report's text and the verdict.
pub fn report(
    minutes: u64,
    seen: &Seen,
    samples: &[Sample],
    events: &[Event],
    finals: &Finals,
) -> (String, bool) {
    let records = seen.records.lock().unwrap();
    let created = seen.created.lock().unwrap().len();
    let abandoned = seen.abandoned_keys.lock().unwrap().len();
    let refused = seen.refused.lock().unwrap().clone();
    let unexplained = verdict::unexplained(&records, events).len();
    let idle_max = samples
        .iter()
        .filter_map(|s| s.idle_in_transaction)
        .max()
        .unwrap_or(0);
    let window = verdict::window(minutes);
    let judged = verdict::flatness_judged(minutes);
    // Short runs: the figures, without a verdict.
    let flat = |ok: bool| ok || !judged;

    let mut checks: Vec<(String, bool)> = vec![
        (
            format!(
                "orders answered 201: {created}; missing, without their items or under another \
                 key: {}",
                finals.lost.len()
            ),
            finals.lost.is_empty(),
        ),
        (
            format!(
                "Idempotency-Keys (retried up to 2 minutes, across both instances) with more \
                 than one order: {}",
                finals.duplicate_keys
            ),
            finals.duplicate_keys == 0,
        ),
        (
            format!(
                "orders in the database: {}; without a confirmation: {}; with copies under \
                 different Message-IDs: {}; extra copies under the same Message-ID: {} \
                 (all sent {:.0} s after the load stopped)",
                finals.orders_in_database,
                finals.emails.0,
                finals.emails.1,
                finals.emails.2,
                finals.drained_in.as_secs_f64()
            ),
            finals.emails.0 == 0 && finals.emails.1 == 0,
        ),
        (
            format!("most sessions idle in a transaction for over 5 s in any minute: {idle_max}"),
            idle_max == 0,
        ),
        (
            format!("5xx or missing answers no fault explains: {unexplained}"),
            unexplained == 0,
        ),
        (
            format!(
                "orders refused with another 4xx than 409: {} {:?}",
                refused.len(),
                refused.iter().take(3).collect::<Vec<_>>()
            ),
            refused.is_empty(),
        ),
    ];
    for name in verdict::never_restarted(samples) {
        let value = |i: usize| {
            let name = name.clone();
            move |s: &Sample| {
                s.processes
                    .get(&name)
                    .map(|p| if i == 0 { p.1 as f64 } else { p.2 as f64 })
            }
        };
        if let Some(g) = verdict::growth(samples, minutes, value(0)) {
            checks.push((
                format!(
                    "{name} RSS, first {window} min after a {}-min warm-up vs last {window} min: \
                     {:.1} → {:.1} MiB ({:+.1}%)",
                    verdict::WARM_UP,
                    g.first / 1024.0,
                    g.last / 1024.0,
                    g.percent()
                ),
                flat(g.percent() <= verdict::MAX_RSS_GROWTH_PERCENT),
            ));
        }
        if let Some(g) = verdict::growth(samples, minutes, value(1)) {
            checks.push((
                format!("{name} open fds: {:.1} → {:.1}", g.first, g.last),
                flat(verdict::fds_flat(g)),
            ));
        }
    }
    if let Some(g) = verdict::growth(samples, minutes, |s| s.redis_used_memory.map(|b| b as f64)) {
        checks.push((
            format!(
                "Redis used_memory, first vs last {window} min: {:.1} → {:.1} MiB ({:+.1}%)",
                g.first / 1048576.0,
                g.last / 1048576.0,
                g.percent()
            ),
            flat(g.percent() <= verdict::MAX_RSS_GROWTH_PERCENT),
        ));
    }
    if !judged {
        checks.push((
            format!("memory and descriptors not judged: windows of {window} min are too short"),
            true,
        ));
    }
    let pass = checks.iter().all(|(_, ok)| *ok);

    let mut out = format!(
        "# Soak: {minutes} minutes, 2 API instances, 3 workers\n\n\
         {} requests ({} cut short by their client on purpose); {abandoned} order keys given up \
         after 2 minutes of retries. Verdict: **{}**.\n\n## Checks\n\n| check | result |\n|---|---|\n",
        records.len(),
        records.iter().filter(|r| r.cut).count(),
        if pass { "pass" } else { "FAIL" }
    );
    for (check, ok) in &checks {
        let _ = writeln!(out, "| {check} | {} |", if *ok { "pass" } else { "FAIL" });
    }
    let _ = write!(
        out,
        "\n## Faults\n\n{}\n## 5xx and missing answers\n\n{}\n## Traffic per minute\n\n{}\n\
         ## Resources per minute\n\n{}",
        report::faults(events),
        report::explanations(&records, events),
        report::traffic(&records),
        report::resources(samples)
    );
    (out, pass)
}
