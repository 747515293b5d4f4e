//! Nonces for sealing: unique per seal without asking the operating system every time.
//!
//! A nonce is 16 bytes drawn from the operating system once per thread, followed by that
//! thread's 64-bit seal counter. Within a thread the counter never repeats; between threads
//! and processes the 128 random bits differ (among n draws, two alike with a chance of about
//! n²/2¹²⁹: negligible for any number of threads). A process started by `fork` inherits its
//! parent's thread state, so the state remembers the process it was drawn in and draws again
//! in any other: a parent and its child never seal under the same nonce.
//!
//! XChaCha20 derives the message key from the first 16 bytes of the nonce, so all of one
//! thread's seals share a derived key and differ in the 8-byte nonce under it, the counter:
//! the construction's nonce is used once per derived key, as ChaCha20-Poly1305 requires.

use std::cell::RefCell;

use crate::xchacha::NONCE;

/// One thread's nonce state.
struct Source {
    prefix: [u8; 16],
    next: u64,
    process: u32,
}

impl Source {
    fn draw() -> Result<Source, getrandom::Error> {
        let mut prefix = [0u8; 16];
        getrandom::fill(&mut prefix)?;
        Ok(Source {
            prefix,
            next: 0,
            process: std::process::id(),
        })
    }
}

thread_local! {
    static SOURCE: RefCell<Option<Source>> = const { RefCell::new(None) };
}

/// A nonce no other seal under any key has used or will use.
///
/// Fails only when the operating system has no random bytes for a thread's first seal.
pub(crate) fn next() -> Result<[u8; NONCE], getrandom::Error> {
    // The state is constant-initialised and has nothing to drop, so it is never torn down and
    // every thread reaches it at any time, its exit included.
    SOURCE.with(counted)
}

/// The next nonce of this thread's state, drawn first when it is missing, spent, or was drawn
/// in another process.
fn counted(cell: &RefCell<Option<Source>>) -> Result<[u8; NONCE], getrandom::Error> {
    let mut slot = cell.borrow_mut();
    let process = std::process::id();
    let source = match slot.as_mut() {
        Some(source) if source.process == process && source.next < u64::MAX => source,
        _ => slot.insert(Source::draw()?),
    };
    let mut nonce = [0u8; NONCE];
    nonce[..16].copy_from_slice(&source.prefix);
    nonce[16..].copy_from_slice(&source.next.to_le_bytes());
    source.next += 1;
    Ok(nonce)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn a_thread_counts_under_one_prefix_and_threads_differ() {
        let first = next().unwrap();
        let second = next().unwrap();
        assert_eq!(first[..16], second[..16]);
        assert_eq!(
            u64::from_le_bytes(second[16..].try_into().unwrap()),
            u64::from_le_bytes(first[16..].try_into().unwrap()) + 1
        );
        let other = std::thread::spawn(|| next().unwrap()).join().unwrap();
        assert_ne!(other[..16], first[..16]);
    }

    #[test]
    fn no_nonce_repeats_across_many_seals_and_threads() {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                std::thread::spawn(|| (0..10_000).map(|_| next().unwrap()).collect::<Vec<_>>())
            })
            .collect();
        let mut seen = HashSet::new();
        for handle in handles {
            for nonce in handle.join().unwrap() {
                assert!(seen.insert(nonce), "a nonce repeated");
            }
        }
        assert_eq!(seen.len(), 80_000);
    }

    #[test]
    fn a_spent_counter_or_another_process_draws_a_new_prefix() {
        let first = next().unwrap();
        SOURCE.with(|cell| cell.borrow_mut().as_mut().unwrap().next = u64::MAX);
        let after_wrap = next().unwrap();
        assert_ne!(after_wrap[..16], first[..16]);
        assert_eq!(after_wrap[16..], 0u64.to_le_bytes());
        SOURCE.with(|cell| cell.borrow_mut().as_mut().unwrap().process ^= 1);
        let after_fork = next().unwrap();
        assert_ne!(after_fork[..16], after_wrap[..16]);
        assert_eq!(after_fork[16..], 0u64.to_le_bytes());
    }
}
