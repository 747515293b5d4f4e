//! Where the file store keeps sessions, and how.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use session_core::Codec;
use session_core::codec::default_codec;

/// How long an operation may take, waiting for its shard's lock included, unless
/// [`FileConfig::with_timeout`] says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// Settings for a [`FileStore`](crate::FileStore): the directory, and the options every
/// driver has (codec, time limit).
///
/// ```
/// use std::time::Duration;
/// use session_file::FileConfig;
///
/// let config = FileConfig::new("storage/sessions").with_timeout(Duration::from_secs(1));
/// assert_eq!(config.dir(), std::path::Path::new("storage/sessions"));
/// ```
#[derive(Clone)]
pub struct FileConfig {
    pub(crate) dir: PathBuf,
    pub(crate) codec: Arc<dyn Codec>,
    pub(crate) timeout: Duration,
}

impl FileConfig {
    /// Sessions under `dir` (created if missing), with the defaults: a 2 second limit per
    /// operation ([`DEFAULT_TIMEOUT`]) and the MessagePack codec.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        FileConfig {
            dir: dir.into(),
            codec: default_codec(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Bounds every operation by `timeout`, the wait for a shard's lock included. Past it an
    /// operation fails with a temporary
    /// [`ErrorKind::Timeout`](session_core::ErrorKind::Timeout).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Writes the body of each session file (after its fixed header) with `codec` (MessagePack
    /// by default); files written with the other codec stay readable.
    pub fn with_codec(mut self, codec: Arc<dyn Codec>) -> Self {
        self.codec = codec;
        self
    }

    /// The directory sessions are kept in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl fmt::Debug for FileConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileConfig")
            .field("dir", &self.dir)
            .field("codec", &self.codec.name())
            .field("timeout", &self.timeout)
            .finish()
    }
}
