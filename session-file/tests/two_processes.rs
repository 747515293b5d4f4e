//! Two processes sharing one directory race versioned increments on one session; the shard
//! locks keep every version check exact, so the count ends exact.

use std::path::PathBuf;
use std::process::Command;

use session_core::chrono::{Duration, Utc};
use session_core::{ErrorKind, Record, SessionKey, SessionStore};
use session_file::{FileConfig, FileStore};

const PROCESSES: usize = 2;
const TASKS_PER_PROCESS: usize = 4;
const INCREMENTS_PER_TASK: usize = 25;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().expect("runtime")
}

#[test]
fn two_processes_racing_versioned_increments_end_with_the_exact_count() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("two-processes")
        .join(&SessionKey::random().as_str()[..12]);
    let store = runtime()
        .block_on(FileStore::connect(FileConfig::new(&dir)))
        .unwrap();
    let mut record = Record::new(SessionKey::random(), Utc::now() + Duration::hours(1));
    record.insert("n", 0).unwrap();
    runtime().block_on(store.create(&record)).unwrap();

    let workers: Vec<_> = (0..PROCESSES)
        .map(|_| {
            Command::new(std::env::current_exe().unwrap())
                .args(["worker", "--exact", "--ignored", "--nocapture"])
                .env("SESSION_FILE_WORKER_DIR", &dir)
                .env("SESSION_FILE_WORKER_KEY", record.key.as_str())
                .spawn()
                .expect("start a worker process")
        })
        .collect();
    for mut worker in workers {
        assert!(worker.wait().unwrap().success(), "a worker process failed");
    }

    let end = runtime()
        .block_on(store.load(&record.key))
        .unwrap()
        .unwrap();
    let expected = (PROCESSES * TASKS_PER_PROCESS * INCREMENTS_PER_TASK) as u64;
    assert_eq!(end.get::<u64>("n").unwrap(), Some(expected));
    assert_eq!(end.version, expected, "one version per successful save");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// One worker process: several tasks doing versioned increments with retry on conflict.
#[test]
#[ignore = "run as a child process by two_processes_racing_versioned_increments_end_with_the_exact_count"]
fn worker() {
    let (Ok(dir), Ok(key)) = (
        std::env::var("SESSION_FILE_WORKER_DIR"),
        std::env::var("SESSION_FILE_WORKER_KEY"),
    ) else {
        return;
    };
    let store = runtime()
        .block_on(FileStore::connect(FileConfig::new(dir)))
        .unwrap();
    let key = SessionKey::parse(&key).unwrap();
    runtime().block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..TASKS_PER_PROCESS {
            let (store, key) = (store.clone(), key.clone());
            tasks.push(tokio::spawn(async move {
                for _ in 0..INCREMENTS_PER_TASK {
                    loop {
                        let mut r = store.load(&key).await.unwrap().unwrap();
                        let n = r.get::<u64>("n").unwrap().unwrap();
                        r.insert("n", n + 1).unwrap();
                        match store.save(&r).await {
                            Ok(_) => break,
                            Err(e) if e.kind() == ErrorKind::Conflict => continue,
                            Err(e) => panic!("save failed: {e}"),
                        }
                    }
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
    });
}
