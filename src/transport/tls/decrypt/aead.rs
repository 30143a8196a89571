//! The AEAD ciphers of TLS behind one type, from the RustCrypto crates: construction from
//! a key slice and in-place detached decryption, failing (never panicking) on any length.

use aes::{Aes128, Aes256};
use aes_gcm::aead::generic_array::GenericArray;
use aes_gcm::aead::{AeadCore, AeadInPlace, KeyInit};
use aes_gcm::{Aes128Gcm, Aes256Gcm};
use ccm::Ccm;
use ccm::consts::{U8, U12, U16};
use chacha20poly1305::ChaCha20Poly1305;

use super::suite::Cipher;

/// An AEAD cipher with its key schedule (the key material is zeroized on drop by the
/// crates' `zeroize` features).
pub enum Aead {
    /// AES-128-GCM.
    Aes128Gcm(Box<Aes128Gcm>),
    /// AES-256-GCM.
    Aes256Gcm(Box<Aes256Gcm>),
    /// ChaCha20-Poly1305.
    ChaCha20Poly1305(Box<ChaCha20Poly1305>),
    /// AES-128-CCM, 16-byte tag.
    Aes128Ccm(Box<Ccm<Aes128, U16, U12>>),
    /// AES-128-CCM, 8-byte tag.
    Aes128Ccm8(Box<Ccm<Aes128, U8, U12>>),
    /// AES-256-CCM, 16-byte tag.
    Aes256Ccm(Box<Ccm<Aes256, U16, U12>>),
    /// AES-256-CCM, 8-byte tag.
    Aes256Ccm8(Box<Ccm<Aes256, U8, U12>>),
}

impl Aead {
    /// The cipher keyed with `key`; `None` for CBC or a key of the wrong length.
    pub fn new(cipher: Cipher, key: &[u8]) -> Option<Aead> {
        Some(match cipher {
            Cipher::Aes128Gcm => Aead::Aes128Gcm(Box::new(KeyInit::new_from_slice(key).ok()?)),
            Cipher::Aes256Gcm => Aead::Aes256Gcm(Box::new(KeyInit::new_from_slice(key).ok()?)),
            Cipher::ChaCha20Poly1305 => {
                Aead::ChaCha20Poly1305(Box::new(KeyInit::new_from_slice(key).ok()?))
            }
            Cipher::Aes128Ccm => Aead::Aes128Ccm(Box::new(KeyInit::new_from_slice(key).ok()?)),
            Cipher::Aes128Ccm8 => Aead::Aes128Ccm8(Box::new(KeyInit::new_from_slice(key).ok()?)),
            Cipher::Aes256Ccm => Aead::Aes256Ccm(Box::new(KeyInit::new_from_slice(key).ok()?)),
            Cipher::Aes256Ccm8 => Aead::Aes256Ccm8(Box::new(KeyInit::new_from_slice(key).ok()?)),
            Cipher::Aes128Cbc | Cipher::Aes256Cbc => return None,
        })
    }

    /// Decrypts `buf` in place and checks `tag` over it and `aad`; false when the tag does
    /// not verify or has the wrong length (then `buf` holds garbage).
    pub fn open(&self, nonce: &[u8; 12], aad: &[u8], buf: &mut [u8], tag: &[u8]) -> bool {
        match self {
            Aead::Aes128Gcm(a) => open_with(a.as_ref(), nonce, aad, buf, tag),
            Aead::Aes256Gcm(a) => open_with(a.as_ref(), nonce, aad, buf, tag),
            Aead::ChaCha20Poly1305(a) => open_with(a.as_ref(), nonce, aad, buf, tag),
            Aead::Aes128Ccm(a) => open_with(a.as_ref(), nonce, aad, buf, tag),
            Aead::Aes128Ccm8(a) => open_with(a.as_ref(), nonce, aad, buf, tag),
            Aead::Aes256Ccm(a) => open_with(a.as_ref(), nonce, aad, buf, tag),
            Aead::Aes256Ccm8(a) => open_with(a.as_ref(), nonce, aad, buf, tag),
        }
    }
}

fn open_with<A: AeadInPlace>(
    aead: &A,
    nonce: &[u8; 12],
    aad: &[u8],
    buf: &mut [u8],
    tag: &[u8],
) -> bool {
    let Some(nonce) =
        GenericArray::<u8, <A as AeadCore>::NonceSize>::from_exact_iter(nonce.iter().copied())
    else {
        return false;
    };
    let Some(tag) =
        GenericArray::<u8, <A as AeadCore>::TagSize>::from_exact_iter(tag.iter().copied())
    else {
        return false;
    };
    aead.decrypt_in_place_detached(&nonce, aad, buf, &tag)
        .is_ok()
}
