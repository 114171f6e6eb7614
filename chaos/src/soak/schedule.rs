//! When each fault happens during the soak: at fixed fractions of the run, so a 5-minute look
//! and the hour meet the same faults in the same order.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// SIGKILL a worker; a new one takes its slot 2 s later.
    KillWorker,
    /// SIGKILL an API instance; it is started again 3 s later on the same port.
    KillApi,
    /// Redis stopped (SIGTERM, append-only file kept) and started again.
    RestartRedis,
    /// `pg_ctlcluster … restart -m fast` on the soak's own cluster.
    RestartPostgres,
    /// The SMTP server refuses every session (421) for a while.
    RefuseSmtp(Duration),
}

impl Fault {
    pub fn name(self) -> &'static str {
        match self {
            Fault::KillWorker => "worker SIGKILLed and replaced",
            Fault::KillApi => "API instance SIGKILLed and restarted",
            Fault::RestartRedis => "Redis restarted",
            Fault::RestartPostgres => "PostgreSQL restarted",
            Fault::RefuseSmtp(_) => "SMTP refusing",
        }
    }
}

/// (when, what) for a run of `minutes`, in order.
pub fn plan(minutes: u64) -> Vec<(Duration, Fault)> {
    let run = Duration::from_secs(minutes * 60);
    // A minute of refusals in the hour; a tenth of the run in a short look.
    let refusal = Duration::from_secs(60).min(run / 10);
    let mut plan: Vec<(Duration, Fault)> = [
        (0.10, Fault::KillWorker),
        (0.20, Fault::KillApi),
        (0.30, Fault::RestartRedis),
        (0.40, Fault::RestartPostgres),
        (0.47, Fault::RefuseSmtp(refusal)),
        (0.55, Fault::KillWorker),
        (0.65, Fault::KillApi),
        (0.75, Fault::RestartRedis),
        (0.85, Fault::RestartPostgres),
    ]
    .into_iter()
    .map(|(at, fault)| {
        (
            Duration::from_secs((run.as_secs_f64() * at).round() as u64),
            fault,
        )
    })
    .collect();
    plan.sort_by_key(|(at, _)| *at);
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fault_happens_twice_inside_the_run_and_smtp_refuses_for_a_minute_in_the_hour() {
        for minutes in [5, 60] {
            let plan = plan(minutes);
            let run = Duration::from_secs(minutes * 60);
            assert!(plan.iter().all(|(at, _)| *at < run));
            for fault in [
                Fault::KillWorker,
                Fault::KillApi,
                Fault::RestartRedis,
                Fault::RestartPostgres,
            ] {
                assert_eq!(plan.iter().filter(|(_, f)| *f == fault).count(), 2);
            }
        }
        assert!(plan(60).contains(&(
            Duration::from_secs(1692),
            Fault::RefuseSmtp(Duration::from_secs(60))
        )));
        assert!(
            plan(5)
                .iter()
                .any(|(_, f)| *f == Fault::RefuseSmtp(Duration::from_secs(30)))
        );
    }
}
