//! Normalised, syntactically plausible email addresses.

use std::fmt;

/// An email address, trimmed and lower-cased, so uniqueness checks compare like with like.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub const MAX_LEN: usize = 254;

    /// Trims surrounding whitespace and lower-cases. The address is plain ASCII: 1..=64
    /// visible characters but `@`, then `@`, then dot-separated labels (at least two) of
    /// visible characters but `@` and `.`; at most `MAX_LEN` characters as sent.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let invalid = || "is not a valid email address".to_string();
        if raw.chars().count() > Self::MAX_LEN {
            return Err(invalid());
        }
        let email = raw.trim();
        let visible = |c: char| c.is_ascii_graphic() && c != '@';
        let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
        let local_ok = (1..=64).contains(&local.len()) && local.chars().all(visible);
        let mut labels = domain.split('.');
        let domain_ok = domain.contains('.')
            && labels.all(|l| !l.is_empty() && l.chars().all(|c| visible(c) && c != '.'));
        if !local_ok || !domain_ok {
            return Err(invalid());
        }
        Ok(Self(email.to_ascii_lowercase()))
    }

    /// `parse` as a pattern for the OpenAPI document (with `maxLength: MAX_LEN`).
    pub fn pattern() -> String {
        let ws = super::patterns::WHITESPACE;
        let local = r"[\x21-\x3F\x41-\x7E]";
        let label = r"[\x21-\x2D\x2F-\x3F\x41-\x7E]+";
        format!("^[{ws}]*{local}{{1,64}}@{label}(\\.{label})+[{ws}]*$")
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
        let long_local = format!("{}@example.com", "a".repeat(65));
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
            long_local.as_str(),
            "josé@example.com",
            "ada@exa mple.com",
        ] {
            assert!(Email::parse(raw).is_err(), "{raw:?} should be rejected");
        }
    }
}
