//! How a report's date range `[from, to)` splits into what the rollups hold: whole months,
//! whole days and whole hours (UTC), and what they cannot (at most two partial hours at the
//! very ends, read from the orders themselves). The largest periods come first: a year-long
//! range is 12 months, up to 2 × 30 days and 2 × 23 hours around them, and two partial hours.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Timelike, Utc};

/// A period length the rollups keep (`order_stats.grain`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grain {
    Hour,
    Day,
    Month,
}

impl Grain {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hour => "hour",
            Self::Day => "day",
            Self::Month => "month",
        }
    }

    /// The start of the period holding `at`.
    fn floor(self, at: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            // From the calendar fields, not `duration_trunc`: that one counts nanoseconds and
            // fails outside 1677–2262, and a report may ask for any year.
            Self::Hour => Utc.from_utc_datetime(
                &at.date_naive()
                    .and_hms_opt(at.hour(), 0, 0)
                    .expect("an hour of the day"),
            ),
            Self::Day => {
                Utc.from_utc_datetime(&at.date_naive().and_hms_opt(0, 0, 0).expect("midnight"))
            }
            Self::Month => Utc.from_utc_datetime(
                &NaiveDate::from_ymd_opt(at.year(), at.month(), 1)
                    .expect("a month's first day")
                    .and_hms_opt(0, 0, 0)
                    .expect("midnight"),
            ),
        }
    }

    /// The start of the period after the one starting at `start`.
    fn next(self, start: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Self::Hour => start + Duration::hours(1),
            Self::Day => start + Duration::days(1),
            Self::Month => start
                .checked_add_months(chrono::Months::new(1))
                .expect("in range"),
        }
    }
}

/// A point of the time line, with an open end on either side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum At {
    Min,
    T(DateTime<Utc>),
    Max,
}

impl At {
    /// As bound in SQL: open ends are NULL (the statements read them as ∓infinity).
    pub fn time(self) -> Option<DateTime<Utc>> {
        match self {
            Self::T(at) => Some(at),
            Self::Min | Self::Max => None,
        }
    }

    /// The first period start at or after this point.
    fn ceil(self, grain: Grain) -> Self {
        match self {
            Self::T(at) if grain.floor(at) == at => self,
            Self::T(at) => Self::T(grain.next(grain.floor(at))),
            open => open,
        }
    }

    /// The last period start at or before this point.
    fn floor(self, grain: Grain) -> Self {
        match self {
            Self::T(at) => Self::T(grain.floor(at)),
            open => open,
        }
    }
}

/// The parts of a range: periods of the rollups, and the partial hours at its ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// Non-empty `[lo, hi)` of whole periods of a grain, not overlapping.
    pub periods: Vec<(Grain, At, At)>,
    /// The whole hours all together, `[lo, hi)` (where unfolded hourly deltas count), or
    /// `None` when the range holds none.
    pub hours: Option<(At, At)>,
    /// Non-empty stretches of the range outside every whole hour (at most two, finite).
    pub edges: Vec<(DateTime<Utc>, DateTime<Utc>)>,
}

