//! The lockout in this instance's memory, for while Redis does not answer: the same rules
//! (`domain::lockout`), counted per instance.

use orderflow_shared::{domain::lockout, settings::LockoutSettings};
use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use super::STALE;

/// Pairs and accounts kept at most; beyond this, the forgotten ones go first, then all.
const MAX_ENTRIES: usize = 100_000;

#[derive(Default)]
struct Pair {
    failures: u32,
    locked_until: Option<Instant>,
    in_flight: Vec<(String, Instant)>,
    last: Option<Instant>,
}

#[derive(Default)]
struct State {
    pairs: HashMap<(String, String), Pair>,
    /// Account failures and the last one.
    accounts: HashMap<String, (u32, Instant)>,
}

pub struct Local {
    settings: LockoutSettings,
    state: Mutex<State>,
}

impl Local {
    pub fn new(settings: LockoutSettings) -> Self {
        Self {
            settings,
            state: Mutex::new(State::default()),
        }
    }

    fn trim(&self, state: &mut State, now: Instant) {
        if state.pairs.len() + state.accounts.len() < MAX_ENTRIES {
            return;
        }
        let window = self.settings.window;
        state
            .pairs
            .retain(|_, p| p.last.is_some_and(|t| now.duration_since(t) < window));
        state
            .accounts
            .retain(|_, (_, t)| now.duration_since(*t) < window);
        if state.pairs.len() + state.accounts.len() >= MAX_ENTRIES {
            state.pairs.clear();
            state.accounts.clear();
        }
    }

    /// (admitted, retry after, account failures).
    pub fn admit(&self, account: &str, network: &str, id: &str) -> (bool, Duration, u32) {
        let now = Instant::now();
        let mut state = self.state.lock().expect("lockout lock");
        self.trim(&mut state, now);
        let window = self.settings.window;
        let account_failures = match state.accounts.get(account) {
            Some((n, last)) if now.duration_since(*last) < window => *n,
            _ => 0,
        };
        let pair = state
            .pairs
            .entry((account.to_string(), network.to_string()))
            .or_default();
        if pair.last.is_some_and(|t| now.duration_since(t) >= window) {
            *pair = Pair::default();
        }
        if let Some(wait) = pair
            .locked_until
            .and_then(|until| until.checked_duration_since(now))
        {
            return (false, wait, 0);
        }
        pair.in_flight
            .retain(|(_, at)| now.duration_since(*at) < STALE);
        let in_flight = pair.in_flight.len() as u32;
        if !lockout::admits(pair.failures, in_flight, &self.settings) {
            return (false, Duration::from_secs(1), 0);
        }
        pair.in_flight.push((id.to_string(), now));
        (true, Duration::ZERO, account_failures)
    }

    /// (pair failures, account failures, cool-down started).
    pub fn failed(&self, account: &str, network: &str, id: &str) -> (u32, u32, Duration) {
        let now = Instant::now();
        let mut state = self.state.lock().expect("lockout lock");
        let window = self.settings.window;
        let entry = state
            .accounts
            .entry(account.to_string())
            .or_insert((0, now));
        if now.duration_since(entry.1) >= window {
            entry.0 = 0;
        }
        entry.0 = entry.0.saturating_add(1);
        entry.1 = now;
        let account_failures = entry.0;
        let pair = state
            .pairs
            .entry((account.to_string(), network.to_string()))
            .or_default();
        pair.in_flight.retain(|(i, _)| i != id);
        pair.failures = pair.failures.saturating_add(1);
        pair.last = Some(now);
        let cooldown = lockout::cooldown(pair.failures, &self.settings).unwrap_or_default();
        if !cooldown.is_zero() {
            pair.locked_until = Some(now + cooldown);
        }
        (pair.failures, account_failures, cooldown)
    }

    pub fn succeeded(&self, account: &str, network: &str, _id: &str) {
        let mut state = self.state.lock().expect("lockout lock");
        state
            .pairs
            .remove(&(account.to_string(), network.to_string()));
    }

    pub fn abandoned(&self, account: &str, network: &str, id: &str) {
        let mut state = self.state.lock().expect("lockout lock");
        if let Some(pair) = state
            .pairs
            .get_mut(&(account.to_string(), network.to_string()))
        {
            pair.in_flight.retain(|(i, _)| i != id);
        }
    }

    /// Forgets every pair of the account and its failures.
    pub fn forget(&self, account: &str) {
        let mut state = self.state.lock().expect("lockout lock");
        state.pairs.retain(|(a, _), _| a != account);
        state.accounts.remove(account);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local() -> Local {
        Local::new(LockoutSettings {
            threshold: 3,
            base: Duration::from_secs(60),
            max: Duration::from_secs(3600),
            window: Duration::from_secs(3600),
            slowdown_threshold: 5,
            slowdown_base: Duration::from_secs(1),
            slowdown_max: Duration::from_secs(4),
        })
    }

    #[test]
    fn a_pair_locks_another_network_of_the_same_account_does_not() {
        let l = local();
        for i in 0..3 {
            let id = format!("a{i}");
            assert!(l.admit("acct", "attacker", &id).0);
            l.failed("acct", "attacker", &id);
        }
        let (admitted, wait, _) = l.admit("acct", "attacker", "a3");
        assert!(!admitted && wait > Duration::from_secs(50));
        let (admitted, _, failures) = l.admit("acct", "owner", "o1");
        assert!(admitted);
        assert_eq!(failures, 3, "the account's failures are the attacker's");
        l.succeeded("acct", "owner", "o1");
        assert!(
            !l.admit("acct", "attacker", "a4").0,
            "the owner's success lifts nothing else"
        );
        l.forget("acct");
        assert!(
            l.admit("acct", "attacker", "a5").0,
            "an unlock lifts every pair"
        );
    }

    #[test]
    fn attempts_in_flight_count_before_their_outcome() {
        let l = local();
        let admitted = (0..10)
            .filter(|i| l.admit("acct", "net", &format!("p{i}")).0)
            .count();
        assert_eq!(admitted, 3);
        l.abandoned("acct", "net", "p0");
        assert!(
            l.admit("acct", "net", "p10").0,
            "an abandoned attempt gives its place back"
        );
    }
}
