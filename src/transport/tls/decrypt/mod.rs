//! TLS decryption with logged secrets, sans-IO: the NSS key log (`keylog`), what a cipher
//! suite means for record protection (`suite`), and per-direction record decryption for
//! TLS 1.3 (`tls13`: HKDF-Expand-Label keys, inner content type, KeyUpdate) and TLS 1.2
//! (`tls12`: PRF key block; AES-GCM, AES-CCM(_8), ChaCha20-Poly1305, AES-CBC with HMAC,
//! MAC-then-encrypt or encrypt-then-MAC). All cryptography is RustCrypto's; only the
//! TLS 1.2 PRF is composed here on `hmac`.
//!
//! Use: find the session's [`SessionSecrets`] in a [`KeyLog`] by the ClientHello random;
//! once the ServerHello gives the version and suite ([`suite_params`]), build one
//! [`RecordKeys`] per direction ([`tls13_keys`] per [`Stage`], or [`tls12_keys`] after each
//! side's ChangeCipherSpec) and [`open`](RecordKeys::open) that direction's protected
//! records in order. Records lost in a capture hole are stepped over with
//! [`open_skipping`](RecordKeys::open_skipping), which finds the sequence number again.
//!
//! Never panics on record bytes, and allocates at most the record body per record. Key
//! material is zeroized on drop and never shown by `Debug`.

mod aead;
mod keylog;
mod suite;
#[cfg(test)]
mod tests;
mod tls12;
mod tls13;

use std::fmt;

use zeroize::Zeroizing;

pub use crate::tcp::Side;
use aead::Aead;
pub use keylog::{KeyLog, KeyLogCounts, KeyLogFile, LineKind, MAX_LINE, Secret, SessionSecrets};
pub use suite::{Cipher, MacHash, PrfHash, SuiteParams, suite_params};
use tls12::CbcKeys;
pub use tls12::prf;
pub use tls13::{hkdf_expand_label, traffic_key_iv};

/// Most sequence numbers [`RecordKeys::open_skipping`] tries past the expected one,
/// whatever `max_skip` says (each try costs one decryption).
pub const MAX_SKIP_LIMIT: u64 = 4096;

/// Derived key material (a key, an IV): zeroized on drop.
pub type KeyBytes = Zeroizing<Vec<u8>>;

/// Why a record did not open.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// Authentication failed: wrong or stale key, wrong sequence number, altered bytes (for
    /// MAC-then-encrypt CBC also a bad padding, which TLS reports as bad_record_mac too).
    #[error("record authentication failed (wrong or stale key, or lost records)")]
    BadTag,
    /// The record cannot be a protected record of this suite (too short, length not a
    /// multiple of the block), or it authenticated but its content is invalid (TLS 1.3
    /// all-zero inner plaintext, encrypt-then-MAC bad padding).
    #[error("malformed protected record")]
    Malformed,
}

/// Which TLS 1.3 traffic secret protects a direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// 0-RTT data (client only): `CLIENT_EARLY_TRAFFIC_SECRET`.
    Early,
    /// The handshake flights: `*_HANDSHAKE_TRAFFIC_SECRET`.
    Handshake,
    /// Application data after that side's Finished: `*_TRAFFIC_SECRET_0`.
    Application,
}

/// How one record attempt failed (internal: decides whether to try the next sequence).
enum Fail {
    /// The bytes cannot be a record of this suite at any sequence number.
    Shape,
    /// Authentication failed at this sequence number.
    Tag,
    /// Authenticated at this sequence number, but the content is invalid.
    Content,
}

/// The record protection of one direction.
enum Protect {
    Aead(Aead),
    Cbc(CbcKeys),
}

/// Decrypts the protected records of one direction of one connection, in order.
pub struct RecordKeys {
    params: SuiteParams,
    protect: Protect,
    /// TLS 1.3 and TLS 1.2 ChaCha20: the 12-byte IV; TLS 1.2 GCM/CCM: the 4-byte salt;
    /// CBC: empty.
    iv: KeyBytes,
    /// TLS 1.3: the current traffic secret (for KeyUpdate).
    secret: Option<Secret>,
    seq: u64,
}

impl fmt::Debug for RecordKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordKeys")
            .field("params", &self.params)
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}

impl RecordKeys {
    /// The sequence number the next record is expected to have.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The suite these keys are for.
    pub fn params(&self) -> SuiteParams {
        self.params
    }

