//! Reading variables: every number range-checked and every refusal naming its variable, for
//! the core settings and each binary's own (`api.rs`, `worker.rs`).

use anyhow::{Context, bail};
use std::{ops::RangeInclusive, time::Duration};

/// A variable lookup (the environment, or a map in tests); blank values count as unset.
pub struct Vars<'a>(&'a dyn Fn(&str) -> Option<String>);

impl<'a> Vars<'a> {
    pub fn new(get: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Self(get)
    }

    pub fn get(&self, key: &str) -> Option<String> {
        (self.0)(key).filter(|v| !v.trim().is_empty())
    }

    /// The value, or `default` when unset.
    pub fn text(&self, key: &str, default: &str) -> String {
        self.get(key).unwrap_or_else(|| default.to_string())
    }

    /// A whole number in `range`, `default` when unset.
    pub fn number(
        &self,
        key: &str,
        default: u64,
        range: RangeInclusive<u64>,
    ) -> anyhow::Result<u64> {
        let value = match self.get(key) {
            None => default,
            Some(v) => v
                .trim()
                .parse()
                .with_context(|| format!("{key} must be a whole number, got {v:?}"))?,
        };
        if !range.contains(&value) {
            bail!(
                "{key} must be between {} and {}, got {value}",
                range.start(),
                range.end()
            );
        }
        Ok(value)
    }

    pub fn count(
        &self,
        key: &str,
        default: u32,
        range: RangeInclusive<u32>,
    ) -> anyhow::Result<u32> {
        let range = u64::from(*range.start())..=u64::from(*range.end());
        // In range, so it fits.
        Ok(self.number(key, u64::from(default), range)? as u32)
    }

    pub fn size(
        &self,
        key: &str,
        default: usize,
        range: RangeInclusive<usize>,
    ) -> anyhow::Result<usize> {
        let range = *range.start() as u64..=*range.end() as u64;
        Ok(self.number(key, default as u64, range)? as usize)
    }

    pub fn port(&self, key: &str, default: u16) -> anyhow::Result<u16> {
        Ok(self.number(key, u64::from(default), 1..=65_535)? as u16)
    }

    pub fn seconds(
        &self,
        key: &str,
        default: u64,
        range: RangeInclusive<u64>,
    ) -> anyhow::Result<Duration> {
        self.number(key, default, range).map(Duration::from_secs)
    }

    pub fn millis(
        &self,
        key: &str,
        default: u64,
        range: RangeInclusive<u64>,
    ) -> anyhow::Result<Duration> {
        self.number(key, default, range).map(Duration::from_millis)
    }

    pub fn flag(&self, key: &str, default: bool) -> anyhow::Result<bool> {
        match self.get(key).as_deref().map(str::trim) {
            None => Ok(default),
            Some("true" | "1" | "yes") => Ok(true),
            Some("false" | "0" | "no") => Ok(false),
            Some(v) => bail!("{key} must be true or false, got {v:?}"),
        }
    }
}

/// A day, a week and a year, for the ranges.
pub const DAY: u64 = 24 * 3600;
pub const WEEK: u64 = 7 * DAY;
pub const YEAR: u64 = 365 * DAY;

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |key| {
            pairs
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn numbers_are_range_checked_naming_their_variable() {
        let get = vars(&[
            ("A", "7"),
            ("B", "0"),
            ("C", "x"),
            ("D", " "),
            ("E", "70000"),
        ]);
        let vars = Vars::new(&get);
        assert_eq!(vars.number("A", 1, 1..=10).unwrap(), 7);
        assert_eq!(vars.number("D", 3, 1..=10).unwrap(), 3, "blank is unset");
        assert_eq!(vars.number("UNSET", 3, 1..=10).unwrap(), 3);
        let zero = vars.number("B", 1, 1..=10).unwrap_err().to_string();
        assert!(zero.contains("B must be between 1 and 10, got 0"), "{zero}");
        let text = vars.number("C", 1, 1..=10).unwrap_err().to_string();
        assert!(text.contains("C must be a whole number"), "{text}");
        let port = vars.port("E", 80).unwrap_err().to_string();
        assert!(port.contains("E must be between 1 and 65535"), "{port}");
        let big = Vars::new(&|_| Some("5000000000".into()));
        assert!(big.count("F", 1, 1..=u32::MAX).is_err(), "no truncation");
    }

    #[test]
    fn flags_accept_the_usual_words_only() {
        let get = vars(&[("A", "yes"), ("B", "0"), ("C", "maybe")]);
        let vars = Vars::new(&get);
        assert!(vars.flag("A", false).unwrap());
        assert!(!vars.flag("B", true).unwrap());
        assert!(vars.flag("UNSET", true).unwrap());
        let err = vars.flag("C", true).unwrap_err().to_string();
        assert!(err.contains("C must be true or false"), "{err}");
    }
}
