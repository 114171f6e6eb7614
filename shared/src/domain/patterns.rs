//! Character classes shared by the patterns the OpenAPI document gives string fields, and the
//! test that each pattern accepts exactly what its domain function accepts: the spec is the
//! code's rule, not a description of it. Patterns use only syntax that ECMA-262, Python's
//! `re` (what schemathesis and most generators use) and Rust's `regex` read alike.

/// What `char::is_control` matches (Unicode general category Cc), for a character class.
pub const CONTROL: &str = r"\u0000-\u001F\u007F-\u009F";

/// What `str::trim` removes (the Unicode White_Space property), for a character class.
pub const WHITESPACE: &str =
    r"\u0009-\u000D\u0020\u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000";

#[cfg(test)]
mod tests {
    use super::super::{email::Email, money, password, sku, text};
    use rand::{Rng, SeedableRng, rngs::StdRng};
    use regex::Regex;

    /// Characters that sit on every rule's edges.
    const ALPHABET: &[char] = &[
        'a', 'Z', '0', '1', '9', '.', '-', '_', '@', ' ', '\t', '\n', '\u{0}', '\u{7f}', '\u{85}',
        '\u{a0}', '\u{3000}', '\u{2028}', '\u{feff}', 'é', 'ß', '🙂', '+', '"', '\'', ';', '%',
        '\\', '\u{1c}',
    ];

    fn corpus(seed: u64, max_len: usize) -> Vec<String> {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..40_000)
            .map(|_| {
                let len = rng.random_range(0..=max_len);
                (0..len)
                    .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())])
                    .collect()
            })
            .collect()
    }

    /// The pattern (and maxLength) accepts exactly what `accepts` accepts, over a random
    /// corpus plus `edges`.
    fn agree(
        name: &str,
        pattern: &str,
        max_len: Option<usize>,
        accepts: impl Fn(&str) -> bool,
        edges: &[&str],
    ) {
        let re = Regex::new(pattern).unwrap_or_else(|e| panic!("{name}: {e}"));
        let schema = |s: &str| re.is_match(s) && max_len.is_none_or(|m| s.chars().count() <= m);
        let mut accepted = 0;
        let strings = corpus(name.len() as u64, 12);
        for s in strings
            .iter()
            .map(String::as_str)
            .chain(edges.iter().copied())
        {
            assert_eq!(schema(s), accepts(s), "{name}: {s:?}");
            accepted += usize::from(accepts(s));
        }
        assert!(
            accepted > 10,
            "{name}: the corpus never reaches the accepted side"
        );
    }

    #[test]
    fn names_match_their_pattern() {
        let long = "x".repeat(201);
        agree(
            "name",
            &text::pattern(),
            Some(200),
            |s| text::required(s, 200).is_ok(),
            &[
                "Ada",
                " Ada ",
                "   ",
                "",
                "A\u{0}",
                &long,
                "\u{3000}x",
                "\u{feff}",
            ],
        );
    }

    #[test]
    fn storable_text_matches_its_pattern() {
        agree(
            "storable",
            text::STORABLE_PATTERN,
            None,
            |s| text::storable(s).is_ok(),
            &["", "line\nbreak", "\u{0}"],
        );
    }

    #[test]
    fn skus_match_their_pattern() {
        let long = "A".repeat(65);
        agree(
            "sku",
            &sku::pattern(),
            None,
            |s| sku::parse(s).is_ok(),
            &["KB-001", " kb.1 ", "ß", &long, &long[1..], "a b", ""],
        );
    }

    #[test]
    fn emails_match_their_pattern() {
        let local = "a".repeat(65);
        let long_local = format!("{local}@example.com");
        let padded = format!("{}ada@example.com", " ".repeat(240));
        agree(
            "email",
            &Email::pattern(),
            Some(Email::MAX_LEN),
            |s| Email::parse(s).is_ok(),
            &[
                "ada@example.com",
                " Ada@Example.COM ",
                "a@b.c",
                "a@b",
                "a@.b",
                "a@b.",
                "a@b..c",
                "@b.c",
                "a@@b.c",
                "josé@b.c",
                &long_local,
                &long_local[1..],
                &padded,
            ],
        );
    }

    #[test]
    fn prices_and_amounts_match_their_patterns() {
        let edges = [
            "0",
            "0.0",
            "0.01",
            "0.10",
            "0.001",
            "12.500",
            "012",
            "1.",
            ".1",
            "9999999999.99",
            "10000000000",
            "1e2",
            "+1",
            "-1",
        ];
        let digits = |seed| {
            let mut rng = StdRng::seed_from_u64(seed);
            (0..40_000)
                .map(|_| {
                    let len = rng.random_range(0..=14);
                    (0..len)
                        .map(|_| ['0', '1', '5', '9', '.', '0', '-'][rng.random_range(0..7)])
                        .collect::<String>()
                })
                .collect::<Vec<_>>()
        };
        for (name, pattern, accepts) in [
            (
                "price",
                money::Price::PATTERN,
                &(|s: &str| money::Price::parse_str(s).is_ok()) as &dyn Fn(&str) -> bool,
            ),
            ("amount", money::AMOUNT_PATTERN, &|s: &str| {
                money::amount(s).is_ok()
            }),
        ] {
            let re = Regex::new(pattern).unwrap();
            for s in digits(7).iter().map(String::as_str).chain(edges) {
                assert_eq!(re.is_match(s), accepts(s), "{name}: {s:?}");
            }
        }
    }

    #[test]
    fn password_lengths_are_code_points_as_in_json_schema() {
        for s in corpus(3, 140) {
            let n = s.chars().count();
            let schema = (password::MIN_LEN..=password::MAX_LEN).contains(&n);
            assert_eq!(schema, password::check_policy(&s).is_ok(), "{s:?}");
        }
    }
}
