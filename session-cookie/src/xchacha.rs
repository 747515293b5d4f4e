//! XChaCha20-Poly1305 sealing, in place.
//!
//! XChaCha20-Poly1305 is ChaCha20-Poly1305 (RFC 8439) under a key derived per message: the
//! first 16 bytes of the 24-byte nonce and the key give a subkey through HChaCha20, and the
//! last 8 bytes, after four zero bytes, are the 12-byte nonce of the RFC's construction. The
//! subkey comes from the `chacha20` crate's HChaCha20; ring's ChaCha20-Poly1305, whose vector
//! code is chosen for the CPU at run time, does the bulk of the work. The bytes are exactly
//! those of the `chacha20poly1305` crate's `XChaCha20Poly1305` (the tests check both ways).

use chacha20::cipher::consts::U10;
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};

/// Bytes of an XChaCha20 nonce.
pub(crate) const NONCE: usize = 24;
/// Bytes of the Poly1305 tag that follows the ciphertext.
pub(crate) const TAG: usize = 16;

/// One 256-bit key that seals and opens.
#[derive(Clone)]
pub(crate) struct Sealer {
    key: [u8; 32],
}

/// The seal failed (the cipher refuses only inputs longer than 256 GiB).
#[derive(Debug)]
pub(crate) struct Refused;

impl Sealer {
    pub(crate) fn new(key: [u8; 32]) -> Self {
        Sealer { key }
    }

    /// The per-message key and the RFC 8439 nonce for `nonce`.
    fn derive(&self, nonce: &[u8; NONCE]) -> Result<(LessSafeKey, Nonce), Refused> {
        let (head, tail) = nonce.split_at(16);
        let subkey = chacha20::hchacha::<U10>((&self.key).into(), head.into());
        let key = UnboundKey::new(&CHACHA20_POLY1305, subkey.as_slice()).map_err(|_| Refused)?;
        let mut short = [0u8; 12];
        short[4..].copy_from_slice(tail);
        Ok((LessSafeKey::new(key), Nonce::assume_unique_for_key(short)))
    }

    /// Encrypts `buf[from..]` in place and appends the tag, binding `aad` in.
    pub(crate) fn seal_in_place(
        &self,
        nonce: &[u8; NONCE],
        aad: &[u8],
        buf: &mut Vec<u8>,
        from: usize,
    ) -> Result<(), Refused> {
        let (key, nonce) = self.derive(nonce)?;
        let plaintext = buf.get_mut(from..).ok_or(Refused)?;
        let tag = key
            .seal_in_place_separate_tag(nonce, Aad::from(aad), plaintext)
            .map_err(|_| Refused)?;
        buf.extend_from_slice(tag.as_ref());
        Ok(())
    }

    /// Opens `sealed` (ciphertext then tag) in place and returns the plaintext within it. On
    /// failure `sealed` holds unspecified bytes: keep a copy to try another key.
    pub(crate) fn open_in_place<'a>(
        &self,
        nonce: &[u8; NONCE],
        aad: &[u8],
        sealed: &'a mut [u8],
    ) -> Option<&'a mut [u8]> {
        if sealed.len() < TAG {
            return None;
        }
        let (key, nonce) = self.derive(nonce).ok()?;
        key.open_in_place(nonce, Aad::from(aad), sealed).ok()
    }
}

#[cfg(test)]
mod tests {
    use chacha20poly1305::aead::{Aead, KeyInit, Payload};
    use chacha20poly1305::{XChaCha20Poly1305, XNonce};

    use super::*;

    fn hex(text: &str) -> Vec<u8> {
        let clean: String = text.split_whitespace().collect();
        (0..clean.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&clean[i..i + 2], 16).unwrap())
            .collect()
    }

    /// The AEAD test vector of the XChaCha20-Poly1305 specification (draft-irtf-cfrg-xchacha,
    /// appendix A.3.1).
    #[test]
    fn the_specification_vector() {
        let plaintext = b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";
        let aad = hex("50515253c0c1c2c3c4c5c6c7");
        let key: [u8; 32] = hex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f")
            .try_into()
            .unwrap();
        let nonce: [u8; NONCE] = hex("404142434445464748494a4b4c4d4e4f5051525354555657")
            .try_into()
            .unwrap();
        let expected = hex(
            "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb
             731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452
             2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9
             21f9664c97637da9768812f615c68b13b52e
             c0875924c1c7987947deafd8780acf49",
        );
        let sealer = Sealer::new(key);
        let mut buf = plaintext.to_vec();
        sealer.seal_in_place(&nonce, &aad, &mut buf, 0).unwrap();
        assert_eq!(buf, expected);
        let opened = sealer.open_in_place(&nonce, &aad, &mut buf).unwrap();
        assert_eq!(opened, plaintext);
    }

    #[test]
    fn the_same_bytes_as_the_portable_implementation_both_ways() {
        for len in [0usize, 1, 15, 16, 17, 63, 64, 65, 255, 256, 1067, 3000] {
            let key = [len as u8 ^ 0x5a; 32];
            let nonce = [len as u8 ^ 0xa5; NONCE];
            let plaintext: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let portable = XChaCha20Poly1305::new((&key).into());
            let theirs = portable
                .encrypt(
                    XNonce::from_slice(&nonce),
                    Payload {
                        msg: &plaintext,
                        aad: b"id",
                    },
                )
                .unwrap();

            let sealer = Sealer::new(key);
            let mut ours = vec![9u8; 5];
            ours.extend_from_slice(&plaintext);
            sealer.seal_in_place(&nonce, b"id", &mut ours, 5).unwrap();
            assert_eq!(&ours[5..], &theirs[..], "seal of {len} bytes");

            let mut sealed = theirs.clone();
            let opened = sealer.open_in_place(&nonce, b"id", &mut sealed).unwrap();
            assert_eq!(opened, &plaintext[..], "open of {len} bytes");
        }
    }

    #[test]
    fn a_changed_byte_key_nonce_or_name_does_not_open() {
        let sealer = Sealer::new([1; 32]);
        let nonce = [2; NONCE];
        let mut sealed = b"the session".to_vec();
        sealer.seal_in_place(&nonce, b"id", &mut sealed, 0).unwrap();
        for i in 0..sealed.len() {
            let mut bent = sealed.clone();
            bent[i] ^= 1;
            assert!(sealer.open_in_place(&nonce, b"id", &mut bent).is_none());
        }
        let mut other_nonce = [2; NONCE];
        other_nonce[23] = 3;
        assert!(
            sealer
                .open_in_place(&other_nonce, b"id", &mut sealed.clone())
                .is_none()
        );
        assert!(
            sealer
                .open_in_place(&nonce, b"other", &mut sealed.clone())
                .is_none()
        );
        assert!(
            Sealer::new([4; 32])
                .open_in_place(&nonce, b"id", &mut sealed.clone())
                .is_none()
        );
        assert!(sealer.open_in_place(&nonce, b"id", &mut [0; 15]).is_none());
    }
}
