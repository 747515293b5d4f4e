//! The file store.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use session_core::chrono::{DateTime, Utc};
use session_core::kit::{self, now_millis};
use session_core::{
    Capabilities, Codec, Error, Operation, Record, Result, SessionKey, SessionStore, WalkCursor,
    WalkPage, async_trait,
};

use crate::config::FileConfig;
use crate::disk::{
    Found, Job, file_bytes, found, read_file, remove, sweep_dir, walk_dir, write_atomic,
};
use crate::error::{NAME, task_failed};

/// Sessions as files under one directory.
///
/// Each session is one file, named by its key (64 hex characters, so no input can name a path
/// outside the directory), in a two-level shard (`ab/cd/abcd…`) so a million sessions spread over
/// 65,536 folders. Writes go to a temporary file that is synced and renamed over the old one, so
/// a reader sees the old record or the new one, never half of either, and a crash loses at most
/// the write in progress. Every read-modify-write holds an exclusive advisory lock on the
/// shard's `.lock` file, so several processes sharing the directory keep the version check
/// exact. File I/O runs on the blocking thread pool, never on the async workers.
///
/// Every operation is bounded by a timeout ([`DEFAULT_TIMEOUT`](crate::DEFAULT_TIMEOUT), 2 s, or
/// [`FileConfig::with_timeout`]): a lock another process holds too long, or a disk (a network
/// file system) that stops answering, gives a temporary [`ErrorKind::Timeout`](session_core::ErrorKind::Timeout) instead of
/// holding the request. A write that timed out may still complete in the background, as with
/// any backend. The sweep is bounded per shard (each lock wait), not as a whole.
///
/// | capability | |
/// |---|---|
/// | conditional writes | yes (version in the file header, checked under the shard lock) |
/// | revocable | yes |
/// | native expiry | no: expired files stay until swept (they are never returned) |
/// | sweep | yes: [`SessionStore::sweep`] deletes expired files; run a `Sweeper` |
/// | owner index | no: listing a user's sessions would read every file |
/// | walk | yes (in key order, one shard folder at a time; a damaged file is left out with a warning) |
/// | shared across processes | yes, on one machine (or a file system with working `flock`) |
/// | maximum record | none |
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use session_core::chrono::{Duration, Utc};
/// use session_core::{Record, SessionKey, SessionStore};
/// use session_file::{FileConfig, FileStore};
///
/// let dir = std::env::temp_dir().join(format!("sessions-doc-{}", std::process::id()));
/// let store = FileStore::connect(FileConfig::new(&dir)).await.unwrap();
/// let record = Record::new(SessionKey::random(), Utc::now() + Duration::minutes(30));
/// store.create(&record).await.unwrap();
/// assert!(store.load(&record.key).await.unwrap().is_some());
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # });
/// ```
#[derive(Clone)]
pub struct FileStore {
    root: Arc<PathBuf>,
    codec: Arc<dyn Codec>,
    timeout: Duration,
}

impl FileStore {
    /// A store keeping sessions where `config` says; the directory is created if missing.
    ///
    /// Fails with a [`ErrorKind::Config`](session_core::ErrorKind::Config) error when the directory cannot be created or is not
    /// a directory. This checks the disk, so call it at start-up, not per request.
    pub async fn connect(config: FileConfig) -> Result<Self> {
        let root = config.dir.clone();
        tokio::task::spawn_blocking(move || prepare(&root))
            .await
            .map_err(|e| task_failed(Operation::Connect, e))??;
        Ok(FileStore {
            root: Arc::new(config.dir),
            codec: config.codec,
            timeout: config.timeout,
        })
    }

    /// The directory sessions are kept in.
    pub fn dir(&self) -> &Path {
        &self.root
    }

    fn shard(&self, key: &SessionKey) -> PathBuf {
        let k = key.as_str();
        self.root.join(&k[..2]).join(&k[2..4])
    }

    /// Runs `work` on the blocking pool, giving up after the store's timeout (the task's own
    /// lock waits end by then too).
    async fn blocking<T: Send + 'static>(
        &self,
        op: Operation,
        work: impl FnOnce(&Job) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let job = Job::new(self.root.clone(), self.timeout);
        let task = tokio::task::spawn_blocking(move || work(&job));
        kit::within(self.timeout, NAME, op, async {
            task.await.map_err(|e| task_failed(op, e))?
        })
        .await
    }

    /// Runs `work` on the blocking pool with no overall limit (each lock wait still bounded).
    async fn blocking_unbounded<T: Send + 'static>(
        &self,
        op: Operation,
        work: impl FnOnce(&Job) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let timeout = self.timeout;
        let root = self.root.clone();
        tokio::task::spawn_blocking(move || work(&Job::new(root, timeout)))
            .await
            .map_err(|e| task_failed(op, e))?
    }

    fn encode(&self, record: &Record, op: Operation) -> Result<Vec<u8>> {
        kit::encode(&*self.codec, record, None, NAME, op)
    }
}

/// Creates the session directory if missing, and checks it is one.
fn prepare(root: &Path) -> Result<()> {
    fs::create_dir_all(root).map_err(|e| {
        Error::config(format!(
            "cannot create the session directory {}",
            root.display()
        ))
        .with_store(NAME)
        .with_source(e)
    })?;
    if !root.is_dir() {
        return Err(
            Error::config(format!("{} is not a directory", root.display())).with_store(NAME),
        );
    }
    Ok(())
}

