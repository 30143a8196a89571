//! Record length → plaintext length, per cipher-suite family, from tls-parser's IANA table.
//!
//! Without keys the only thing a record tells about its content is its length. What the
//! cipher adds on top of the plaintext is fixed per family (RFC 5246, 5288, 6655, 7905,
//! 8446), so an AEAD record gives the plaintext length exactly and a CBC record a range.

use serde::Serialize;
use tls_parser::{
    TlsCipherEnc, TlsCipherEncMode, TlsCipherKx, TlsCipherMac, TlsCipherSuite, TlsPRF,
};

/// A plaintext length recovered from a record length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PlainLen {
    /// Known to the byte (AEAD suites; for TLS 1.3 assuming no record padding, which no
    /// common stack adds: OpenSSL, rustls, BoringSSL, mbedTLS and wolfSSL all leave it off).
    Exact(usize),
    /// Between the two bounds, both inclusive (CBC: the padding length is encrypted).
    Range(usize, usize),
}

impl PlainLen {
    /// The smallest length it can be.
    pub fn lo(self) -> usize {
        match self {
            PlainLen::Exact(n) | PlainLen::Range(n, _) => n,
        }
    }

    /// The largest length it can be.
    pub fn hi(self) -> usize {
        match self {
            PlainLen::Exact(n) | PlainLen::Range(_, n) => n,
        }
    }

    /// The sum of two lengths (a write made of several records).
    pub fn plus(self, other: PlainLen) -> PlainLen {
        match (self, other) {
            (PlainLen::Exact(a), PlainLen::Exact(b)) => PlainLen::Exact(a.saturating_add(b)),
            (a, b) => PlainLen::Range(a.lo().saturating_add(b.lo()), a.hi().saturating_add(b.hi())),
        }
    }

    /// This length less another (a record peeled off a write).
    pub fn minus(self, other: PlainLen) -> PlainLen {
        match (self, other) {
            (PlainLen::Exact(a), PlainLen::Exact(b)) => PlainLen::Exact(a.saturating_sub(b)),
            (a, b) => PlainLen::Range(a.lo().saturating_sub(b.hi()), a.hi().saturating_sub(b.lo())),
        }
    }
}

/// TLS 1.3's version number.
pub const TLS13: u16 = 0x0304;

/// The plaintext length of an application-data record of `record_len` bytes (after the
/// 5-byte header) on a connection that negotiated `version` and `suite`; `None` for a suite
/// tls-parser does not know, or a length too short for the suite's overhead.
///
/// - TLS 1.3, every suite: 16-byte tag + 1 inner content-type byte (CCM_8: 8 + 1), less any
///   padding: an upper bound, reported as `Exact` on the no-padding assumption above.
/// - TLS 1.2 AES-GCM / AES-CCM: 8-byte explicit nonce + 16-byte tag; CCM_8: 8 + 8.
/// - ChaCha20-Poly1305 (RFC 7905): 16-byte tag, the nonce is implicit.
/// - CBC: an explicit IV of one block from TLS 1.1 on (none in 1.0 and SSL 3), the MAC, and
///   1..=block bytes of padding including the length byte; with encrypt-then-MAC (RFC 7366)
///   the MAC sits outside the padded part. The padding makes it a `Range`.
/// - Stream ciphers (RC4) and NULL encryption: the MAC only.
pub fn plaintext_len(
    version: u16,
    suite: u16,
    record_len: usize,
    encrypt_then_mac: bool,
) -> Option<PlainLen> {
    let cs = TlsCipherSuite::from_id(suite)?;
    // The table gives CCM_8 the same mac_size as CCM; only the name tells them apart.
    let ccm8 = cs.name.contains("CCM_8");
    if version >= TLS13 || cs.kx == TlsCipherKx::Tls13 {
        let overhead = if ccm8 { 9 } else { 17 };
        return record_len.checked_sub(overhead).map(PlainLen::Exact);
    }
    let aead = |overhead: usize| record_len.checked_sub(overhead).map(PlainLen::Exact);
    match (cs.enc, cs.enc_mode) {
        (TlsCipherEnc::Chacha20_Poly1305, _) => aead(16),
        (_, TlsCipherEncMode::Gcm) => aead(24),
        (_, TlsCipherEncMode::Ccm) => aead(if ccm8 { 16 } else { 24 }),
        (_, TlsCipherEncMode::Cbc) => cbc(cs, version, record_len, encrypt_then_mac),
        (TlsCipherEnc::Null | TlsCipherEnc::Rc4, _) => aead(mac_len(cs)),
        _ => None,
    }
}

