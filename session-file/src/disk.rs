//! The files behind the store: their format, atomic replacement, shard locks and the sweep.
//! Everything here runs on the blocking thread pool.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use session_core::kit::{self, now_millis};
use session_core::{Error, ErrorKind, Operation, Result, SessionKey};

use crate::error::{NAME, map};

/// `SSF1`, then the version and the idle expiry (epoch milliseconds), both little-endian, then
/// the encoded record. The header lets version checks and expiry skip the codec.
const MAGIC: &[u8; 4] = b"SSF1";
const HEADER: usize = 4 + 8 + 8;
/// Temporary files older than this were left by a crash and are removed by the sweep.
const STALE_TEMP: Duration = Duration::from_secs(3600);
/// What a blocking task may use: the store's folder, and when it must give up waiting.
pub(crate) struct Job {
    root: Arc<PathBuf>,
    deadline: Instant,
    timeout: Duration,
}

impl Job {
    pub(crate) fn new(root: Arc<PathBuf>, timeout: Duration) -> Job {
        Job {
            root,
            deadline: Instant::now() + timeout,
            timeout,
        }
    }

    /// Takes the shard's exclusive lock, waiting at most until the deadline; the lock is held
    /// until the returned file is dropped.
    pub(crate) fn lock(&self, shard: &Path, op: Operation) -> Result<File> {
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
pub(crate) enum Found {
    Live { version: u64, body: Vec<u8> },
    Absent,
}

pub(crate) fn file_bytes(version: u64, expires_ms: i64, body: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(HEADER + body.len());
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&version.to_le_bytes());
    bytes.extend_from_slice(&expires_ms.to_le_bytes());
    bytes.extend_from_slice(body);
    bytes
}

/// The header and body of a session file, or `None` when it does not exist.
pub(crate) fn read_file(path: &Path, op: Operation) -> Result<Option<(u64, i64, Vec<u8>)>> {
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
pub(crate) fn found(path: &Path, now: i64, op: Operation) -> Result<Found> {
    Ok(match read_file(path, op)? {
        Some((version, expires, body)) if expires > now => Found::Live { version, body },
        _ => Found::Absent,
    })
}

/// Replaces `target` with `bytes` atomically: temporary file, sync, rename, sync the folder.
pub(crate) fn write_atomic(shard: &Path, target: &Path, bytes: &[u8], op: Operation) -> Result<()> {
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

pub(crate) fn remove(path: &Path, op: Operation) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(map(e, op, path)),
    }
}

/// Deletes expired session files (and temporary files a crash left) under `root`.
pub(crate) fn sweep_dir(job: &Job) -> Result<u64> {
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

/// A session file as a walk reads it: its key, version, idle expiry and encoded record.
pub(crate) type WalkedFile = (SessionKey, u64, i64, Vec<u8>);

/// One page of a walk in key order: the header and body of up to `limit` live session files
/// whose keys come after `after`, and whether the page was filled (so more may follow).
/// Shard folders are read one at a time, in order; a file that is not a session file is left
/// out with a warning, as the sweep leaves it.
pub(crate) fn walk_dir(
    root: &Path,
    after: Option<&SessionKey>,
    limit: usize,
) -> Result<(Vec<WalkedFile>, bool)> {
    const OP: Operation = Operation::Walk;
    let now = now_millis();
    let after_name = after.map(SessionKey::as_str);
    let mut page = Vec::new();
    let mut firsts = subdirs_for(root, OP)?;
    firsts.sort();
    for first in firsts {
        let first_name = name_of(&first);
        if after_name.is_some_and(|a| first_name.as_str() < &a[..2]) {
            continue;
        }
        let mut shards = subdirs_for(&first, OP)?;
        shards.sort();
        for shard in shards {
            let prefix = format!("{first_name}{}", name_of(&shard));
            if after_name.is_some_and(|a| prefix.as_str() < &a[..4]) {
                continue;
            }
            let mut keys: Vec<SessionKey> = Vec::new();
            for entry in fs::read_dir(&shard).map_err(|e| map(e, OP, &shard))? {
                let entry = entry.map_err(|e| map(e, OP, &shard))?;
                if let Ok(key) = SessionKey::parse(&entry.file_name().to_string_lossy())
                    && after.is_none_or(|a| &key > a)
                {
                    keys.push(key);
                }
            }
            keys.sort();
            for key in keys {
                let path = shard.join(key.as_str());
                match read_file(&path, OP) {
                    Ok(Some((version, expires, body))) if expires > now => {
                        page.push((key, version, expires, body));
                        if page.len() >= limit {
                            return Ok((page, true));
                        }
                    }
                    // Gone since it was listed, or expired: not live.
                    Ok(_) => {}
                    Err(e) if e.kind() == ErrorKind::Decode => {
                        tracing::warn!(path = %path.display(), "not a session file; left out of the walk");
                    }
                    Err(e) => return Err(e),
                }
            }
        }
    }
    Ok((page, false))
}

fn name_of(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The shard folders directly under `dir` (two hex characters each).
fn subdirs(dir: &Path) -> Result<Vec<PathBuf>> {
    subdirs_for(dir, Operation::Sweep)
}

/// The shard folders directly under `dir`, errors reported as part of `op`.
fn subdirs_for(dir: &Path, op: Operation) -> Result<Vec<PathBuf>> {
    let mut dirs = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| map(e, op, dir))? {
        let entry = entry.map_err(|e| map(e, op, dir))?;
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
