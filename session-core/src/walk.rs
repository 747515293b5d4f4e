//! Walking every live record of a store in pages ([`SessionStore::walk`](crate::SessionStore::walk)).

use std::fmt;

use crate::error::{Error, ErrorKind, Operation, Result};
use crate::id::SessionKey;
use crate::record::Record;

/// Where a walk goes on: text the store made for its next page, opaque to everyone else.
///
/// It can be kept (in a file, say) and given back later to resume a walk; a store refuses a
/// cursor it did not make with [`ErrorKind::Invalid`].
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct WalkCursor(String);

impl WalkCursor {
    /// A cursor from its text, as [`WalkCursor::as_str`] gave it.
    pub fn new(text: impl Into<String>) -> Self {
        WalkCursor(text.into())
    }

    /// The cursor as text, to keep and give back later.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The cursor after `key`, for stores that walk in key order.
    pub fn after(key: &SessionKey) -> Self {
        WalkCursor(key.as_str().to_owned())
    }

    /// The key this cursor goes on after, for stores that walk in key order; a cursor that
    /// names no key is [`ErrorKind::Invalid`].
    pub fn key(&self, store: &'static str) -> Result<SessionKey> {
        SessionKey::parse(&self.0).map_err(|e| {
            Error::new(ErrorKind::Invalid, Operation::Walk)
                .with_store(store)
                .with_context("the walk cursor was not made by this store")
                .with_source(e)
        })
    }
}

impl fmt::Debug for WalkCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("WalkCursor").field(&self.0).finish()
    }
}

impl fmt::Display for WalkCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One page of a walk.
#[derive(Debug, Clone)]
pub struct WalkPage {
    /// The live records of this page.
    pub records: Vec<Record>,
    /// Where the next page starts; `None` when the walk is done.
    pub next: Option<WalkCursor>,
}

/// The page limit a store uses for `limit`: at least one.
pub(crate) fn page_limit(limit: usize) -> usize {
    limit.max(1)
}

/// The `limit` smallest of `keys` above `after`, in order, and whether more are left: the
/// paging of stores that hold every key in memory.
pub(crate) fn keys_after(
    keys: impl Iterator<Item = SessionKey>,
    after: Option<&SessionKey>,
    limit: usize,
) -> (Vec<SessionKey>, bool) {
    let limit = page_limit(limit);
    let mut above: Vec<SessionKey> = keys.filter(|k| after.is_none_or(|a| k > a)).collect();
    let more = above.len() > limit;
    if more {
        above.select_nth_unstable(limit);
        above.truncate(limit);
    }
    above.sort_unstable();
    (above, more)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_after_pages_in_order_and_says_when_more_are_left() {
        let mut all: Vec<SessionKey> = (0..10).map(|_| SessionKey::random()).collect();
        let (first, more) = keys_after(all.iter().cloned(), None, 4);
        assert!(more);
        all.sort();
        assert_eq!(first, all[..4]);
        let (second, more) = keys_after(all.iter().cloned(), first.last(), 4);
        assert!(more);
        assert_eq!(second, all[4..8]);
        let (last, more) = keys_after(all.iter().cloned(), second.last(), 4);
        assert!(!more);
        assert_eq!(last, all[8..]);
        let (none, more) = keys_after(all.iter().cloned(), None, 0);
        assert_eq!((none.len(), more), (1, true), "a limit of 0 counts as 1");
    }

    #[test]
    fn a_cursor_that_names_no_key_is_invalid() {
        let err = WalkCursor::new("not a key").key("memory").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Invalid);
        assert_eq!(err.operation(), Operation::Walk);
        let key = SessionKey::random();
        assert_eq!(WalkCursor::after(&key).key("memory").unwrap(), key);
    }
}
