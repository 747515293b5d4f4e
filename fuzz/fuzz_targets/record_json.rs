//! Any bytes as a stored JSON record: decoding never panics, and a record that decodes encodes
//! to bytes that decode to the same record.
#![no_main]

use libfuzzer_sys::fuzz_target;
use session_core::Json;

mod round_trip {
    include!("round_trip.rs");
}

fuzz_target!(|bytes: &[u8]| round_trip::check(&Json, bytes));
