//! Any bytes as a stored MessagePack record: decoding never panics, answers what rmp-serde
//! answers (the codec reads its own shape directly and leaves the rest to rmp-serde), and a
//! record that decodes encodes to bytes that decode to the same record.
#![no_main]

use libfuzzer_sys::fuzz_target;
use session_core::{Codec, MessagePack, Record};

mod round_trip {
    include!("round_trip.rs");
}

fuzz_target!(|bytes: &[u8]| {
    round_trip::check(&MessagePack, bytes);
    // As a body behind a MessagePack header, whatever the fuzzer put in front.
    let mut framed = b"Sm\x01".to_vec();
    framed.extend_from_slice(bytes);
    let ours = MessagePack.decode(&framed).ok();
    let theirs = rmp_serde::from_slice::<Record>(bytes).ok();
    assert_eq!(ours, theirs, "the codec and rmp-serde disagree");
});
