//! Who may try a password now. Failures are counted per (account, client network) — the
//! pair an attacker's guesses come from — and per account across every network:
//!
//! - A pair locks after `threshold` failures, for a cool-down that doubles with each further
//!   failure (up to `max`); once it ends, one attempt at a time is let through.
//! - Attempts count when they start, before the password is hashed: failures plus attempts
//!   in flight never exceed what the pair may still try, so N parallel guesses hash at most
//!   `threshold` passwords.
//! - The account as a whole is never refused: past `slowdown_threshold` failures from all
//!   networks each attempt waits a delay first (doubling every `slowdown_threshold` further
//!   failures, up to `slowdown_max`). The owner, on another network and with the right
//!   password, still logs in while an attacker hammers; the moment the slowdown starts, a
//!   verified owner is emailed a link that lifts every lock.
//!
//! A success forgets its pair's failures (not the account's: those are the attacker's).
//! Accounts are email addresses, whether or not an account has one, so the answers say
//! nothing about which accounts exist.

use std::time::Duration;

use crate::settings::LockoutSettings;

/// The cool-down that starts after a pair's `failures`-th failure, if any: none below the
/// threshold, `base` at it, then `base × 2^(failures − threshold)`, at most `max`. A
/// threshold of 0 turns lockout off.
pub fn cooldown(failures: u32, settings: &LockoutSettings) -> Option<Duration> {
    if settings.threshold == 0 || failures < settings.threshold {
        return None;
    }
    let doublings = (failures - settings.threshold).min(31);
    Some(
        settings
            .base
            .saturating_mul(1u32 << doublings)
            .min(settings.max),
    )
}

/// Whether a pair (not locked right now) with `failures` failures and `in_flight` attempts
/// under way may start one more: up to the threshold before the first lock, then one at a
/// time.
pub fn admits(failures: u32, in_flight: u32, settings: &LockoutSettings) -> bool {
    if settings.threshold == 0 {
        return true;
    }
    let (failures, in_flight) = (u64::from(failures), u64::from(in_flight));
    let limit = if failures < u64::from(settings.threshold) {
        u64::from(settings.threshold)
    } else {
        failures + 1
    };
    failures + in_flight < limit
}

/// The delay before an attempt on an account that has seen `failures` failures from all
/// networks: none below `slowdown_threshold` (0 turns it off), then `slowdown_base`,
/// doubling every `slowdown_threshold` further failures, at most `slowdown_max`.
pub fn account_delay(failures: u32, settings: &LockoutSettings) -> Option<Duration> {
    let every = settings.slowdown_threshold;
    if every == 0 || failures < every {
        return None;
    }
    let doublings = ((failures - every) / every).min(31);
    Some(
        settings
            .slowdown_base
            .saturating_mul(1u32 << doublings)
            .min(settings.slowdown_max),
    )
}

/// Whether the `failures`-th failure of an account is the one that starts its slowdown (its
/// verified owner is then sent an unlock link, once per window).
pub fn starts_slowdown(failures: u32, settings: &LockoutSettings) -> bool {
    settings.slowdown_threshold > 0 && failures == settings.slowdown_threshold
}

/// The key an address is counted under: trimmed and lower-cased, so `Ada@Example.com ` and
/// `ada@example.com` share one count (emails are stored lower-cased).
pub fn account_key(username: &str) -> String {
    username.trim().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> LockoutSettings {
        LockoutSettings {
            threshold: 10,
            base: Duration::from_secs(60),
            max: Duration::from_secs(3600),
            window: Duration::from_secs(86_400),
            slowdown_threshold: 50,
            slowdown_base: Duration::from_secs(1),
            slowdown_max: Duration::from_secs(10),
        }
    }

    #[test]
    fn cooldown_starts_at_the_threshold_and_doubles_up_to_the_cap() {
        let s = settings();
        let cases: &[(u32, Option<u64>)] = &[
            (0, None),
            (1, None),
            (9, None),
            (10, Some(60)),
            (11, Some(120)),
            (12, Some(240)),
            (15, Some(1920)),
            (16, Some(3600)),
            (40, Some(3600)),
            (u32::MAX, Some(3600)),
        ];
        for (failures, expected) in cases {
            assert_eq!(
                cooldown(*failures, &s),
                expected.map(Duration::from_secs),
                "after {failures} failures"
            );
        }
    }

    #[test]
    fn a_pair_admits_up_to_the_threshold_counting_attempts_in_flight_then_one_at_a_time() {
        let s = settings();
        let cases: &[(u32, u32, bool)] = &[
            (0, 0, true),
            (0, 9, true),
            (0, 10, false),
            (5, 4, true),
            (5, 5, false),
            (9, 0, true),
            (9, 1, false),
            // Past the threshold (once the lock has run out): one probe at a time.
            (10, 0, true),
            (10, 1, false),
            (25, 0, true),
            (25, 1, false),
            (u32::MAX, 0, true),
        ];
        for (failures, in_flight, admitted) in cases {
            assert_eq!(
                admits(*failures, *in_flight, &s),
                *admitted,
                "{failures} failures, {in_flight} in flight"
            );
        }
        let off = LockoutSettings {
            threshold: 0,
            ..settings()
        };
        assert!(admits(1000, 1000, &off));
    }

    #[test]
    fn parallel_guesses_never_get_more_than_the_threshold_through() {
        let s = settings();
        let admitted = (0..40).filter(|n| admits(0, *n, &s)).count();
        assert_eq!(admitted, 10);
    }

    #[test]
    fn the_account_slows_down_without_ever_refusing() {
        let s = settings();
        let cases: &[(u32, Option<u64>)] = &[
            (0, None),
            (49, None),
            (50, Some(1)),
            (99, Some(1)),
            (100, Some(2)),
            (150, Some(4)),
            (200, Some(8)),
            (250, Some(10)),
            (u32::MAX, Some(10)),
        ];
        for (failures, delay) in cases {
            assert_eq!(
                account_delay(*failures, &s),
                delay.map(Duration::from_secs),
                "{failures}"
            );
        }
        assert!(starts_slowdown(50, &s));
        assert!(!starts_slowdown(49, &s) && !starts_slowdown(51, &s));
        let off = LockoutSettings {
            slowdown_threshold: 0,
            ..settings()
        };
        assert_eq!(account_delay(10_000, &off), None);
        assert!(!starts_slowdown(0, &off));
    }

    #[test]
    fn a_zero_threshold_turns_lockout_off() {
        let s = LockoutSettings {
            threshold: 0,
            ..settings()
        };
        assert_eq!(cooldown(1000, &s), None);
    }

    #[test]
    fn addresses_differing_in_case_or_spaces_share_a_count() {
        for (a, b) in [
            ("Ada@Example.com", "ada@example.com"),
            (" ada@example.com\t", "ada@example.com"),
        ] {
            assert_eq!(account_key(a), account_key(b));
        }
        assert_ne!(
            account_key("ada@example.com"),
            account_key("bob@example.com")
        );
    }
}
