//! The file store.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use session_core::chrono::{DateTime, Utc};
use session_core::codec::default_codec;
use session_core::kit::{self, now_millis};
use session_core::{
    Capabilities, Codec, Error, ErrorKind, Operation, Record, Result, SessionKey, SessionStore,
    async_trait,
};

use crate::error::{NAME, map, task_failed};

/// `SSF1`, then the version and the idle expiry (epoch milliseconds), both little-endian, then
/// the encoded record. The header lets version checks and expiry skip the codec.
const MAGIC: &[u8; 4] = b"SSF1";
const HEADER: usize = 4 + 8 + 8;
/// Temporary files older than this were left by a crash and are removed by the sweep.
const STALE_TEMP: Duration = Duration::from_secs(3600);
/// How long an operation may take, waiting for its shard's lock included, unless
/// [`FileStore::with_timeout`] says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

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
/// Every operation is bounded by a timeout ([`DEFAULT_TIMEOUT`], 2 s, or
/// [`FileStore::with_timeout`]): a lock another process holds too long, or a disk (a network
/// file system) that stops answering, gives a temporary [`ErrorKind::Timeout`] instead of
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
/// | shared across processes | yes, on one machine (or a file system with working `flock`) |
/// | maximum record | none |
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use session_core::chrono::{Duration, Utc};
/// use session_core::{Record, SessionKey, SessionStore};
/// use session_file::FileStore;
///
/// let dir = std::env::temp_dir().join(format!("sessions-doc-{}", std::process::id()));
/// let store = FileStore::new(&dir).unwrap();
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

/// What a blocking task may use: the store's folder, and when it must give up waiting.
struct Job {
    root: Arc<PathBuf>,
    deadline: Instant,
    timeout: Duration,
}

impl Job {
    fn new(root: Arc<PathBuf>, timeout: Duration) -> Job {
        Job {
            root,
            deadline: Instant::now() + timeout,
            timeout,
        }
    }

    /// Takes the shard's exclusive lock, waiting at most until the deadline; the lock is held
    /// until the returned file is dropped.
    fn lock(&self, shard: &Path, op: Operation) -> Result<File> {
        fs::create_dir_all(shard).map_err(|e| map(e, op, shard))?;
        let path = shard.join(".lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| map(e, op, &path))?;
        let mut pause = Duration::from_micros(200);
        loop {
            match lock.try_lock() {
                Ok(()) => return Ok(lock),
                Err(std::fs::TryLockError::WouldBlock) => {}
                Err(std::fs::TryLockError::Error(e)) => return Err(map(e, op, &path)),
            }
            let now = Instant::now();
            if now >= self.deadline {
                return Err(kit::timed_out(NAME, op, self.timeout).with_context(format!(
                    "waited {:?} for {}",
                    self.timeout,
                    path.display()
                )));
            }
            std::thread::sleep(pause.min(self.deadline - now));
            pause = (pause * 2).min(Duration::from_millis(20));
        }
    }
}

/// What a locked write found.
enum Found {
    Live { version: u64, body: Vec<u8> },
    Absent,
}

impl FileStore {
    /// A store keeping sessions under `dir`, which is created if missing.
    ///
    /// Fails with a [`ErrorKind::Config`] error when `dir` cannot be created or is not a
    /// directory. This checks the disk, so call it at start-up, not per request.
    pub fn new(dir: impl AsRef<Path>) -> Result<Self> {
        let root = dir.as_ref().to_path_buf();
        fs::create_dir_all(&root).map_err(|e| {
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
        Ok(FileStore {
            root: Arc::new(root),
            codec: default_codec(),
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// This store's sessions, read and written through `codec`.
    pub fn with_codec(mut self, codec: Arc<dyn Codec>) -> Self {
        self.codec = codec;
        self
    }

    /// This store's operations bounded by `timeout` (default [`DEFAULT_TIMEOUT`]), the wait
    /// for a shard's lock included. Past it an operation fails with a temporary
    /// [`ErrorKind::Timeout`].
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
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

impl fmt::Debug for FileStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileStore")
            .field("dir", &self.root)
            .field("codec", &self.codec.name())
            .finish()
    }
}

fn file_bytes(version: u64, expires_ms: i64, body: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(HEADER + body.len());
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&version.to_le_bytes());
    bytes.extend_from_slice(&expires_ms.to_le_bytes());
    bytes.extend_from_slice(body);
    bytes
}

/// The header and body of a session file, or `None` when it does not exist.
fn read_file(path: &Path, op: Operation) -> Result<Option<(u64, i64, Vec<u8>)>> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(map(e, op, path)),
    };
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(|e| map(e, op, path))?;
    if bytes.len() < HEADER || &bytes[..4] != MAGIC {
        return Err(Error::new(ErrorKind::Decode, op)
            .with_store(NAME)
            .with_context(format!("{} is not a session file", path.display())));
    }
    let version = u64::from_le_bytes(bytes[4..12].try_into().unwrap_or_default());
    let expires = i64::from_le_bytes(bytes[12..20].try_into().unwrap_or_default());
    bytes.drain(..HEADER);
    Ok(Some((version, expires, bytes)))
}

/// Reads the session at `path` under the shard lock: live, or absent (missing or expired).
fn found(path: &Path, now: i64, op: Operation) -> Result<Found> {
    Ok(match read_file(path, op)? {
        Some((version, expires, body)) if expires > now => Found::Live { version, body },
        _ => Found::Absent,
    })
}

/// Replaces `target` with `bytes` atomically: temporary file, sync, rename, sync the folder.
fn write_atomic(shard: &Path, target: &Path, bytes: &[u8], op: Operation) -> Result<()> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let tmp = shard.join(format!(
        ".tmp-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let written = (|| {
        let mut file = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, target)?;
        File::open(shard)?.sync_all()
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(map(e, op, target));
    }
    Ok(())
}

fn remove(path: &Path, op: Operation) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(map(e, op, path)),
    }
}

