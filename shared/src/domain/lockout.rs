//! Per-account login lockout: after `threshold` consecutive failed logins for one account
//! (an email address, whether or not an account has it), logins are refused for a cool-down
//! that doubles with each further failure, up to `max`. A success forgets the failures.

use std::time::Duration;

use crate::settings::LockoutSettings;

/// The cool-down that starts after the `failures`-th consecutive failure, if any:
/// none below the threshold, `base` at it, then `base × 2^(failures − threshold)`, at most
/// `max`. A threshold of 0 turns lockout off.
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

/// The key an address is counted under: trimmed and lower-cased, so `Ada@Example.com ` and
/// `ada@example.com` share one count (emails are stored lower-cased).
pub fn account_key(username: &str) -> String {
    username.trim().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cooldown_starts_at_the_threshold_and_doubles_up_to_the_cap() {
        let s = LockoutSettings {
            threshold: 10,
            base: Duration::from_secs(60),
            max: Duration::from_secs(3600),
            window: Duration::from_secs(86_400),
        };
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
    fn a_zero_threshold_turns_lockout_off() {
        let s = LockoutSettings {
            threshold: 0,
            base: Duration::from_secs(60),
            max: Duration::from_secs(3600),
            window: Duration::from_secs(86_400),
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
