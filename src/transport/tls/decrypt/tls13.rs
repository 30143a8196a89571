//! TLS 1.3 record protection (RFC 8446): traffic keys from a traffic secret with
//! HKDF-Expand-Label (§7.1, §7.3), the per-record nonce (§5.3), the inner plaintext with its
//! content type and padding (§5.2, §5.4), and KeyUpdate (§7.2).

use hkdf::Hkdf;
use sha2::{Sha256, Sha384};
use zeroize::Zeroizing;

use super::aead::Aead;
use super::suite::{Cipher, PrfHash, SuiteParams};
use super::{Fail, KeyBytes, Protect, RecordKeys, Secret, fill, xor_nonce};

/// HKDF-Expand-Label(secret, label, context, len) of RFC 8446 §7.1 with the suite's hash:
/// HKDF-Expand with info = len (u16) || "tls13 " + label (u8-prefixed) || context
/// (u8-prefixed). `None` if `secret` is shorter than the hash or a length does not fit.
pub fn hkdf_expand_label(
    hash: PrfHash,
    secret: &[u8],
    label: &str,
    context: &[u8],
    len: usize,
) -> Option<KeyBytes> {
    let full_label_len = u8::try_from(b"tls13 ".len() + label.len()).ok()?;
    let mut info = Vec::with_capacity(4 + usize::from(full_label_len) + context.len());
    info.extend_from_slice(&u16::try_from(len).ok()?.to_be_bytes());
    info.push(full_label_len);
    info.extend_from_slice(b"tls13 ");
    info.extend_from_slice(label.as_bytes());
    info.push(u8::try_from(context.len()).ok()?);
    info.extend_from_slice(context);
    let mut out = Zeroizing::new(vec![0u8; len]);
    match hash {
        PrfHash::Sha256 => Hkdf::<Sha256>::from_prk(secret)
            .ok()?
            .expand(&info, &mut out)
            .ok()?,
        PrfHash::Sha384 => Hkdf::<Sha384>::from_prk(secret)
            .ok()?
            .expand(&info, &mut out)
            .ok()?,
    }
    Some(out)
}

/// The write key and IV of a traffic secret (RFC 8446 §7.3):
/// HKDF-Expand-Label(secret, "key", "", key_len) and (secret, "iv", "", 12).
pub fn traffic_key_iv(params: SuiteParams, secret: &[u8]) -> Option<(KeyBytes, KeyBytes)> {
    let key = hkdf_expand_label(params.prf, secret, "key", &[], params.cipher.key_len())?;
    let iv = hkdf_expand_label(params.prf, secret, "iv", &[], 12)?;
    Some((key, iv))
}

impl RecordKeys {
    /// Keys for the records protected with `traffic_secret` (a handshake, application or
    /// early traffic secret), sequence number 0. `None` unless `params` is a TLS 1.3 suite
    /// and the secret is exactly its hash length.
    pub fn tls13(params: SuiteParams, traffic_secret: &[u8]) -> Option<Self> {
        if !params.tls13 || traffic_secret.len() != params.prf.output_len() {
            return None;
        }
        let (key, iv) = traffic_key_iv(params, traffic_secret)?;
        Some(RecordKeys {
            params,
            protect: Protect::Aead(Aead::new(params.cipher, &key)?),
            iv,
            secret: Some(Secret::new(traffic_secret)),
            seq: 0,
        })
    }

    /// TLS 1.3 KeyUpdate (RFC 8446 §7.2): the next traffic secret is
    /// HKDF-Expand-Label(secret, "traffic upd", "", hash_len), with new key and IV, and the
    /// sequence number starts again at 0. Call it after opening a KeyUpdate message from
    /// this direction. False (nothing changed) for TLS 1.2 keys.
    pub fn key_update(&mut self) -> bool {
        let Some(secret) = &self.secret else {
            return false;
        };
        let prf = self.params.prf;
        let Some(next) =
            hkdf_expand_label(prf, secret.as_bytes(), "traffic upd", &[], prf.output_len())
        else {
            return false;
        };
        let Some(keys) = RecordKeys::tls13(self.params, &next) else {
            return false;
        };
        *self = keys;
        true
    }
}

/// Opens one TLS 1.3 record at `seq`: AAD = the record header, nonce = IV XOR seq; the
/// inner plaintext is content || content type || zeros.
pub(super) fn open(
    aead: &Aead,
    cipher: Cipher,
    iv: &[u8],
    seq: u64,
    header: &[u8; 5],
    body: &[u8],
    out: &mut Vec<u8>,
) -> Result<u8, Fail> {
    let ct_len = body
        .len()
        .checked_sub(cipher.tag_len())
        .filter(|&n| n > 0)
        .ok_or(Fail::Shape)?;
    let (ciphertext, tag) = body.split_at(ct_len);
    let nonce = xor_nonce(iv, seq).ok_or(Fail::Shape)?;
    fill(out, ciphertext);
    if !aead.open(&nonce, header, out, tag) {
        return Err(Fail::Tag);
    }
    let end = out.iter().rposition(|&b| b != 0).ok_or(Fail::Content)?;
    let content_type = out.get(end).copied().ok_or(Fail::Content)?;
    out.truncate(end);
    Ok(content_type)
}