    /// Decrypts one record (`header`: its 5 bytes, `body`: the rest) at the current sequence
    /// number, which then moves on. `out` is cleared and receives the plaintext only; the
    /// result is the content type (TLS 1.3: the inner one; TLS 1.2: the header's).
    pub fn open(
        &mut self,
        header: &[u8; 5],
        body: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<u8, OpenError> {
        self.open_skipping(header, body, out, 0)
    }

    /// Like [`open`](Self::open), but also tries the next `max_skip` sequence numbers (at
    /// most [`MAX_SKIP_LIMIT`]) for records lost in a capture hole; on success the sequence
    /// continues after the one that matched. An authenticated record with invalid content
    /// still moves the sequence on (it was the peer's record), and returns `Malformed`.
    pub fn open_skipping(
        &mut self,
        header: &[u8; 5],
        body: &[u8],
        out: &mut Vec<u8>,
        max_skip: u64,
    ) -> Result<u8, OpenError> {
        out.clear();
        let last = self.seq.saturating_add(max_skip.min(MAX_SKIP_LIMIT));
        let mut seq = self.seq;
        let result = loop {
            match self.open_at(seq, header, body, out) {
                Ok(content_type) => {
                    self.seq = seq.saturating_add(1);
                    break Ok(content_type);
                }
                Err(Fail::Shape) => break Err(OpenError::Malformed),
                Err(Fail::Content) => {
                    self.seq = seq.saturating_add(1);
                    break Err(OpenError::Malformed);
                }
                Err(Fail::Tag) if seq < last => seq += 1,
                Err(Fail::Tag) => break Err(OpenError::BadTag),
            }
        };
        if result.is_err() {
            out.clear();
        }
        result
    }

    fn open_at(
        &self,
        seq: u64,
        header: &[u8; 5],
        body: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<u8, Fail> {
        match &self.protect {
            Protect::Aead(aead) if self.params.tls13 => {
                tls13::open(aead, self.params.cipher, &self.iv, seq, header, body, out)
            }
            Protect::Aead(aead) => {
                tls12::open_aead(aead, self.params.cipher, &self.iv, seq, header, body, out)
            }
            Protect::Cbc(cbc) => cbc.open(seq, header, body, out),
        }
    }
}

/// `out` := `bytes`, allocating exactly their length at most.
fn fill(out: &mut Vec<u8>, bytes: &[u8]) {
    out.clear();
    out.reserve_exact(bytes.len());
    out.extend_from_slice(bytes);
}

/// The 12-byte per-record nonce of TLS 1.3 and of ChaCha20-Poly1305 in TLS 1.2: the IV
/// XOR the sequence number left-padded to 12 bytes. `None` if `iv` is not 12 bytes.
fn xor_nonce(iv: &[u8], seq: u64) -> Option<[u8; 12]> {
    let mut nonce: [u8; 12] = iv.try_into().ok()?;
    for (n, s) in nonce.iter_mut().skip(4).zip(seq.to_be_bytes()) {
        *n ^= s;
    }
    Some(nonce)
}

/// The TLS 1.3 keys of one direction at one stage, from the session's logged secrets
/// (`None` when that secret was not logged, has the wrong length for the suite, or
/// `params` is not a TLS 1.3 suite).
pub fn tls13_keys(
    secrets: &SessionSecrets,
    params: SuiteParams,
    side: Side,
    stage: Stage,
) -> Option<RecordKeys> {
    let secret = match (side, stage) {
        (Side::Client, Stage::Early) => secrets.client_early.as_ref(),
        (Side::Server, Stage::Early) => None,
        (Side::Client, Stage::Handshake) => secrets.client_handshake.as_ref(),
        (Side::Server, Stage::Handshake) => secrets.server_handshake.as_ref(),
        (Side::Client, Stage::Application) => secrets.client_traffic_0.as_ref(),
        (Side::Server, Stage::Application) => secrets.server_traffic_0.as_ref(),
    }?;
    RecordKeys::tls13(params, secret.as_bytes())
}

/// The TLS 1.2 keys of one direction from the session's logged master secret (`None` when
/// it was not logged or `params` is not a TLS 1.2 suite).
pub fn tls12_keys(
    secrets: &SessionSecrets,
    params: SuiteParams,
    client_random: &[u8; 32],
    server_random: &[u8; 32],
    side: Side,
    encrypt_then_mac: bool,
) -> Option<RecordKeys> {
    let master: &[u8; 48] = secrets.master_secret.as_ref()?.as_bytes().try_into().ok()?;
    RecordKeys::tls12(
        params,
        master,
        client_random,
        server_random,
        side,
        encrypt_then_mac,
    )
}
