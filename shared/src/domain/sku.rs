//! Product SKUs: 1..=64 characters of letters, digits, `-`, `_` and `.`, upper-cased.

pub fn parse(raw: &str) -> Result<String, String> {
    let sku = raw.trim();
    if sku.is_empty() || sku.len() > 64 {
        return Err("must be 1 to 64 characters".into());
    }
    // Checked before upper-casing: 'ß' would otherwise become "SS" and pass.
    if !sku
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err("may only contain letters, digits, '-', '_' and '.'".into());
    }
    Ok(sku.to_ascii_uppercase())
}

/// `parse` as a pattern for the OpenAPI document (surrounding whitespace is trimmed).
pub fn pattern() -> String {
    let ws = super::patterns::WHITESPACE;
    format!("^[{ws}]*[A-Za-z0-9._-]{{1,64}}[{ws}]*$")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skus_are_normalised_and_restricted() {
        assert_eq!(parse(" kb-001 ").unwrap(), "KB-001");
        assert_eq!(parse("A.B_C-9").unwrap(), "A.B_C-9");
        for bad in [
            "",
            "  ",
            "has space",
            "emoji🙂",
            &"x".repeat(65),
            "semi;colon",
            "straße",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
