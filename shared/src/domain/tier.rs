//! Customer tiers.

use super::text_enum::text_enum;

text_enum! {
    #[derive(Default)]
    pub enum Tier ("tier") {
        #[default]
        Free => "free",
        Pro => "pro",
        Enterprise => "enterprise",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_tiers() {
        for tier in [Tier::Free, Tier::Pro, Tier::Enterprise] {
            assert_eq!(tier.as_str().parse::<Tier>().unwrap(), tier);
        }
        assert!("gold".parse::<Tier>().is_err());
    }
}
