//! The change set: what a handler did, replayable onto a freshly loaded record.

use chrono::{DateTime, Utc};

use session_core::{Data, Lifetime, Record, Value};

/// One thing a handler did to the session.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Change {
    Set(String, Value),
    Remove(String),
    /// Add to an integer, starting from 0 when absent (or no longer an integer).
    Increment(String, i64),
    /// Drop all data and flash.
    Clear,
    /// The flash messages this request received are used up; remove those still unchanged.
    AgeFlash(Data),
    /// A message for the next request.
    Flash(String, Value),
    Owner(Option<String>),
    /// Append to an array, starting one when absent (or not an array).
    Push(String, Value),
    /// This session's own lifetime (`None`: the configured one).
    Lifetime(Option<Lifetime>),
    /// This session's absolute deadline (`None`: none but the configured one).
    Deadline(Option<DateTime<Utc>>),
    /// Replace all data (flash stays).
    ReplaceData(Data),
}

impl Change {
    /// Applies this change to `record`'s data, flash and owner.
    pub(crate) fn apply(&self, record: &mut Record) {
        match self {
            Change::Set(k, v) => {
                record.data.insert(k.clone(), v.clone());
            }
            Change::Remove(k) => {
                record.data.remove(k);
            }
            Change::Increment(k, by) => {
                let next = record
                    .data
                    .get(k)
                    .and_then(Value::as_i64)
                    .map_or(*by, |n| n.saturating_add(*by));
                record.data.insert(k.clone(), next.into());
            }
            Change::Clear => {
                record.data.clear();
                record.flash.clear();
            }
            Change::AgeFlash(seen) => {
                for (k, v) in seen {
                    if record.flash.get(k) == Some(v) {
                        record.flash.remove(k);
                    }
                }
            }
            Change::Flash(k, v) => {
                record.flash.insert(k.clone(), v.clone());
            }
            Change::Owner(owner) => record.owner.clone_from(owner),
            Change::Push(k, v) => match record.data.get_mut(k) {
                Some(Value::Array(items)) => items.push(v.clone()),
                _ => {
                    record.data.insert(k.clone(), Value::Array(vec![v.clone()]));
                }
            },
            Change::Lifetime(lifetime) => record.lifetime = *lifetime,
            Change::Deadline(deadline) => record.deadline = *deadline,
            Change::ReplaceData(data) => record.data.clone_from(data),
        }
    }

    /// Whether applying this change to `view` (the record as the handler sees it, if any)
    /// would leave it as it is, so recording it would only cost a write.
    pub(crate) fn changes_nothing_in(&self, view: Option<&Record>) -> bool {
        let Some(r) = view else {
            return matches!(
                self,
                Change::Remove(_) | Change::Owner(None) | Change::Clear
            );
        };
        match self {
            Change::Set(k, v) => r.data.get(k) == Some(v),
            Change::Remove(k) => !r.data.contains_key(k),
            Change::Flash(k, v) => r.flash.get(k) == Some(v),
            Change::Owner(owner) => r.owner == *owner,
            Change::Lifetime(lifetime) => r.lifetime == *lifetime,
            Change::Deadline(deadline) => r.deadline == *deadline,
            Change::ReplaceData(data) => r.data == *data,
            Change::Clear => r.data.is_empty() && r.flash.is_empty(),
            Change::Increment(_, by) => *by == 0,
            Change::AgeFlash(_) | Change::Push(..) => false,
        }
    }

    /// Whether this change alone would leave something worth storing in a new record.
    pub(crate) fn stores_something(record: &Record) -> bool {
        !record.data.is_empty() || !record.flash.is_empty() || record.owner.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use session_core::SessionKey;

    fn record() -> Record {
        Record::new(SessionKey::random(), Utc::now())
    }

    #[test]
    fn replaying_onto_a_concurrently_changed_record_merges() {
        let changes = [
            Change::Set("mine".into(), 1.into()),
            Change::Increment("count".into(), 1),
        ];
        let mut theirs = record();
        theirs.data.insert("theirs".into(), 2.into());
        theirs.data.insert("count".into(), 5.into());
        for c in &changes {
            c.apply(&mut theirs);
        }
        assert_eq!(theirs.data["mine"], 1);
        assert_eq!(theirs.data["theirs"], 2);
        assert_eq!(theirs.data["count"], 6);
    }

    #[test]
    fn aging_keeps_messages_flashed_concurrently() {
        let mut r = record();
        r.flash.insert("old".into(), "seen".into());
        r.flash.insert("new".into(), "from another request".into());
        let mut seen = Data::new();
        seen.insert("old".into(), "seen".into());
        Change::AgeFlash(seen).apply(&mut r);
        assert!(!r.flash.contains_key("old"));
        assert!(r.flash.contains_key("new"));
    }

    #[test]
    fn increment_saturates_and_restarts_on_non_integers() {
        let mut r = record();
        r.data.insert("n".into(), i64::MAX.into());
        Change::Increment("n".into(), 1).apply(&mut r);
        assert_eq!(r.data["n"], i64::MAX);
        r.data.insert("n".into(), "text".into());
        Change::Increment("n".into(), 3).apply(&mut r);
        assert_eq!(r.data["n"], 3);
    }
}
