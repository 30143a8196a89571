//! What a negotiated (version, cipher suite) means for record protection: the cipher, the
//! CBC MAC hash and the hash of the TLS 1.2 PRF or the TLS 1.3 HKDF.
//!
//! The TLS 1.2 table was generated from the IANA names (as Wireshark lists them) by the
//! rule name → parameters: `AES_128`/`AES_256` × `GCM`/`CCM`/`CCM_8`/`CBC`, the trailing
//! hash is the CBC MAC (`SHA` = SHA-1) and the PRF hash is SHA-384 for `*_SHA384` suites,
//! SHA-256 for every other one (RFC 5246 §5, RFC 5288, RFC 5289, RFC 6655, RFC 7251,
//! RFC 7905, RFC 8442). Left out on purpose: the pre-RFC ChaCha20 suites 0xCC13–0xCC15
//! (another nonce), SRP, ECCPWD, ECJPAKE, ARIA, Camellia, SM4, NULL, RC4 and 3DES.

/// The record cipher of a suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cipher {
    /// AES-128 in GCM (16-byte tag).
    Aes128Gcm,
    /// AES-256 in GCM (16-byte tag).
    Aes256Gcm,
    /// ChaCha20-Poly1305 (RFC 8439, 16-byte tag).
    ChaCha20Poly1305,
    /// AES-128 in CCM with a 16-byte tag.
    Aes128Ccm,
    /// AES-128 in CCM with an 8-byte tag.
    Aes128Ccm8,
    /// AES-256 in CCM with a 16-byte tag.
    Aes256Ccm,
    /// AES-256 in CCM with an 8-byte tag.
    Aes256Ccm8,
    /// AES-128 in CBC with an HMAC (TLS 1.2 only).
    Aes128Cbc,
    /// AES-256 in CBC with an HMAC (TLS 1.2 only).
    Aes256Cbc,
}

impl Cipher {
    /// Key length in bytes.
    pub fn key_len(self) -> usize {
        match self {
            Cipher::Aes128Gcm | Cipher::Aes128Ccm | Cipher::Aes128Ccm8 | Cipher::Aes128Cbc => 16,
            Cipher::Aes256Gcm
            | Cipher::Aes256Ccm
            | Cipher::Aes256Ccm8
            | Cipher::Aes256Cbc
            | Cipher::ChaCha20Poly1305 => 32,
        }
    }

    /// True for the AEAD ciphers, false for CBC.
    pub fn is_aead(self) -> bool {
        !matches!(self, Cipher::Aes128Cbc | Cipher::Aes256Cbc)
    }

    /// AEAD tag length in bytes (0 for CBC, whose MAC length is the MAC hash's).
    pub fn tag_len(self) -> usize {
        match self {
            Cipher::Aes128Ccm8 | Cipher::Aes256Ccm8 => 8,
            Cipher::Aes128Cbc | Cipher::Aes256Cbc => 0,
            _ => 16,
        }
    }

    /// TLS 1.2 implicit IV length from the key block: 4 (salt) for GCM and CCM, 12 for
    /// ChaCha20-Poly1305 (RFC 7905), 0 for CBC (explicit per-record IV in TLS 1.1+).
    pub fn tls12_fixed_iv_len(self) -> usize {
        match self {
            Cipher::ChaCha20Poly1305 => 12,
            Cipher::Aes128Cbc | Cipher::Aes256Cbc => 0,
            _ => 4,
        }
    }

    /// TLS 1.2 explicit nonce carried at the start of each record body: 8 for GCM and CCM,
    /// 0 for ChaCha20-Poly1305 (the 16-byte CBC IV is counted separately).
    pub fn tls12_explicit_nonce_len(self) -> usize {
        match self {
            Cipher::ChaCha20Poly1305 | Cipher::Aes128Cbc | Cipher::Aes256Cbc => 0,
            _ => 8,
        }
    }
}

/// HMAC hash of a CBC suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MacHash {
    /// HMAC-SHA1 (`*_CBC_SHA`).
    Sha1,
    /// HMAC-SHA256 (`*_CBC_SHA256`).
    Sha256,
    /// HMAC-SHA384 (`*_CBC_SHA384`).
    Sha384,
}

impl MacHash {
    /// MAC (and MAC key) length in bytes.
    pub fn output_len(self) -> usize {
        match self {
            MacHash::Sha1 => 20,
            MacHash::Sha256 => 32,
            MacHash::Sha384 => 48,
        }
    }
}

/// Hash of the TLS 1.2 PRF or of the TLS 1.3 key schedule (HKDF).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrfHash {
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
}

impl PrfHash {
    /// Output length in bytes (also the TLS 1.3 traffic secret length).
    pub fn output_len(self) -> usize {
        match self {
            PrfHash::Sha256 => 32,
            PrfHash::Sha384 => 48,
        }
    }
}

/// How records of one negotiated suite are protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SuiteParams {
    /// True for TLS 1.3, false for TLS 1.2.
    pub tls13: bool,
    /// The record cipher.
    pub cipher: Cipher,
    /// The HMAC of a CBC suite; `None` for AEAD suites.
    pub mac: Option<MacHash>,
    /// The PRF (TLS 1.2) or HKDF (TLS 1.3) hash.
    pub prf: PrfHash,
}