fn mac_len(cs: &TlsCipherSuite) -> usize {
    match cs.mac {
        TlsCipherMac::Aead | TlsCipherMac::Null => 0,
        _ => usize::from(cs.mac_size / 8),
    }
}

fn cbc(cs: &TlsCipherSuite, version: u16, len: usize, etm: bool) -> Option<PlainLen> {
    let block = cs.enc_block_size();
    if block == 0 {
        return None;
    }
    let iv = if version >= 0x0302 { block } else { 0 };
    let mac = mac_len(cs);
    let (ct, inside_mac) = if etm {
        (len.checked_sub(iv + mac)?, 0)
    } else {
        (len.checked_sub(iv)?, mac)
    };
    if ct == 0 || ct % block != 0 {
        return None;
    }
    let hi = ct.checked_sub(inside_mac + 1)?;
    let lo = ct.saturating_sub(inside_mac + block);
    Some(PlainLen::Range(lo, hi))
}

/// The plaintext length of a TLS 1.3 Finished message for `suite` (4-byte handshake header
/// plus the transcript hash): 36 for SHA-256 suites, 52 for SHA-384.
pub fn finished13_len(suite: u16) -> usize {
    let hash = match TlsCipherSuite::from_id(suite).map(|c| c.prf) {
        Some(TlsPRF::Sha384) => 48,
        _ => 32,
    };
    4 + hash
}

#[cfg(test)]
mod tests {
    use super::*;
    use PlainLen::{Exact, Range};

    #[test]
    fn tls12_aes_gcm_and_ccm_take_24() {
        // TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: a PINGREQ is a 26-byte record.
        assert_eq!(plaintext_len(0x0303, 0xc02f, 26, false), Some(Exact(2)));
        // TLS_RSA_WITH_AES_128_CCM.
        assert_eq!(plaintext_len(0x0303, 0xc09c, 28, false), Some(Exact(4)));
        assert_eq!(plaintext_len(0x0303, 0xc02f, 20, false), None);
    }

    #[test]
    fn tls12_ccm_8_takes_16() {
        assert_eq!(plaintext_len(0x0303, 0xc0ae, 18, false), Some(Exact(2)));
    }

    #[test]
    fn tls12_chacha20_takes_16() {
        assert_eq!(plaintext_len(0x0303, 0xcca8, 18, false), Some(Exact(2)));
    }

    #[test]
    fn tls13_takes_17_or_9_for_ccm_8() {
        for suite in [0x1301, 0x1302, 0x1303] {
            assert_eq!(plaintext_len(TLS13, suite, 19, false), Some(Exact(2)));
        }
        assert_eq!(plaintext_len(TLS13, 0x1305, 11, false), Some(Exact(2)));
        assert_eq!(finished13_len(0x1301), 36);
        assert_eq!(finished13_len(0x1302), 52);
        // 4 + 32 + 17: the client's Finished record is 53 bytes for SHA-256 suites.
        assert_eq!(plaintext_len(TLS13, 0x1301, 53, false), Some(Exact(36)));
    }

    #[test]
    fn cbc_is_a_range() {
        // TLS_RSA_WITH_AES_128_CBC_SHA, TLS 1.2: 16 IV + 32 ciphertext (plain + 20 MAC + pad).
        assert_eq!(plaintext_len(0x0303, 0x002f, 48, false), Some(Range(0, 11)));
        // TLS 1.0: no explicit IV.
        assert_eq!(plaintext_len(0x0301, 0x002f, 32, false), Some(Range(0, 11)));
        // SHA-256 MAC, 64 bytes of ciphertext.
        assert_eq!(
            plaintext_len(0x0303, 0x003d, 80, false),
            Some(Range(16, 31))
        );
        // Encrypt-then-MAC: 16 IV + 16 ciphertext + 20 MAC.
        assert_eq!(plaintext_len(0x0303, 0x002f, 52, true), Some(Range(0, 15)));
        // Not a whole number of blocks.
        assert_eq!(plaintext_len(0x0303, 0x002f, 50, false), None);
    }

    #[test]
    fn unknown_suite_is_none() {
        assert_eq!(plaintext_len(0x0303, 0xeeee, 100, false), None);
    }

    #[test]
    fn lengths_add_and_subtract() {
        assert_eq!(Exact(2).plus(Exact(3)), Exact(5));
        assert_eq!(Exact(2).plus(Range(1, 4)), Range(3, 6));
        assert_eq!(Exact(5).minus(Exact(2)), Exact(3));
    }
}
