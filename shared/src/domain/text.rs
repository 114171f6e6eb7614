//! Free-text fields: trimmed, non-empty, bounded.

/// Trims `raw` and checks it holds 1..=`max` characters.
pub fn required(raw: &str, max: usize) -> Result<String, String> {
    let value = raw.trim();
    if value.is_empty() {
        Err("must not be empty".into())
    } else if value.chars().count() > max {
        Err(format!("must be at most {max} characters"))
    } else if value.chars().any(|c| c.is_control()) {
        Err("must not contain control characters".into())
    } else {
        Ok(value.to_string())
    }
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
        assert_eq!(required("ééé", 3).unwrap(), "ééé");
    }
}
