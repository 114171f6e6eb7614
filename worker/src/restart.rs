//! Keeping job workers running across Redis outages, without spinning and without blocking
//! shutdown.
//!
//! An apalis-redis worker stops when Redis is unreachable (apalis-redis #76). apalis' own
//! `Monitor::should_restart` restarts it at once — a hot loop while Redis is down (measured:
//! ~1,400 restarts in 6 s) — and its hook is synchronous, so it cannot wait without starving
//! the monitor, which then never sees the shutdown signal. Instead each queue gets its own
//! monitor, restarted here with an async, escalating delay that the stop signal interrupts.

use apalis::prelude::Monitor;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// A run shorter than this counts towards the failure streak.
const STREAK_WINDOW: Duration = Duration::from_secs(30);
const MAX_DELAY: Duration = Duration::from_secs(5);

/// The pause before the `n`-th consecutive restart: 100 ms, 200 ms, 400 ms … up to 5 s.
pub fn delay(consecutive: u32) -> Duration {
    (Duration::from_millis(100) * 2u32.saturating_pow(consecutive.clamp(1, 16) - 1)).min(MAX_DELAY)
}

/// Runs the monitor `make` builds until `stop` turns true, rebuilding it after failures.
pub async fn supervise(
    queue: &'static str,
    make: impl Fn() -> Monitor,
    stop: watch::Receiver<bool>,
) {
    let mut streak = 0;
    loop {
        let started = Instant::now();
        let mut signal = stop.clone();
        let result = make()
            .run_with_signal(async move {
                let _ = signal.wait_for(|stopping| *stopping).await;
                Ok(())
            })
            .await;
        if *stop.borrow() {
            return;
        }
        streak = if started.elapsed() > STREAK_WINDOW {
            1
        } else {
            streak + 1
        };
        let pause = delay(streak);
        match result {
            Ok(()) => tracing::warn!(queue, ?pause, "job worker ended; restarting"),
            Err(error) => tracing::warn!(queue, %error, ?pause, "job worker failed; restarting"),
        }
        let mut stop = stop.clone();
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            _ = stop.wait_for(|stopping| *stopping) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_delays_double_up_to_a_cap() {
        let ms = Duration::from_millis;
        for (n, expected) in [
            (1, ms(100)),
            (2, ms(200)),
            (3, ms(400)),
            (6, ms(3200)),
            (7, ms(5000)),
            (50, ms(5000)),
        ] {
            assert_eq!(delay(n), expected, "restart {n}");
        }
    }
}
