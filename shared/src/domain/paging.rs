//! Paging rules shared by every collection endpoint.
//!
//! A page starts either after the last row of the previous one (a cursor: keyset paging, the
//! same cost at any depth) or at a page number (`page`, for clients that want numbers:
//! bounded, `MAX_OFFSET_ROWS` deep). Every page fetches one row more than it shows, to know
//! whether a next page exists. Totals are exact from maintained counts where there are some,
//! otherwise counted up to `COUNT_BOUND` rows and marked inexact beyond.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::Validator;

pub const DEFAULT_PAGE_SIZE: i64 = 20;
pub const MAX_PAGE_SIZE: i64 = 100;
/// How deep page numbers reach (in rows); past that, `next` links (cursors) go on.
pub const MAX_OFFSET_ROWS: i64 = 10_000;
/// The largest page number (at `page_size` 1; at larger sizes, `MAX_OFFSET_ROWS / page_size`).
pub const MAX_PAGE: i64 = MAX_OFFSET_ROWS;
/// Rows counted at most for a total; past it the total says "at least".
pub const COUNT_BOUND: i64 = 1_000;

/// `?page=1&page_size=20`: page ≥ 1, 1 ≤ page_size ≤ 100, page × page_size within
/// `MAX_OFFSET_ROWS`.
#[derive(Debug, Clone, Copy, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// 1-based page number (default 1).
    #[param(minimum = 1, example = 1)]
    pub page: Option<i64>,
    /// Items per page, 1..=100 (default 20).
    #[param(minimum = 1, maximum = 100, example = 20)]
    pub page_size: Option<i64>,
}

/// A sort key value of a row (timestamps and amounts as their text: exact, and ordered by
/// the database, not here).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum KeyValue {
    Int(i64),
    Text(String),
}

impl KeyValue {
    /// A timestamp, to the microsecond (PostgreSQL's precision: the cursor is exact).
    pub fn time(at: chrono::DateTime<chrono::Utc>) -> Self {
        Self::Text(at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
    }
}

/// Where a page starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// After this many rows (page numbers).
    Offset(i64),
    /// After the row with this sort key (a cursor's position).
    After(Vec<KeyValue>),
}

/// Validated paging: where to start, how many rows to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub start: Start,
    pub page_size: i64,
    /// The page number, when paging by number.
    pub page: Option<i64>,
}

impl Page {
    /// The first page of `page_size` rows.
    pub fn first(page_size: i64) -> Self {
        Self {
            start: Start::Offset(0),
            page_size,
            page: Some(1),
        }
    }

    /// Rows to fetch: one more than shown, to know whether a next page exists.
    pub fn limit(&self) -> i64 {
        self.page_size + 1
    }

    pub fn offset(&self) -> i64 {
        match self.start {
            Start::Offset(rows) => rows,
            Start::After(_) => 0,
        }
    }

    /// The cursor position, when the page starts after one.
    pub fn after(&self) -> Option<&[KeyValue]> {
        match &self.start {
            Start::After(key) => Some(key),
            Start::Offset(_) => None,
        }
    }
}

impl PageParams {
    pub fn new(page: Option<i64>, page_size: Option<i64>) -> Self {
        Self { page, page_size }
    }

    /// Checks the bounds, recording problems in `v`. A cursor (`after`) replaces the page
    /// number: giving both is a mistake.
    pub fn validate(self, after: Option<Vec<KeyValue>>, v: &mut Validator) -> Option<Page> {
        let page_size = v.check(
            "page_size",
            match self.page_size.unwrap_or(DEFAULT_PAGE_SIZE) {
                s if !(1..=MAX_PAGE_SIZE).contains(&s) => {
                    Err(format!("must be between 1 and {MAX_PAGE_SIZE}"))
                }
                s => Ok(s),
            },
        );
        if let Some(after) = after {
            if self.page.is_some() {
                v.push(
                    "page",
                    "cannot be combined with cursor (a cursor says where to start)",
                );
                return None;
            }
            return Some(Page {
                start: Start::After(after),
                page_size: page_size?,
                page: None,
            });
        }
        let page = v.check(
            "page",
            match self.page.unwrap_or(1) {
                p if p < 1 => Err("must be at least 1".to_string()),
                p => Ok(p),
            },
        );
        let (page, page_size) = (page?, page_size?);
        if (page - 1).saturating_mul(page_size) >= MAX_OFFSET_ROWS {
            v.push(
                "cursor",
                format!(
                    "page numbers reach {MAX_OFFSET_ROWS} rows deep; go further by following \
                     `next` (this parameter)"
                ),
            );
            return None;
        }
        Some(Page {
            start: Start::Offset((page - 1) * page_size),
            page_size,
            page: Some(page),
        })
    }
}

