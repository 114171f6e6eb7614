//! Free-text fields: no control characters, at most `max` characters as sent, trimmed,
//! non-empty once trimmed. `pattern()` is the same rule as a regular expression for the
//! OpenAPI document (checked against `required` in `domain::patterns`).

use super::patterns::{CONTROL, WHITESPACE};

/// Checks `raw` holds at most `max` characters and no control character, and that something
/// is left once surrounding whitespace is trimmed; returns it trimmed.
pub fn required(raw: &str, max: usize) -> Result<String, String> {
    if raw.chars().count() > max {
        return Err(format!("must be at most {max} characters"));
    }
    if raw.chars().any(|c| c.is_control()) {
        return Err("must not contain control characters".into());
    }
    let value = raw.trim();
    if value.is_empty() {
        Err("must not be empty".into())
    } else {
        Ok(value.to_string())
    }
}

/// Any text PostgreSQL can store: everything but NUL (U+0000), which neither `text` nor
/// `jsonb` holds (for free text such as notes, and for filters compared with stored text).
pub fn storable(raw: &str) -> Result<&str, String> {
    if raw.contains('\0') {
        Err("must not contain NUL characters".into())
    } else {
        Ok(raw)
    }
}

/// `storable` as a pattern.
pub const STORABLE_PATTERN: &str = r"^[^\u0000]*$";

/// `required` as a pattern (with `maxLength: max`): no control character, and at least one
/// character that is not whitespace.
pub fn pattern() -> String {
    format!("^[^{CONTROL}]*[^{CONTROL}{WHITESPACE}][^{CONTROL}]*$")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_bounds_text() {
        assert_eq!(required("  Ada  ", 10).unwrap(), "Ada");
        assert!(required("   ", 10).is_err());
        assert!(required("abcdefghijk", 10).is_err());
        assert!(required("a\u{0}b", 10).is_err());
        assert!(
            required("Ada\t", 10).is_err(),
            "controls are refused, not trimmed"
        );
        assert!(
            required(&format!("a{}", " ".repeat(10)), 10).is_err(),
            "length as sent"
        );
        assert_eq!(required("\u{3000}Ada\u{a0}", 10).unwrap(), "Ada");
        assert_eq!(storable("line\nbreak\ttab").unwrap(), "line\nbreak\ttab");
        assert!(storable("a\u{0}b").is_err());
        assert_eq!(required("ééé", 3).unwrap(), "ééé");
    }
}
