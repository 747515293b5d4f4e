//! What a handler read, so a commit can tell whether its changes still follow from it.

use std::collections::HashSet;

use super::State;
use super::change::Change;
use crate::record::Record;

/// The parts of the loaded record the handler's code saw.
#[derive(Debug, Default)]
pub(crate) struct Reads {
    /// Keys read before this request wrote them.
    pub(crate) keys: HashSet<String>,
    /// The whole data map was read.
    pub(crate) all: bool,
    /// The owner was read.
    pub(crate) owner: bool,
}

impl Reads {
    /// The first thing the handler read from `base` that `latest` holds differently, named for
    /// a message; `None` when every read still holds.
    pub(crate) fn changed_between(&self, base: &Record, latest: &Record) -> Option<String> {
        if self.all && base.data != latest.data {
            return Some("the session's data".to_owned());
        }
        if self.owner && base.owner != latest.owner {
            return Some("the session's owner".to_owned());
        }
        self.keys
            .iter()
            .find(|k| base.data.get(k.as_str()) != latest.data.get(k.as_str()))
            .map(|k| format!("{k:?}"))
    }
}

impl State {
    /// Records a read of `key`, unless this request already replaced its value (a read of its
    /// own write depends on nothing stored).
    pub(crate) fn note_read(&mut self, key: &str) {
        if self.reads.keys.contains(key) {
            return;
        }
        let overwritten = self.changes.iter().any(|c| match c {
            Change::Set(k, _) | Change::Remove(k) => k == key,
            Change::Clear => true,
            _ => false,
        });
        if !overwritten {
            self.reads.keys.insert(key.to_owned());
        }
    }

    /// Whether the change set writes anything beyond using up the received flash messages.
    pub(crate) fn writes(changes: &[Change]) -> bool {
        changes.iter().any(|c| !matches!(c, Change::AgeFlash(_)))
    }
}
