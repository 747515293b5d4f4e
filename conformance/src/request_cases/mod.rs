//! Request-level cases: the store behind the tower layer, driven over HTTP with a cookie jar.

mod app;
mod concurrency;
mod flow;
mod identity;
mod semantics;

use crate::case::Case;

/// Every request-level case, in order.
pub(crate) fn all() -> Vec<Case> {
    let mut cases = flow::all();
    cases.extend(identity::all());
    cases.extend(concurrency::all());
    cases.extend(semantics::all());
    cases
}
