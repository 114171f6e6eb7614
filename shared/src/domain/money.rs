//! Money: exact decimals with two places, never floats.

use rust_decimal::Decimal;

/// A positive price with at most two decimal places, stored as NUMERIC(12,2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Price(Decimal);

impl Price {
    /// NUMERIC(12,2) holds up to 10 integer digits.
    pub const MAX: Decimal = Decimal::from_parts(3_567_587_327, 232, 0, false, 2); // 9_999_999_999.99

    pub fn parse(value: Decimal) -> Result<Self, String> {
        if value <= Decimal::ZERO {
            return Err("must be greater than 0".into());
        }
        if value.normalize().scale() > 2 {
            return Err("must have at most 2 decimal places".into());
        }
        if value > Self::MAX {
            return Err("is too large".into());
        }
        Ok(Self(to_cents(value)))
    }

    pub fn value(self) -> Decimal {
        self.0
    }

    /// A price as clients send it: a plain decimal string, `amount_grammar` (no sign, no
    /// exponent, no leading zeros), greater than 0.
    pub fn parse_str(raw: &str) -> Result<Self, String> {
        Self::parse(amount(raw)?)
    }

    /// `parse_str` as a pattern for the OpenAPI document.
    pub const PATTERN: &str = r"^([1-9][0-9]{0,9}(\.[0-9]{1,2}0*)?|0\.([1-9][0-9]?|0[1-9])0*)$";
}

/// An amount filter (`min_total`, `max_total`): the price grammar, 0 allowed.
pub const AMOUNT_PATTERN: &str = r"^(0|[1-9][0-9]{0,9})(\.[0-9]{1,2}0*)?$";

/// Parses the amount grammar: 1..=10 integer digits without a leading zero (but "0"), then
/// optionally a point and 1..=2 decimals, trailing zeros allowed ("12.500").
pub fn amount(raw: &str) -> Result<Decimal, String> {
    let invalid = || "must be a decimal amount such as 12.50".to_string();
    let (int, frac) = match raw.split_once('.') {
        Some((int, frac)) => (int, Some(frac)),
        None => (raw, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || int.len() > 10 || (int.len() > 1 && int.starts_with('0')) {
        return Err(invalid());
    }
    if let Some(frac) = frac
        && (!digits(frac) || frac.trim_end_matches('0').len() > 2)
    {
        return Err(invalid());
    }
    raw.parse::<Decimal>().map_err(|_| invalid())
}

/// Rescales a decimal to exactly two places, as money is shown ("12.50", never "12.5").
pub fn to_cents(value: Decimal) -> Decimal {
    let mut v = value.round_dp(2);
    v.rescale(2);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn accepts_positive_amounts_with_two_places_at_most() {
        for (raw, shown) in [
            ("0.01", "0.01"),
            ("12.5", "12.50"),
            ("12.50", "12.50"),
            ("12.500", "12.50"),
            ("7", "7.00"),
            ("9999999999.99", "9999999999.99"),
        ] {
            assert_eq!(
                Price::parse(d(raw)).unwrap().value().to_string(),
                shown,
                "{raw}"
            );
        }
    }

    #[test]
    fn prices_as_sent_follow_the_grammar() {
        for (raw, ok) in [
            ("12.50", true),
            ("12.500", true),
            ("0.01", true),
            ("0.10", true),
            ("9999999999.99", true),
            ("0", false),
            ("0.00", false),
            ("0.001", false),
            ("012.50", false),
            ("12.", false),
            (".5", false),
            ("+5", false),
            ("-5", false),
            ("1e3", false),
            ("1_000", false),
            (" 5", false),
            ("12.345", false),
            ("10000000000", false),
        ] {
            assert_eq!(Price::parse_str(raw).is_ok(), ok, "{raw}");
        }
        assert_eq!(amount("0").unwrap(), Decimal::ZERO);
        assert!(amount("00").is_err());
    }

    #[test]
    fn rejects_zero_negative_fractional_cents_and_overflow() {
        for raw in ["0", "-1", "0.001", "12.345", "10000000000.00"] {
            assert!(Price::parse(d(raw)).is_err(), "{raw} should be rejected");
        }
    }
}
