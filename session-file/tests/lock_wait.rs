//! A shard lock held by someone else (another process that hangs) bounds the wait: writes fail
//! with a temporary timeout within the store's limit, reads go on, and once the lock is free
//! the store works on, with nothing lost.

use std::fs::OpenOptions;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use session_core::chrono::{Duration as Span, Utc};
use session_core::{ErrorKind, Record, SessionKey, SessionStore};
use session_file::{FileConfig, FileStore};

const LIMIT: Duration = Duration::from_millis(300);

#[tokio::test(flavor = "multi_thread")]
async fn a_held_shard_lock_times_out_writes_and_leaves_reads_and_data_alone() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("lock-wait")
        .join(&SessionKey::random().as_str()[..12]);
    let store = FileStore::connect(FileConfig::new(&dir).with_timeout(LIMIT))
        .await
        .unwrap();
    let mut record = Record::new(SessionKey::random(), Utc::now() + Span::hours(1));
    record.insert("n", 1).unwrap();
    store.create(&record).await.unwrap();

    // Another holder of the shard's lock: a separate open file, as another process would have.
    let key = record.key.as_str();
    let shard = dir.join(&key[..2]).join(&key[2..4]);
    let holder = OpenOptions::new()
        .write(true)
        .open(shard.join(".lock"))
        .unwrap();
    holder.lock().unwrap();

    let mut changed = record.clone();
    changed.insert("n", 2).unwrap();
    let started = Instant::now();
    let err = store
        .save(&changed)
        .await
        .expect_err("saved under a held lock");
    let took = started.elapsed();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err:?}");
    assert!(err.is_temporary(), "{err:?}");
    assert!(err.to_string().contains(".lock"), "{err}");
    assert!(took >= LIMIT / 2 && took < LIMIT * 3, "took {took:?}");
    for write in [
        store.touch(&record.key, Utc::now() + Span::hours(2)).await,
        store.delete(&record.key).await,
        store
            .create(&Record::new(record.key.clone(), record.expires_at))
            .await,
    ] {
        let err = write.expect_err("wrote under a held lock");
        assert_eq!(err.kind(), ErrorKind::Timeout, "{err:?}");
    }
    // Reads take no lock.
    let loaded = store.load(&record.key).await.unwrap().expect("still there");
    assert_eq!(loaded.get::<i64>("n").unwrap(), Some(1));

    holder.unlock().unwrap();
    let version = store
        .save(&changed)
        .await
        .expect("saves once the lock is free");
    assert_eq!(version, record.version + 1);
    let loaded = store.load(&record.key).await.unwrap().unwrap();
    assert_eq!(loaded.get::<i64>("n").unwrap(), Some(2));
    std::fs::remove_dir_all(&dir).unwrap();
}
