//! What to do after a job attempt fails: retry after an exponential, jittered delay, or give up.

use std::time::Duration;

/// How a failure is classified by the handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// Worth retrying: SMTP 4xx or unreachable, database timeout, job timeout.
    Transient,
    /// Retrying cannot help: recipient rejected (SMTP 5xx), malformed payload.
    Permanent,
    /// Not a failure: another attempt of the same work holds it until this has passed (an
    /// email claimed by a worker that is sending it, or died doing so). Such an attempt
    /// is not counted and always comes back, never dead.
    HeldElsewhere(Duration),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextStep {
    RetryIn(Duration),
    Dead,
}

#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base: Duration,
    pub cap: Duration,
}

impl RetryPolicy {
    /// The delay before attempt `attempt + 1`: `min(cap, base × 2^(attempt-1))`, of which the
    /// upper half is randomised by `jitter` ∈ [0, 1) ("equal jitter"), so retries of many jobs
    /// failing together spread out.
    pub fn backoff(&self, attempt: u32, jitter: f64) -> Duration {
        let exp = attempt.saturating_sub(1).min(30);
        let full = self.base.saturating_mul(1u32 << exp).min(self.cap);
        let half = full / 2;
        half + half.mul_f64(jitter.clamp(0.0, 1.0))
    }

    /// After failed attempt number `attempt` (1-based).
    pub fn after_failure(&self, kind: FailureKind, attempt: u32, jitter: f64) -> NextStep {
        match kind {
            FailureKind::HeldElsewhere(wait) => NextStep::RetryIn(wait),
            FailureKind::Permanent => NextStep::Dead,
            FailureKind::Transient if attempt >= self.max_attempts => NextStep::Dead,
            FailureKind::Transient => NextStep::RetryIn(self.backoff(attempt, jitter)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: RetryPolicy = RetryPolicy {
        max_attempts: 8,
        base: Duration::from_secs(2),
        cap: Duration::from_secs(600),
    };

    #[test]
    fn backoff_doubles_from_base_up_to_the_cap_with_jitter_in_the_upper_half() {
        let s = Duration::from_secs;
        for (attempt, low, high) in [
            (1, s(1), s(2)),
            (2, s(2), s(4)),
            (3, s(4), s(8)),
            (8, s(128), s(256)),
            (9, s(256), s(512)),
            (10, s(300), s(600)),
            (40, s(300), s(600)),
        ] {
            assert_eq!(POLICY.backoff(attempt, 0.0), low, "attempt {attempt}");
            assert!(POLICY.backoff(attempt, 0.999) <= high, "attempt {attempt}");
            assert!(POLICY.backoff(attempt, 0.999) > low, "attempt {attempt}");
        }
    }

    #[test]
    fn permanent_failures_and_the_last_attempt_are_dead() {
        use FailureKind::*;
        for (kind, attempt, dead) in [
            (Transient, 1, false),
            (Transient, 7, false),
            (Transient, 8, true),
            (Transient, 9, true),
            (Permanent, 1, true),
            (HeldElsewhere(Duration::from_secs(3)), 1, false),
            (HeldElsewhere(Duration::from_secs(3)), 8, false),
            (HeldElsewhere(Duration::from_secs(3)), 80, false),
        ] {
            let step = POLICY.after_failure(kind, attempt, 0.5);
            assert_eq!(step == NextStep::Dead, dead, "{kind:?} #{attempt}");
        }
    }

    #[test]
    fn work_held_elsewhere_comes_back_when_the_hold_ends() {
        let wait = Duration::from_millis(4_250);
        assert_eq!(
            POLICY.after_failure(FailureKind::HeldElsewhere(wait), 8, 0.9),
            NextStep::RetryIn(wait)
        );
    }
}
