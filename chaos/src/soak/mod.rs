//! The soak: two API instances and three workers (release binaries) on their own PostgreSQL
//! cluster, Redis and SMTP server, under a steady mixed load for N minutes while faults
//! happen on a schedule (`schedule.rs`); every minute it samples memory, descriptors, Redis,
//! leaked sessions and lost orders; at the end it checks every order and email and writes
//! `target/soak/report.md`. Its verdict is false on any loss, duplicate, leak or unexplained
//! 5xx.

pub mod fleet;
pub mod load;
pub mod report;
pub mod sample;
pub mod schedule;
pub mod verdict;

mod checks;
mod seed;

use anyhow::Context;
use orderflow_testkit::smtp::SmtpServer;
use std::{
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};
use tokio::sync::watch;

use crate::stack::Run;
use fleet::Fleet;
use schedule::Fault;
use verdict::Event;

pub struct Options {
    pub minutes: u64,
    pub run: Run,
    pub out_dir: PathBuf,
}

/// Runs the soak; `Ok(true)` when every check passed.
pub async fn run(options: Options) -> anyhow::Result<bool> {
    let Options {
        minutes,
        run,
        out_dir,
    } = options;
    let smtp = SmtpServer::start().await;
    eprintln!("[soak] starting 2 API instances and 3 workers");
    let mut fleet = Fleet::start(&run, smtp.port(), 2, 3).await?;
    let cast = seed::cast(&fleet.api_urls()).await?;
    let seen = Arc::new(load::Seen::default());
    let started = Instant::now();
    let (stop, stopped) = watch::channel(false);
    let tasks = load::start(cast, seen.clone(), stopped, started);

    let plan = schedule::plan(minutes);
    let end = Duration::from_secs(minutes * 60);
    let (mut events, mut samples) = (Vec::<Event>::new(), Vec::new());
    let (mut next_fault, mut next_minute) = (0, 0u64);
    let (mut kills_of_workers, mut smtp_refusal) = (0usize, None::<usize>);
    loop {
        let now = started.elapsed();
        if now.as_secs() >= next_minute * 60 {
            let s = checks::minute(next_minute, &fleet, &run, &seen).await;
            eprintln!("[soak] {}", checks::progress(&s, &seen));
            samples.push(s);
            next_minute += 1;
        }
        if now >= end {
            break;
        }
        if let Some(i) = smtp_refusal
            && started.elapsed() >= events[i].to
        {
            smtp.refuse_connections(false);
            smtp_refusal = None;
        }
        while next_fault < plan.len() && plan[next_fault].0 <= now {
            let fault = plan[next_fault].1;
            next_fault += 1;
            eprintln!("[soak] {:?}: {}", now, fault.name());
            let from = started.elapsed();
            let target = match fault {
                Fault::KillWorker => {
                    // Workers 1 and 2; worker 3 runs from start to end.
                    let i = kills_of_workers % 2;
                    kills_of_workers += 1;
                    fleet.workers[i].kill().await;
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    fleet.fill_worker(i).await?;
                    Some(i)
                }
                Fault::KillApi => {
                    // API 2; API 1 runs from start to end.
                    fleet.apis[1].kill().await;
                    tokio::time::sleep(Duration::from_secs(3)).await;
                    fleet.fill_api(1).await?;
                    Some(1)
                }
                Fault::RestartRedis => {
                    tokio::task::block_in_place(|| {
                        let mut redis = run.redis.lock().unwrap();
                        redis.down();
                        redis.up()
                    })?;
                    None
                }
                Fault::RestartPostgres => {
                    tokio::task::block_in_place(|| run.postgres("restart"))?;
                    None
                }
                Fault::RefuseSmtp(_) => {
                    smtp.refuse_connections(true);
                    smtp_refusal = Some(events.len());
                    None
                }
            };
            let to = match fault {
                Fault::RefuseSmtp(d) => from + d,
                _ => started.elapsed(),
            };
            events.push(Event {
                fault,
                target,
                from,
                to,
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    smtp.refuse_connections(false);
    let _ = stop.send(true);
    for task in tasks {
        let _ = task.await;
    }
    eprintln!("[soak] load stopped; waiting for every order's confirmation");
    let finals = checks::final_checks(&fleet, &smtp, &seen).await?;
    let (text, pass) = checks::report(minutes, &seen, &samples, &events, &finals);
    std::fs::create_dir_all(&out_dir)?;
    std::fs::write(out_dir.join("report.md"), &text).context("writing the report")?;
    println!("{text}");
    fleet.finish(&run.pg_base).await?;
    Ok(pass)
}
