//! Store-level cases: the contract of `SessionStore`, one case per documented behaviour.

mod expiry;
mod lifecycle;
mod lock;
mod owner;
mod sealed;
mod values;
mod walk;

use crate::case::Case;

/// Every store-level case, in order.
pub(crate) fn all() -> Vec<Case> {
    let mut cases = lifecycle::all();
    cases.extend(expiry::all());
    cases.extend(owner::all());
    cases.extend(values::all());
    cases.extend(lock::all());
    cases.extend(sealed::all());
    cases.extend(walk::all());
    cases
}