/// Splits `[from, to)` (`None`: open on that side).
pub fn split(from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> Split {
    let f = from.map_or(At::Min, At::T);
    let t = to.map_or(At::Max, At::T);
    let mut split = Split {
        periods: Vec::new(),
        hours: None,
        edges: Vec::new(),
    };
    let mut edge = |lo: At, hi: At| {
        if let (At::T(lo), At::T(hi)) = (lo, hi)
            && lo < hi
        {
            split.edges.push((lo, hi));
        }
    };
    let (ah, bh) = (f.ceil(Grain::Hour), t.floor(Grain::Hour));
    if ah >= bh {
        edge(f, t);
        return split;
    }
    edge(f, ah);
    edge(bh, t);
    split.hours = Some((ah, bh));
    // Each grain covers what the next larger one leaves at the ends of the range.
    let mut parts = vec![(ah, bh)];
    for (grain, larger) in [
        (Grain::Hour, Some(Grain::Day)),
        (Grain::Day, Some(Grain::Month)),
    ]
    .into_iter()
    .chain([(Grain::Month, None)])
    {
        let mut remaining = Vec::new();
        for (lo, hi) in parts {
            let inner = larger.map(|g| (lo.ceil(g), hi.floor(g)));
            match inner {
                Some((a, b)) if a < b => {
                    for (x, y) in [(lo, a), (b, hi)] {
                        if x < y {
                            split.periods.push((grain, x, y));
                        }
                    }
                    remaining.push((a, b));
                }
                _ => split.periods.push((grain, lo, hi)),
            }
        }
        parts = remaining;
        if parts.is_empty() {
            break;
        }
    }
    split.periods.reverse();
    split
}

#[cfg(test)]
mod tests {
    use super::*;
    use Grain::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }
    fn at(s: &str) -> At {
        At::T(t(s))
    }

    #[test]
    fn a_range_splits_into_months_days_hours_and_two_partial_hours() {
        let year = split(
            Some(t("2026-01-15T10:30:00Z")),
            Some(t("2026-11-20T14:45:00Z")),
        );
        assert_eq!(
            year.periods,
            vec![
                (
                    Month,
                    at("2026-02-01T00:00:00Z"),
                    at("2026-11-01T00:00:00Z")
                ),
                (Day, at("2026-11-01T00:00:00Z"), at("2026-11-20T00:00:00Z")),
                (Day, at("2026-01-16T00:00:00Z"), at("2026-02-01T00:00:00Z")),
                (Hour, at("2026-11-20T00:00:00Z"), at("2026-11-20T14:00:00Z")),
                (Hour, at("2026-01-15T11:00:00Z"), at("2026-01-16T00:00:00Z")),
            ]
        );
        assert_eq!(
            year.edges,
            vec![
                (t("2026-01-15T10:30:00Z"), t("2026-01-15T11:00:00Z")),
                (t("2026-11-20T14:00:00Z"), t("2026-11-20T14:45:00Z")),
            ]
        );
        assert_eq!(
            year.hours,
            Some((at("2026-01-15T11:00:00Z"), at("2026-11-20T14:00:00Z")))
        );
    }

    #[test]
    fn any_year_a_client_can_write_splits_without_overflow() {
        // schemathesis sent created_from=1254-11-27T22:01:05Z: chrono's duration_trunc counts
        // nanoseconds and failed outside 1677–2262 (a panic, a 500).
        let far = split(
            Some(t("1254-11-27T22:01:05Z")),
            Some(t("2026-12-05T16:08:29.703116Z")),
        );
        assert_eq!(
            far.periods,
            vec![
                (
                    Month,
                    at("1254-12-01T00:00:00Z"),
                    at("2026-12-01T00:00:00Z")
                ),
                (Day, at("2026-12-01T00:00:00Z"), at("2026-12-05T00:00:00Z")),
                (Day, at("1254-11-28T00:00:00Z"), at("1254-12-01T00:00:00Z")),
                (Hour, at("2026-12-05T00:00:00Z"), at("2026-12-05T16:00:00Z")),
                (Hour, at("1254-11-27T23:00:00Z"), at("1254-11-28T00:00:00Z")),
            ]
        );
        assert_eq!(
            far.edges,
            vec![
                (t("1254-11-27T22:01:05Z"), t("1254-11-27T23:00:00Z")),
                (t("2026-12-05T16:00:00Z"), t("2026-12-05T16:08:29.703116Z")),
            ]
        );
        let widest = split(
            Some(t("0000-01-01T00:00:00Z")),
            Some(t("9999-12-31T23:59:59.999999Z")),
        );
        assert_eq!(widest.edges.len(), 1);
        assert_eq!(widest.periods.len(), 3);
    }

    #[test]
    fn open_ends_whole_periods_and_tiny_ranges() {
        for (from, to, periods, edges) in [
            // Everything: all months, nothing else.
            (None, None, vec![(Month, At::Min, At::Max)], vec![]),
            // Open on one side.
            (
                Some("2026-03-10T00:00:00Z"),
                None,
                vec![
                    (Month, at("2026-04-01T00:00:00Z"), At::Max),
                    (Day, at("2026-03-10T00:00:00Z"), at("2026-04-01T00:00:00Z")),
                ],
                vec![],
            ),
            (
                None,
                Some("2026-03-10T05:00:00Z"),
                vec![
                    (Month, At::Min, at("2026-03-01T00:00:00Z")),
                    (Day, at("2026-03-01T00:00:00Z"), at("2026-03-10T00:00:00Z")),
                    (Hour, at("2026-03-10T00:00:00Z"), at("2026-03-10T05:00:00Z")),
                ],
                vec![],
            ),
            // Whole days, no whole month; whole hours, no whole day.
            (
                Some("2026-03-10T00:00:00Z"),
                Some("2026-03-12T00:00:00Z"),
                vec![(Day, at("2026-03-10T00:00:00Z"), at("2026-03-12T00:00:00Z"))],
                vec![],
            ),
            (
                Some("2026-03-10T22:10:00Z"),
                Some("2026-03-11T01:00:00Z"),
                vec![(Hour, at("2026-03-10T23:00:00Z"), at("2026-03-11T01:00:00Z"))],
                vec![("2026-03-10T22:10:00Z", "2026-03-10T23:00:00Z")],
            ),
            // Within one hour, across an hour boundary without a whole hour, empty.
            (
                Some("2026-03-10T22:10:00Z"),
                Some("2026-03-10T22:50:00Z"),
                vec![],
                vec![("2026-03-10T22:10:00Z", "2026-03-10T22:50:00Z")],
            ),
            (
                Some("2026-03-10T22:10:00Z"),
                Some("2026-03-10T23:50:00Z"),
                vec![],
                vec![("2026-03-10T22:10:00Z", "2026-03-10T23:50:00Z")],
            ),
            (
                Some("2026-03-10T22:00:00Z"),
                Some("2026-03-10T22:00:00Z"),
                vec![],
                vec![],
            ),
            // A leap day and a month's end.
            (
                Some("2028-02-28T00:00:00Z"),
                Some("2028-03-02T00:00:00Z"),
                vec![(Day, at("2028-02-28T00:00:00Z"), at("2028-03-02T00:00:00Z"))],
                vec![],
            ),
        ] {
            let split = split(from.map(t), to.map(t));
            let edges: Vec<_> = edges.into_iter().map(|(a, b)| (t(a), t(b))).collect();
            assert_eq!(
                (&split.periods, &split.edges),
                (&periods, &edges),
                "{from:?}..{to:?}"
            );
        }
    }

    /// Every instant of a range falls in exactly one part, at every minute of a few days
    /// around a month's end.
    #[test]
    fn the_parts_cover_the_range_exactly_once() {
        let base = t("2026-01-30T20:00:00Z");
        let minutes = |m: i64| base + Duration::minutes(m);
        for (lo, hi) in [
            (0, 10),
            (7, 200),
            (7, 4_000),
            (61, 5_000),
            (0, 2_880),
            (13, 3_000),
        ] {
            let (from, to) = (minutes(lo), minutes(hi));
            let split = split(Some(from), Some(to));
            for m in lo - 30..hi + 30 {
                let x = At::T(minutes(m));
                let in_periods = split
                    .periods
                    .iter()
                    .filter(|(_, a, b)| *a <= x && x < *b)
                    .count();
                let in_edges = split
                    .edges
                    .iter()
                    .filter(|(a, b)| *a <= minutes(m) && minutes(m) < *b)
                    .count();
                let inside = (lo..hi).contains(&m);
                assert_eq!(
                    in_periods + in_edges,
                    usize::from(inside),
                    "{lo}..{hi} at {m}"
                );
            }
        }
    }
}
