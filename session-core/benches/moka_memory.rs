//! Memory held by a `MokaStore` with 1,000,000 sessions of about 200 encoded bytes, measured as
//! the growth of this process's resident set. Run with `cargo bench -p session-core --features moka`.

use std::time::Instant;

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

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` lists benchmarks; this one only runs under `cargo bench`.
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
}
