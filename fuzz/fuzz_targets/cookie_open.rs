//! Cookie values against the cookie store: arbitrary text never opens and never panics, and
//! a genuine sealed value with any edit applied opens only when the edit changed nothing.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use session_cookie::{CookieStore, Key};
use session_core::chrono::{Duration, Utc};
use session_core::{ClientSideStore, Opened, Record, SessionToken};

struct Fixture {
    store: CookieStore,
    sealed: String,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let store = CookieStore::new(vec![Key::from_bytes([7; 32])]).expect("a store");
        let token = SessionToken::generate();
        let mut record = Record::new(token.key(), Utc::now() + Duration::days(365));
        record.insert("user", "ada").expect("insert");
        record.insert("cart", vec![1, 2, 3]).expect("insert");
        let sealed = store.seal("session", &token, &record).expect("seal");
        Fixture { store, sealed }
    })
}

fuzz_target!(|input: (&str, u16, u8, bool)| {
    let (text, at, byte, cut) = input;
    let fixture = fixture();

    // Arbitrary text: never a live session.
    if text != fixture.sealed {
        assert!(matches!(
            fixture.store.open("session", text),
            Opened::Invalid(_)
        ));
    }

    // The genuine value, one byte replaced (or cut there): valid only when unchanged.
    let mut edited = fixture.sealed.clone().into_bytes();
    let at = usize::from(at) % edited.len();
    if cut {
        edited.truncate(at);
    } else {
        edited[at] = byte;
    }
    if let Ok(edited) = String::from_utf8(edited) {
        let opened = fixture.store.open("session", &edited);
        if edited == fixture.sealed {
            assert!(matches!(opened, Opened::Valid { .. }));
        } else {
            assert!(matches!(opened, Opened::Invalid(_)), "an edited cookie opened");
        }
    }
    // The right value under another cookie name is bound to its name.
    assert!(matches!(
        fixture.store.open("other", &fixture.sealed),
        Opened::Invalid(_)
    ));
});
