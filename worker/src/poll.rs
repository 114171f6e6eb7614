//! How often an idle job worker asks Redis for work, and a fix for the lost wake-up of
//! apalis-core 1.0's `IntervalStrategy` (`poll_with_interval`).
//!
//! `IntervalStrategy::poll_drive` replaces its timer when it fires but does not poll the new
//! one, so no wake-up is arranged for the next tick; `PollWith` ignores the `Ready` it returns.
//! When that poll also finds the queue empty and nothing else is pending, nothing ever wakes
//! the worker again: it stops fetching for good, silently. Seen after a Redis stall
//! (`DEBUG SLEEP 3`, scripts/chaos.sh): the fetch in flight during the stall came back empty,
//! both workers stopped while 57 jobs waited. This strategy polls its timer until it is
//! pending, so a wake-up is always arranged. Not reported upstream yet (no access from here):
//! the reproduction is `scripts/chaos.sh --only redis-stall` with `poll_with_interval`.

use apalis::prelude::{PollSnapshot, PollStrategy};
use std::{
    task::{Context, Poll},
    time::Duration,
};
use tokio::time::{Interval, MissedTickBehavior};

pub struct Every {
    interval: Interval,
}

impl Every {
    pub fn new(period: Duration) -> Self {
        let mut interval = tokio::time::interval(period);
        interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Self { interval }
    }
}

impl PollStrategy for Every {
    fn poll_drive(&mut self, cx: &mut Context<'_>, _: &PollSnapshot) -> Poll<Option<()>> {
        let mut fired = false;
        // Consume every due tick; the last poll returns Pending and registers the waker.
        while self.interval.poll_tick(cx).is_ready() {
            fired = true;
        }
        if fired {
            Poll::Ready(Some(()))
        } else {
            Poll::Pending
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    };
    use std::task::{Wake, Waker};

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// After a tick fires, the next one still wakes the task: the contract
    /// `IntervalStrategy` breaks.
    #[tokio::test]
    async fn a_fired_tick_still_arranges_the_next_wake_up() {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let mut every = Every::new(Duration::from_millis(100));
        let snapshot = PollSnapshot::default();
        let _ = every.poll_drive(&mut cx, &snapshot);
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert!(
            count.0.load(Ordering::SeqCst) >= 1,
            "the first tick never woke the task"
        );
        assert!(every.poll_drive(&mut cx, &snapshot).is_ready());
        let before = count.0.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert!(
            count.0.load(Ordering::SeqCst) > before,
            "the tick after was not armed"
        );
    }

    /// apalis' own strategy loses the wake-up after a fired tick (why `Every` exists). When
    /// this fails, upstream is fixed: `poll_with_interval` can come back and `Every` go.
    #[tokio::test]
    async fn apalis_interval_strategy_still_loses_the_wake_up_after_a_fired_tick() {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let mut upstream = apalis::prelude::IntervalStrategy::new(Duration::from_millis(50));
        let snapshot = PollSnapshot::default();
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        while upstream.poll_drive(&mut cx, &snapshot).is_pending() {
            assert!(std::time::Instant::now() < deadline, "never fired");
            tokio::time::sleep(Duration::from_millis(60)).await;
        }
        let before = count.0.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(
            count.0.load(Ordering::SeqCst),
            before,
            "upstream now arms the next tick"
        );
    }
}
