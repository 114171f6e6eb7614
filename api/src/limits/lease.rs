//! Leases: requests an instance may admit without asking Redis, because Redis already
//! counted them. A client seen once asks Redis for one request at a time (exact); a client
//! that used up its lease before it lapsed asks for twice as many next time, up to a
//! twentieth of its burst (at most 64). Leased requests were taken from the shared quota, so
//! the instances together never admit more than the quota allows; a lease not used within
//! `LIFE` lapses, and its requests are lost to the client (it is throttled slightly early,
//! never late). A hot client thus costs one Redis round trip per lease instead of per request.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

/// How long leased requests stay usable.
pub const LIFE: Duration = Duration::from_secs(1);
const MAX_SIZE: u32 = 64;

#[derive(Debug, Clone, Copy)]
struct Lease {
    /// Requests still to admit locally.
    left: u32,
    /// How many were asked for.
    size: u32,
    expires: Instant,
    /// Redis' remaining quota when granted, and its time to full.
    remaining: u32,
    reset: Duration,
    granted_at: Instant,
}

/// A request admitted from a lease: what the `RateLimit-*` fields report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admitted {
    pub remaining: u32,
    pub reset: Duration,
}

#[derive(Default)]
pub struct Leases {
    held: Mutex<HashMap<String, Lease>>,
}

/// The largest lease for a quota of `burst`.
pub fn max_size(burst: u32) -> u32 {
    (burst / 20).clamp(1, MAX_SIZE)
}

impl Leases {
    /// Admits one request of `key` from its lease, if one is held and unexpired.
    pub fn take(&self, key: &str, now: Instant) -> Option<Admitted> {
        let mut held = self.held.lock().expect("lease lock");
        let lease = held.get_mut(key)?;
        if lease.left == 0 || now >= lease.expires {
            return None;
        }
        lease.left -= 1;
        Some(Admitted {
            remaining: lease.remaining + lease.left,
            reset: lease.reset.saturating_sub(now - lease.granted_at),
        })
    }

    /// How many requests to ask Redis for: twice the last lease if it was used up before it
    /// lapsed, else one.
    pub fn next_size(&self, key: &str, burst: u32, now: Instant) -> u32 {
        let held = self.held.lock().expect("lease lock");
        match held.get(key) {
            Some(lease) if lease.left == 0 && now < lease.expires => {
                (lease.size * 2).min(max_size(burst))
            }
            _ => 1,
        }
    }

    /// Records `granted` requests from Redis, one of which the current request uses.
    pub fn granted(
        &self,
        key: &str,
        asked: u32,
        granted: u32,
        remaining: u32,
        reset: Duration,
        now: Instant,
    ) {
        let mut held = self.held.lock().expect("lease lock");
        held.insert(
            key.to_owned(),
            Lease {
                left: granted.saturating_sub(1),
                size: asked,
                expires: now + LIFE,
                remaining,
                reset,
                granted_at: now,
            },
        );
    }

    /// Forgets lapsed leases.
    pub fn forget_expired(&self, now: Instant) {
        let mut held = self.held.lock().expect("lease lock");
        held.retain(|_, lease| now < lease.expires);
        held.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_sizes_grow_while_used_up_and_fall_back_when_they_lapse() {
        let leases = Leases::default();
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let burst = 600; // leases of at most 30
        assert_eq!(
            leases.next_size("k", burst, at(0)),
            1,
            "a new client is exact"
        );
        let (mut size, mut t) = (1, 0);
        for expected in [2, 4, 8, 16, 30, 30] {
            leases.granted("k", size, size, 500, Duration::ZERO, at(t));
            for _ in 1..size {
                assert!(leases.take("k", at(t)).is_some());
            }
            assert_eq!(leases.take("k", at(t)), None, "used up");
            size = leases.next_size("k", burst, at(t));
            assert_eq!(size, expected);
            t += 10;
        }
        // Granted fewer than asked (the quota ran low), then left to lapse: back to one.
        leases.granted("k", size, 3, 0, Duration::ZERO, at(t));
        assert!(leases.take("k", at(t + 999)).is_some());
        assert_eq!(leases.take("k", at(t + 1000)), None, "lapsed");
        assert_eq!(leases.next_size("k", burst, at(t + 1000)), 1);
    }

    #[test]
    fn a_lease_admits_exactly_what_was_granted_and_reports_what_remains() {
        let leases = Leases::default();
        let t0 = Instant::now();
        leases.granted("k", 4, 3, 10, Duration::from_secs(5), t0);
        let admitted: Vec<_> = (0..4).map(|_| leases.take("k", t0)).collect();
        assert_eq!(
            admitted
                .iter()
                .map(|a| a.map(|a| a.remaining))
                .collect::<Vec<_>>(),
            [Some(11), Some(10), None, None],
            "two more after the granting request, then none"
        );
        assert_eq!(leases.take("other", t0), None);
    }

    #[test]
    fn small_quotas_are_never_leased_more_than_one_at_a_time() {
        for (burst, max) in [(1, 1), (3, 1), (39, 1), (40, 2), (600, 30), (1_000_000, 64)] {
            assert_eq!(max_size(burst), max, "burst {burst}");
        }
    }
}
