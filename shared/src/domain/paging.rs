//! Paging rules shared by every collection endpoint.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::Validator;

pub const DEFAULT_PAGE_SIZE: i64 = 20;
pub const MAX_PAGE_SIZE: i64 = 100;
/// Highest page number accepted (deep offsets are refused rather than scanned).
pub const MAX_PAGE: i64 = 1_000_000;

/// `?page=1&page_size=20`: page ≥ 1, 1 ≤ page_size ≤ 100.
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

/// Validated paging: safe to turn into LIMIT/OFFSET.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub page: i64,
    pub page_size: i64,
}

impl Page {
    pub fn limit(self) -> i64 {
        self.page_size
    }

    pub fn offset(self) -> i64 {
        (self.page - 1) * self.page_size
    }
}

impl PageParams {
    /// Checks the bounds, recording problems in `v`.
    pub fn validate(self, v: &mut Validator) -> Option<Page> {
        let page = v.check(
            "page",
            match self.page.unwrap_or(1) {
                p if p < 1 => Err("must be at least 1".to_string()),
                // Keeps OFFSET well inside i64 whatever the page size.
                p if p > MAX_PAGE => Err(format!("must be at most {MAX_PAGE}")),
                p => Ok(p),
            },
        );
        let page_size = v.check(
            "page_size",
            match self.page_size.unwrap_or(DEFAULT_PAGE_SIZE) {
                s if !(1..=MAX_PAGE_SIZE).contains(&s) => {
                    Err(format!("must be between 1 and {MAX_PAGE_SIZE}"))
                }
                s => Ok(s),
            },
        );
        Some(Page {
            page: page?,
            page_size: page_size?,
        })
    }
}

/// One page of a collection: `{items, page, page_size, total, total_pages}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub page: i64,
    pub page_size: i64,
    pub total: i64,
    pub total_pages: i64,
}

impl<T> Paged<T> {
    pub fn new(items: Vec<T>, page: Page, total: i64) -> Self {
        Self {
            items,
            page: page.page,
            page_size: page.page_size,
            total,
            total_pages: (total + page.page_size - 1) / page.page_size,
        }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Paged<U> {
        Paged {
            items: self.items.into_iter().map(f).collect(),
            page: self.page,
            page_size: self.page_size,
            total: self.total,
            total_pages: self.total_pages,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(page: Option<i64>, page_size: Option<i64>) -> Result<Page, Vec<String>> {
        let mut v = Validator::new();
        let page = PageParams { page, page_size }.validate(&mut v);
        match v.finish() {
            Ok(()) => Ok(page.unwrap()),
            Err(errors) => Err(errors.into_iter().map(|e| e.field).collect()),
        }
    }

    #[test]
    fn paging_bounds() {
        let ok = |page, page_size| Ok(Page { page, page_size });
        assert_eq!(params(None, None), ok(1, 20));
        assert_eq!(params(Some(3), Some(100)), ok(3, 100));
        assert_eq!(params(Some(1), Some(1)), ok(1, 1));
        assert_eq!(params(Some(0), None), Err(vec!["page".into()]));
        assert_eq!(params(None, Some(0)), Err(vec!["page_size".into()]));
        assert_eq!(params(None, Some(101)), Err(vec!["page_size".into()]));
        assert_eq!(
            params(Some(-1), Some(-1)),
            Err(vec!["page".into(), "page_size".into()])
        );
    }

    #[test]
    fn offsets_and_page_counts() {
        let page = Page {
            page: 3,
            page_size: 20,
        };
        assert_eq!((page.limit(), page.offset()), (20, 40));
        for (total, pages) in [(0, 0), (1, 1), (20, 1), (21, 2), (100, 5)] {
            assert_eq!(Paged::<()>::new(vec![], page, total).total_pages, pages);
        }
    }
}
