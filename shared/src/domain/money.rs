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
    fn rejects_zero_negative_fractional_cents_and_overflow() {
        for raw in ["0", "-1", "0.001", "12.345", "10000000000.00"] {
            assert!(Price::parse(d(raw)).is_err(), "{raw} should be rejected");
        }
    }
}
