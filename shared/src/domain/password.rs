//! Password policy (length only, as NIST SP 800-63B recommends).

/// Inclusive bounds on a password's length, counted in characters.
pub const MIN_LEN: usize = 8;
pub const MAX_LEN: usize = 128;

/// Checks the policy; the password itself is never echoed back in the message.
pub fn check_policy(password: &str) -> Result<(), String> {
    let len = password.chars().count();
    if len < MIN_LEN {
        Err(format!("must be at least {MIN_LEN} characters"))
    } else if len > MAX_LEN {
        Err(format!("must be at most {MAX_LEN} characters"))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_bounds_are_inclusive_and_count_characters() {
        for (password, ok) in [
            ("", false),
            ("1234567", false),
            ("12345678", true),
            ("ééééééé", false),
            ("éééééééé", true),
            (&"x".repeat(128), true),
            (&"x".repeat(129), false),
        ] {
            assert_eq!(check_policy(password).is_ok(), ok, "{password:?}");
        }
    }
}