#[async_trait]
impl SessionStore for FileStore {
    fn name(&self) -> &str {
        NAME
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::default().with_sweep(true).with_shared(true)
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
}

/// Deletes expired session files (and temporary files a crash left) under `root`.
fn sweep_dir(job: &Job) -> Result<u64> {
    const OP: Operation = Operation::Sweep;
    let root = job.root.as_path();
    let now = now_millis();
    let mut deleted = 0;
    for first in subdirs(root)? {
        for shard in subdirs(&first)? {
            // Each shard's lock wait is bounded on its own; the sweep as a whole is not.
            let _lock = Job::new(job.root.clone(), job.timeout).lock(&shard, OP)?;
            for entry in fs::read_dir(&shard).map_err(|e| map(e, OP, &shard))? {
                let entry = entry.map_err(|e| map(e, OP, &shard))?;
                let path = entry.path();
                let name = entry.file_name();
                let name = name.to_string_lossy();
                if name.starts_with(".tmp-") {
                    let old = entry
                        .metadata()
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| SystemTime::now().duration_since(t).ok())
                        .is_some_and(|age| age > STALE_TEMP);
                    if old {
                        remove(&path, OP)?;
                    }
                    continue;
                }
                if SessionKey::parse(&name).is_err() {
                    continue;
                }
                match read_file(&path, OP) {
                    Ok(Some((_, expires, _))) if expires <= now => {
                        remove(&path, OP)?;
                        deleted += 1;
                    }
                    Ok(_) => {}
                    // A damaged file is reported by the load that meets it, not by the sweep.
                    Err(e) if e.kind() == ErrorKind::Decode => {
                        tracing::warn!(path = %path.display(), "not a session file; left alone");
                    }
                    Err(e) => return Err(e),
                }
            }
        }
    }
    Ok(deleted)
}

/// The shard folders directly under `dir` (two hex characters each).
fn subdirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut dirs = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| map(e, Operation::Sweep, dir))? {
        let entry = entry.map_err(|e| map(e, Operation::Sweep, dir))?;
        let name = entry.file_name();
        let is_shard = name.len() == 2
            && name
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_hexdigit());
        if is_shard && entry.file_type().is_ok_and(|t| t.is_dir()) {
            dirs.push(entry.path());
        }
    }
    Ok(dirs)
}
