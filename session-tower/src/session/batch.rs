//! What waits to be saved for one session in one process: each request's part of the next save,
//! and the state of the saves. Plain data, shared by the queue (which keeps it per session) and
//! the pipeline (which stores it).

use std::sync::Arc;

use tokio::sync::oneshot;

use super::change::Change;
use super::reads::Reads;
use session_core::{Record, Result};

/// What a waiting request is told: the record as stored with its changes, or `None` when the
/// session ended meanwhile.
pub(crate) type Reply = Result<Option<Arc<Record>>>;

/// One request's part of a save.
pub(crate) struct Member {
    pub(crate) changes: Vec<Change>,
    pub(crate) reads: Reads,
    pub(crate) reply: oneshot::Sender<Reply>,
}

/// The saves of one session in one process.
#[derive(Default)]
pub(crate) struct Saves {
    /// A save is in flight (its owner stores `open` after it).
    pub(crate) flushing: bool,
    /// Requests waiting for the next save, in queue order.
    pub(crate) open: Vec<Member>,
    /// The record as the last save stored it (shared with the replies that carried it).
    pub(crate) current: Option<Arc<Record>>,
    /// Bumped whenever a save leaves out a request's changes or fails: records handed on
    /// before that may hold changes that were never stored.
    pub(crate) epoch: u64,
}
