//! Memory held by a `MokaStore` with 1,000,000 sessions of about 200 encoded bytes, measured as
//! the growth of this process's resident set; then, in a process of its own, what moka itself
//! holds per entry with nothing in it. Run with `cargo bench -p session-core --features moka`.

use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use session_core::chrono::{Duration, Utc};
use session_core::{Codec, MessagePack, MokaStore, Record, SessionKey, SessionStore};

const SESSIONS: u64 = 1_000_000;

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn record() -> Record {
    let mut record = Record::new(SessionKey::random(), Utc::now() + Duration::hours(2));
    record.insert("user_id", 184_467u64).unwrap();
    record.insert("name", "Ada Lovelace").unwrap();
    record.insert("roles", ["editor"]).unwrap();
    record.insert("csrf", "Jx1yQm0n2Vb7w3Kp9Lr4Ts6").unwrap();
    record
}

/// The cache's own cost: moka alone, built as the store builds it (a bound, an expiry per
/// entry, an eviction listener), holding a 32-byte key and an empty value per entry. Runs in a
/// process of its own, since freed memory does not always leave the resident set.
fn floor() {
    struct Fixed;
    impl moka::Expiry<[u8; 32], Arc<[u8]>> for Fixed {
        fn expire_after_create(
            &self,
            _: &[u8; 32],
            _: &Arc<[u8]>,
            _: Instant,
        ) -> Option<StdDuration> {
            Some(StdDuration::from_secs(7200))
        }
    }
    let before = resident_bytes();
    let held = {
        let cache: moka::sync::Cache<[u8; 32], Arc<[u8]>> = moka::sync::Cache::builder()
            .max_capacity(SESSIONS + 1000)
            .expire_after(Fixed)
            .eviction_listener(|_, _, _| {})
            .build();
        let empty: Arc<[u8]> = Arc::from(Vec::new());
        for _ in 0..SESSIONS {
            let key = SessionKey::random();
            let mut slot = [0u8; 32];
            slot.copy_from_slice(&key.as_str().as_bytes()[..32]);
            cache.insert(slot, empty.clone());
        }
        cache.run_pending_tasks();
        let held = cache.entry_count();
        (held, cache)
    };
    let after = resident_bytes();
    println!(
        "moka_memory: the cache alone, {} entries of a 32-byte key and an empty value: {:.0} bytes per entry",
        held.0,
        (after.saturating_sub(before)) as f64 / held.0.max(1) as f64
    );
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` lists benchmarks; this one only runs under `cargo bench`.
    }
    if std::env::args().any(|a| a == "--floor") {
        return floor();
    }
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let sample = record();
    let encoded = MessagePack.encode(&sample).expect("encode").len();
    let store = MokaStore::builder().max_entries(SESSIONS + 1000).build();
    let before = resident_bytes();
    let started = Instant::now();
    rt.block_on(async {
        let mut record = sample.clone();
        for _ in 0..SESSIONS {
            record.key = SessionKey::random();
            store.create(&record).await.expect("create");
        }
    });
    let took = started.elapsed();
    let held = rt.block_on(store.entry_count());
    let after = resident_bytes();
    let per_session = (after.saturating_sub(before)) as f64 / held.max(1) as f64;
    println!(
        "moka_memory: {held} sessions of {encoded} encoded bytes: {:.0} MiB resident growth, \
         {per_session:.0} bytes per session; filled in {took:.2?} ({:.0} creates/s)",
        (after.saturating_sub(before)) as f64 / (1024.0 * 1024.0),
        held as f64 / took.as_secs_f64()
    );
    drop(store);
    let status = std::env::current_exe()
        .and_then(|exe| std::process::Command::new(exe).arg("--floor").status());
    if !status.as_ref().is_ok_and(|s| s.success()) {
        eprintln!("moka_memory: the cache-alone measurement did not run: {status:?}");
    }
}