/// How many rows match: exactly, or at least this many.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Total {
    pub value: i64,
    pub exact: bool,
}

impl Total {
    /// From a count capped at `COUNT_BOUND + 1` rows.
    pub fn bounded(counted: i64) -> Self {
        Self {
            value: counted.min(COUNT_BOUND),
            exact: counted <= COUNT_BOUND,
        }
    }

    pub fn exact(value: i64) -> Self {
        Self { value, exact: true }
    }
}

/// One page of a collection.
#[derive(Debug, Serialize, ToSchema)]
pub struct Paged<T> {
    pub items: Vec<T>,
    /// The page number when paging by number; null on a page reached by a cursor.
    pub page: Option<i64>,
    pub page_size: i64,
    /// Rows matching the filters: exact when `total_exact`, else at least this many (counts
    /// stop at 1,000 rows; totals of orders by status are always exact).
    pub total: i64,
    pub total_exact: bool,
    /// Pages of `page_size` rows at `total` (a lower bound when the total is).
    pub total_pages: i64,
    /// The next page (its `cursor`, with the same filters), or null on the last one. Also in
    /// the `Link` header (`rel="next"`).
    pub next: Option<String>,
}

impl<T> Paged<T> {
    pub fn new(items: Vec<T>, page: &Page, total: Total, next: Option<String>) -> Self {
        Self {
            items,
            page: page.page,
            page_size: page.page_size,
            total: total.value,
            total_exact: total.exact,
            total_pages: (total.value + page.page_size - 1) / page.page_size,
            next,
        }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Paged<U> {
        Paged {
            items: self.items.into_iter().map(f).collect(),
            page: self.page,
            page_size: self.page_size,
            total: self.total,
            total_exact: self.total_exact,
            total_pages: self.total_pages,
            next: self.next,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(
        page: Option<i64>,
        page_size: Option<i64>,
        after: Option<Vec<KeyValue>>,
    ) -> Result<Page, Vec<String>> {
        let mut v = Validator::new();
        let page = PageParams { page, page_size }.validate(after, &mut v);
        match v.finish() {
            Ok(()) => Ok(page.unwrap()),
            Err(errors) => Err(errors.into_iter().map(|e| e.field).collect()),
        }
    }

    #[test]
    fn page_numbers_are_bounded_and_a_cursor_replaces_them() {
        let offset = |rows, page_size, page| {
            Ok(Page {
                start: Start::Offset(rows),
                page_size,
                page: Some(page),
            })
        };
        let fields = |f: &[&str]| Err(f.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(params(None, None, None), offset(0, 20, 1));
        assert_eq!(params(Some(3), Some(100), None), offset(200, 100, 3));
        assert_eq!(params(Some(500), Some(20), None), offset(9_980, 20, 500));
        assert_eq!(params(Some(501), Some(20), None), fields(&["cursor"]));
        assert_eq!(params(Some(101), Some(100), None), fields(&["cursor"]));
        assert_eq!(params(Some(i64::MAX), Some(100), None), fields(&["cursor"]));
        assert_eq!(params(Some(0), None, None), fields(&["page"]));
        assert_eq!(params(None, Some(0), None), fields(&["page_size"]));
        assert_eq!(params(None, Some(101), None), fields(&["page_size"]));
        assert_eq!(
            params(Some(-1), Some(-1), None),
            fields(&["page_size", "page"])
        );
        let key = vec![KeyValue::Int(7)];
        assert_eq!(
            params(None, Some(50), Some(key.clone())),
            Ok(Page {
                start: Start::After(key.clone()),
                page_size: 50,
                page: None
            })
        );
        assert_eq!(params(Some(2), None, Some(key)), fields(&["page"]));
    }

    #[test]
    fn totals_and_page_counts() {
        let page = Page::first(20);
        assert_eq!((page.limit(), page.offset()), (21, 0));
        for (counted, value, exact, pages) in [
            (0, 0, true, 0),
            (1, 1, true, 1),
            (20, 20, true, 1),
            (21, 21, true, 2),
            (1_000, 1_000, true, 50),
            (1_001, 1_000, false, 50),
        ] {
            let paged = Paged::<()>::new(vec![], &page, Total::bounded(counted), None);
            assert_eq!(
                (paged.total, paged.total_exact, paged.total_pages),
                (value, exact, pages),
                "{counted}"
            );
        }
    }
}
