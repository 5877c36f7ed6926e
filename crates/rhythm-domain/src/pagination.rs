//! Keyset pagination: a page of items and, when more follow, the key to continue after.
//! Keys are typed per listing; the HTTP adapter turns them into opaque cursors.

use crate::error::Invalid;

/// How many items a page holds: 1 to 200, 50 when unspecified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(u32);

impl Limit {
    pub const DEFAULT: Limit = Limit(50);
    pub const MAX: u32 = 200;

    pub fn new(raw: i64) -> Result<Self, Invalid> {
        match u32::try_from(raw) {
            Ok(n) if (1..=Self::MAX).contains(&n) => Ok(Self(n)),
            _ => Err(Invalid("must be an integer from 1 to 200")),
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }

    /// One more than the page size: fetching it tells whether another page follows.
    pub fn probe(self) -> i64 {
        i64::from(self.0) + 1
    }
}

impl Default for Limit {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Which page to fetch: up to `limit` items strictly after `after` (from the start if none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest<K> {
    pub limit: Limit,
    pub after: Option<K>,
}

impl<K> PageRequest<K> {
    pub fn first(limit: Limit) -> Self {
        Self { limit, after: None }
    }
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T, K> {
    pub items: Vec<T>,
    /// The key to pass as `after` for the next page; `None` on the last page.
    pub next: Option<K>,
}

impl<T, K> Page<T, K> {
    /// Builds a page from up to `limit + 1` fetched rows: the extra row only signals that
    /// more follow. `key` gives the continuation key of an item.
    pub fn from_probe(mut rows: Vec<T>, limit: Limit, key: impl Fn(&T) -> K) -> Self {
        let more = rows.len() > limit.get() as usize;
        rows.truncate(limit.get() as usize);
        let next = if more { rows.last().map(key) } else { None };
        Self { items: rows, next }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U, K> {
        Page { items: self.items.into_iter().map(f).collect(), next: self.next }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_bounds() {
        assert_eq!(Limit::new(1).map(Limit::get), Ok(1));
        assert_eq!(Limit::new(200).map(Limit::get), Ok(200));
        assert!(Limit::new(0).is_err());
        assert!(Limit::new(201).is_err());
        assert!(Limit::new(-5).is_err());
        assert_eq!(Limit::default().get(), 50);
    }

    #[test]
    fn pages_from_probe_rows() {
        let limit = Limit::new(2).unwrap();
        let full = Page::from_probe(vec![1, 2, 3], limit, |n| *n);
        assert_eq!((full.items, full.next), (vec![1, 2], Some(2)));
        let last = Page::from_probe(vec![1, 2], limit, |n| *n);
        assert_eq!((last.items, last.next), (vec![1, 2], None));
        let empty = Page::<u8, u8>::from_probe(vec![], limit, |n| *n);
        assert_eq!((empty.items.len(), empty.next), (0, None));
    }
}
