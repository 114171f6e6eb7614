//! Normalised, syntactically plausible email addresses.

use std::fmt;

/// An email address, trimmed and lower-cased, so uniqueness checks compare like with like.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub const MAX_LEN: usize = 254;

    pub fn parse(raw: &str) -> Result<Self, String> {
        let email = raw.trim().to_lowercase();
        let invalid = || "is not a valid email address".to_string();
        if email.is_empty() || email.len() > Self::MAX_LEN {
            return Err(invalid());
        }
        if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid());
        }
        let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
        let domain_ok = domain.contains('.')
            && !domain.contains('@')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..");
        if local.is_empty() || local.len() > 64 || !domain_ok {
            return Err(invalid());
        }
        Ok(Self(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_normalises_valid_addresses() {
        for (raw, expected) in [
            ("ada@example.com", "ada@example.com"),
            ("  Ada@Example.COM ", "ada@example.com"),
            ("a.b+tag@sub.example.org", "a.b+tag@sub.example.org"),
        ] {
            assert_eq!(Email::parse(raw).unwrap().as_str(), expected, "{raw}");
        }
    }

    #[test]
    fn rejects_invalid_addresses() {
        let too_long = format!("{}@example.com", "a".repeat(250));
        for raw in [
            "",
            "   ",
            "no-at-sign",
            "@example.com",
            "ada@",
            "ada@localhost",
            "ada@@example.com",
            "ada@example..com",
            "ada@.example.com",
            "a da@example.com",
            too_long.as_str(),
        ] {
            assert!(Email::parse(raw).is_err(), "{raw:?} should be rejected");
        }
    }
}
