//! What a handler read, so a commit can tell whether its changes still follow from it.

use super::State;
use super::change::Change;
use session_core::{Data, Record, Value};

/// The parts of the record the handler's code saw, with the values it saw.
#[derive(Debug, Default)]
pub(crate) struct Reads {
    /// Values read before this request wrote them (`None`: the key was absent). A handler
    /// reads few keys: a list is cheaper than a map.
    pub(crate) keys: Vec<(String, Option<Value>)>,
    /// The whole data map, when it was read.
    pub(crate) all: Option<Data>,
    /// The owner, when it was read.
    pub(crate) owner: Option<Option<String>>,
}

impl Reads {
    /// The first thing the handler read that `latest` holds differently, named for a message;
    /// `None` when every read still holds.
    pub(crate) fn changed_in(&self, latest: &Record) -> Option<String> {
        if self.all.as_ref().is_some_and(|all| *all != latest.data) {
            return Some("the session's data".to_owned());
        }
        if self
            .owner
            .as_ref()
            .is_some_and(|owner| *owner != latest.owner)
        {
            return Some("the session's owner".to_owned());
        }
        self.keys
            .iter()
            .find(|(k, seen)| latest.data.get(k.as_str()) != seen.as_ref())
            .map(|(k, _)| format!("{k:?}"))
    }
}

impl State {
    /// Records a read of `key`, unless this request already replaced its value (a read of its
    /// own write depends on nothing stored).
    pub(crate) fn note_read(&mut self, key: &str) {
        if self.reads.keys.iter().any(|(k, _)| k == key) {
            return;
        }
        let overwritten = self.changes.iter().any(|c| match c {
            Change::Set(k, _) | Change::Remove(k) => k == key,
            Change::Clear => true,
            _ => false,
        });
        if !overwritten {
            let seen = self
                .base
                .as_ref()
                .and_then(|(_, r)| r.data.get(key).cloned());
            self.reads.keys.push((key.to_owned(), seen));
        }
    }

    /// Records a read of all data.
    pub(crate) fn note_read_all(&mut self) {
        if self.reads.all.is_none() && !self.changes.iter().any(|c| matches!(c, Change::Clear)) {
            let seen = self
                .base
                .as_ref()
                .map(|(_, r)| r.data.clone())
                .unwrap_or_default();
            self.reads.all = Some(seen);
        }
    }

    /// Records a read of the owner.
    pub(crate) fn note_read_owner(&mut self) {
        if self.reads.owner.is_none() && !self.changes.iter().any(|c| matches!(c, Change::Owner(_)))
        {
            self.reads.owner = Some(self.base.as_ref().and_then(|(_, r)| r.owner.clone()));
        }
    }

    /// Whether the change set writes anything beyond using up the received flash messages.
    pub(crate) fn writes(changes: &[Change]) -> bool {
        changes.iter().any(|c| !matches!(c, Change::AgeFlash(_)))
    }
}