/// The parameters of `suite_id` under TLS 1.3 (`version_is_13`) or TLS 1.2; `None` for a
/// suite this module cannot decrypt (or that does not exist in that version).
pub fn suite_params(version_is_13: bool, suite_id: u16) -> Option<SuiteParams> {
    let (cipher, mac, prf) = if version_is_13 {
        tls13_suite(suite_id)?
    } else {
        tls12_suite(suite_id)?
    };
    Some(SuiteParams {
        tls13: version_is_13,
        cipher,
        mac,
        prf,
    })
}

type Entry = (Cipher, Option<MacHash>, PrfHash);

/// RFC 8446 §B.4: the five TLS 1.3 suites.
fn tls13_suite(id: u16) -> Option<Entry> {
    use Cipher::*;
    Some(match id {
        0x1301 => (Aes128Gcm, None, PrfHash::Sha256),
        0x1302 => (Aes256Gcm, None, PrfHash::Sha384),
        0x1303 => (ChaCha20Poly1305, None, PrfHash::Sha256),
        0x1304 => (Aes128Ccm, None, PrfHash::Sha256),
        0x1305 => (Aes128Ccm8, None, PrfHash::Sha256),
        _ => return None,
    })
}

/// TLS 1.2 AEAD suites (key exchange does not matter once the master secret is known).
fn tls12_suite(id: u16) -> Option<Entry> {
    use Cipher::*;
    use PrfHash::{Sha256 as P256, Sha384 as P384};
    Some(match id {
        // *_WITH_AES_128_GCM_SHA256 (RFC 5288, 5289, 5487, 8442)
        0x009C | 0x009E | 0x00A0 | 0x00A2 | 0x00A4 | 0x00A6 | 0x00A8 | 0x00AA | 0x00AC | 0xC02B
        | 0xC02D | 0xC02F | 0xC031 | 0xD001 => (Aes128Gcm, None, P256),
        // *_WITH_AES_256_GCM_SHA384
        0x009D | 0x009F | 0x00A1 | 0x00A3 | 0x00A5 | 0x00A7 | 0x00A9 | 0x00AB | 0x00AD | 0xC02C
        | 0xC02E | 0xC030 | 0xC032 | 0xD002 => (Aes256Gcm, None, P384),
        // *_WITH_CHACHA20_POLY1305_SHA256 (RFC 7905)
        0xCCA8..=0xCCAE => (ChaCha20Poly1305, None, P256),
        // *_WITH_AES_128_CCM (RFC 6655, 7251, 8442)
        0xC09C | 0xC09E | 0xC0A4 | 0xC0A6 | 0xC0AC | 0xD005 => (Aes128Ccm, None, P256),
        // *_WITH_AES_256_CCM
        0xC09D | 0xC09F | 0xC0A5 | 0xC0A7 | 0xC0AD => (Aes256Ccm, None, P256),
        // *_WITH_AES_128_CCM_8
        0xC0A0 | 0xC0A2 | 0xC0A8 | 0xC0AA | 0xC0AE | 0xD003 => (Aes128Ccm8, None, P256),
        // *_WITH_AES_256_CCM_8
        0xC0A1 | 0xC0A3 | 0xC0A9 | 0xC0AB | 0xC0AF => (Aes256Ccm8, None, P256),
        _ => return tls12_cbc_suite(id),
    })
}

/// TLS 1.2 CBC suites (MAC-then-encrypt, or encrypt-then-MAC with RFC 7366).
fn tls12_cbc_suite(id: u16) -> Option<Entry> {
    use Cipher::*;
    use MacHash::{Sha1 as M1, Sha256 as M256, Sha384 as M384};
    use PrfHash::{Sha256 as P256, Sha384 as P384};
    Some(match id {
        // *_WITH_AES_128_CBC_SHA
        0x002F | 0x0030 | 0x0031 | 0x0032 | 0x0033 | 0x0034 | 0x008C | 0x0090 | 0x0094 | 0xC004
        | 0xC009 | 0xC00E | 0xC013 | 0xC018 | 0xC035 => (Aes128Cbc, Some(M1), P256),
        // *_WITH_AES_256_CBC_SHA
        0x0035 | 0x0036 | 0x0037 | 0x0038 | 0x0039 | 0x003A | 0x008D | 0x0091 | 0x0095 | 0xC005
        | 0xC00A | 0xC00F | 0xC014 | 0xC019 | 0xC036 => (Aes256Cbc, Some(M1), P256),
        // *_WITH_AES_128_CBC_SHA256
        0x003C | 0x003E | 0x003F | 0x0040 | 0x0067 | 0x006C | 0x00AE | 0x00B2 | 0x00B6 | 0xC023
        | 0xC025 | 0xC027 | 0xC029 | 0xC037 => (Aes128Cbc, Some(M256), P256),
        // *_WITH_AES_256_CBC_SHA256
        0x003D | 0x0068 | 0x0069 | 0x006A | 0x006B | 0x006D => (Aes256Cbc, Some(M256), P256),
        // *_WITH_AES_256_CBC_SHA384
        0x00AF | 0x00B3 | 0x00B7 | 0xC024 | 0xC026 | 0xC028 | 0xC02A | 0xC038 => {
            (Aes256Cbc, Some(M384), P384)
        }
        _ => return None,
    })
}
