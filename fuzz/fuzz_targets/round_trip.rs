// The check both record targets run, included by each.

/// Decodes `bytes` as a stored record under `codec`; a record that decodes must encode, and
/// its encoding must decode to the same record.
pub fn check(codec: &dyn session_core::Codec, bytes: &[u8]) {
    let Ok(record) = session_core::Record::from_stored(codec, bytes, 1, 1_700_000_000_000) else {
        return;
    };
    let encoded = match codec.encode(&record) {
        Ok(encoded) => encoded,
        // A decodable record the codec refuses to write (an owner past the limit) is refused
        // with an error, which is allowed; a panic is not.
        Err(_) => return,
    };
    let again = session_core::Record::from_stored(codec, &encoded, 1, 1_700_000_000_000)
        .expect("a record this codec wrote decodes");
    assert_eq!(again, record);
}