impl fmt::Debug for FileStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileStore")
            .field("dir", &self.root)
            .field("codec", &self.codec.name())
            .finish()
    }
}

#[async_trait]
impl SessionStore for FileStore {
    fn name(&self) -> &str {
        NAME
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
            .with_sweep(true)
            .with_shared(true)
            .with_walk(true)
    }

    async fn load(&self, key: &SessionKey) -> Result<Option<Record>> {
        let path = self.shard(key).join(key.as_str());
        // No lock: the rename makes every write atomic for readers.
        let read = self
            .blocking(Operation::Load, move |_| read_file(&path, Operation::Load))
            .await?;
        let Some((version, expires, body)) = read else {
            return Ok(None);
        };
        if expires <= now_millis() {
            return Ok(None);
        }
        kit::decode(&*self.codec, &body, version, expires, NAME).map(Some)
    }

    async fn create(&self, record: &Record) -> Result<()> {
        const OP: Operation = Operation::Create;
        let bytes = file_bytes(
            record.version,
            record.expires_at.timestamp_millis(),
            &self.encode(record, OP)?,
        );
        let shard = self.shard(&record.key);
        let path = shard.join(record.key.as_str());
        let created = self
            .blocking(OP, move |job| {
                let _lock = job.lock(&shard, OP)?;
                match found(&path, now_millis(), OP)? {
                    Found::Live { .. } => Ok(false),
                    Found::Absent => write_atomic(&shard, &path, &bytes, OP).map(|()| true),
                }
            })
            .await?;
        if created {
            Ok(())
        } else {
            Err(Error::already_exists(OP).with_store(NAME))
        }
    }

    async fn save(&self, record: &Record) -> Result<u64> {
        const OP: Operation = Operation::Save;
        let body = self.encode(record, OP)?;
        let (expected, expires) = (record.version, record.expires_at.timestamp_millis());
        let shard = self.shard(&record.key);
        let path = shard.join(record.key.as_str());
        self.blocking(OP, move |job| {
            let _lock = job.lock(&shard, OP)?;
            match found(&path, now_millis(), OP)? {
                Found::Absent => Err(Error::not_found(OP).with_store(NAME)),
                Found::Live { version, .. } if version != expected => {
                    Err(kit::version_conflict(NAME, OP, version, expected))
                }
                Found::Live { version, .. } => {
                    let next = version + 1;
                    write_atomic(&shard, &path, &file_bytes(next, expires, &body), OP)?;
                    Ok(next)
                }
            }
        })
        .await
    }

    async fn touch(&self, key: &SessionKey, expires_at: DateTime<Utc>) -> Result<()> {
        const OP: Operation = Operation::Touch;
        let shard = self.shard(key);
        let path = shard.join(key.as_str());
        let expires = expires_at.timestamp_millis();
        self.blocking(OP, move |job| {
            let _lock = job.lock(&shard, OP)?;
            match found(&path, now_millis(), OP)? {
                Found::Absent => Err(Error::not_found(OP).with_store(NAME)),
                Found::Live { version, body } => {
                    write_atomic(&shard, &path, &file_bytes(version, expires, &body), OP)
                }
            }
        })
        .await
    }

    async fn delete(&self, key: &SessionKey) -> Result<()> {
        const OP: Operation = Operation::Delete;
        let shard = self.shard(key);
        let path = shard.join(key.as_str());
        self.blocking(OP, move |job| {
            if !shard.exists() {
                return Ok(());
            }
            let _lock = job.lock(&shard, OP)?;
            remove(&path, OP)
        })
        .await
    }

    async fn sweep(&self) -> Result<u64> {
        self.blocking_unbounded(Operation::Sweep, sweep_dir).await
    }

    async fn list_by_owner(&self, _owner: &str) -> Result<Vec<SessionKey>> {
        Err(Error::unsupported(
            Operation::ListByOwner,
            "the file store keeps no owner index; listing would read every session",
        )
        .with_store(NAME))
    }

    async fn delete_by_owner(&self, _owner: &str) -> Result<u64> {
        Err(Error::unsupported(
            Operation::DeleteByOwner,
            "the file store keeps no owner index; listing would read every session",
        )
        .with_store(NAME))
    }

    async fn walk(&self, from: Option<&WalkCursor>, limit: usize) -> Result<WalkPage> {
        let after = from.map(|c| c.key(NAME)).transpose()?;
        let limit = limit.max(1);
        let root = self.root.clone();
        let (files, filled) = self
            .blocking(Operation::Walk, move |_| {
                walk_dir(&root, after.as_ref(), limit)
            })
            .await?;
        let next = match files.last() {
            Some((key, ..)) if filled => Some(WalkCursor::after(key)),
            _ => None,
        };
        let records = files
            .into_iter()
            .map(|(_, version, expires, body)| {
                kit::decode(&*self.codec, &body, version, expires, NAME)
            })
            .collect::<Result<Vec<Record>>>()?;
        Ok(WalkPage { records, next })
    }
}
