//! TLS 1.2 record protection (RFC 5246): the PRF and the key block (§5, §6.3), AEAD records
//! (§6.2.3.3; GCM RFC 5288, CCM RFC 6655, ChaCha20-Poly1305 RFC 7905) and CBC records with
//! an HMAC, MAC-then-encrypt (§6.2.3.2) or encrypt-then-MAC (RFC 7366).

use aes::{Aes128, Aes256};
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockDecryptMut, KeyIvInit};
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Sha256, Sha384};
use zeroize::{Zeroize, Zeroizing};

use super::aead::Aead;
use super::suite::{Cipher, MacHash, PrfHash, SuiteParams};
use super::{Fail, KeyBytes, Protect, RecordKeys, Side, fill, xor_nonce};

/// AES block (and CBC IV) size.
const BLOCK: usize = 16;

/// The TLS 1.2 PRF (RFC 5246 §5): P_hash(secret, label || seed) with HMAC over `hash`,
/// filling `out`. Written here on `hmac` because no well-kept RustCrypto crate offers the
/// TLS 1.2 PRF. `None` only if HMAC refuses the key (it takes any length).
pub fn prf(hash: PrfHash, secret: &[u8], label: &[u8], seed: &[u8], out: &mut [u8]) -> Option<()> {
    match hash {
        PrfHash::Sha256 => p_hash::<Hmac<Sha256>>(secret, label, seed, out),
        PrfHash::Sha384 => p_hash::<Hmac<Sha384>>(secret, label, seed, out),
    }
}

/// P_hash: A(0) = seed, A(i) = HMAC(secret, A(i-1)); out = HMAC(secret, A(1) || seed) ||
/// HMAC(secret, A(2) || seed) || … truncated (here seed = label || seed).
fn p_hash<M: Mac + KeyInit + Clone>(
    secret: &[u8],
    label: &[u8],
    seed: &[u8],
    out: &mut [u8],
) -> Option<()> {
    let keyed = <M as KeyInit>::new_from_slice(secret).ok()?;
    let mut a = keyed
        .clone()
        .chain_update(label)
        .chain_update(seed)
        .finalize()
        .into_bytes();
    for chunk in out.chunks_mut(a.len()) {
        let mut bytes = keyed
            .clone()
            .chain_update(&a)
            .chain_update(label)
            .chain_update(seed)
            .finalize()
            .into_bytes();
        chunk.copy_from_slice(bytes.get(..chunk.len())?);
        bytes.as_mut_slice().zeroize();
        let next = keyed.clone().chain_update(&a).finalize().into_bytes();
        a.as_mut_slice().zeroize();
        a = next;
    }
    a.as_mut_slice().zeroize();
    Some(())
}

/// The CBC keys of one direction.
pub(super) struct CbcKeys {
    cipher: Cipher,
    mac: MacHash,
    key: KeyBytes,
    mac_key: KeyBytes,
    etm: bool,
}

/// One direction's (MAC key, key, fixed IV) from the key block.
type DirKeys = (KeyBytes, KeyBytes, KeyBytes);

/// The key block PRF(master, "key expansion", server_random || client_random), split into
/// client MAC key, server MAC key, client key, server key, client IV, server IV; `side`'s
/// three are returned.
fn side_keys(
    params: SuiteParams,
    master_secret: &[u8; 48],
    client_random: &[u8; 32],
    server_random: &[u8; 32],
    side: Side,
) -> Option<DirKeys> {
    let mac_len = params.mac.map_or(0, MacHash::output_len);
    let key_len = params.cipher.key_len();
    let iv_len = params.cipher.tls12_fixed_iv_len();
    let mut seed = [0u8; 64];
    seed[..32].copy_from_slice(server_random);
    seed[32..].copy_from_slice(client_random);
    let mut block = Zeroizing::new(vec![0u8; 2 * (mac_len + key_len + iv_len)]);
    prf(
        params.prf,
        master_secret,
        b"key expansion",
        &seed,
        &mut block,
    )?;
    let pick = |start: usize, len: usize| -> Option<KeyBytes> {
        let at = if side == Side::Client {
            start
        } else {
            start + len
        };
        Some(Zeroizing::new(block.get(at..at + len)?.to_vec()))
    };
    Some((
        pick(0, mac_len)?,
        pick(2 * mac_len, key_len)?,
        pick(2 * (mac_len + key_len), iv_len)?,
    ))
}

impl RecordKeys {
    /// Keys for the records `side` sends, from the master secret and both hello randoms,
    /// sequence number 0 (the Finished that follows ChangeCipherSpec is record 0).
    /// `encrypt_then_mac`: both hellos carried the encrypt_then_mac extension (RFC 7366;
    /// it only matters for CBC suites). `None` unless `params` is a TLS 1.2 suite.
    pub fn tls12(
        params: SuiteParams,
        master_secret: &[u8; 48],
        client_random: &[u8; 32],
        server_random: &[u8; 32],
        side: Side,
        encrypt_then_mac: bool,
    ) -> Option<Self> {
        if params.tls13 || params.cipher.is_aead() == params.mac.is_some() {
            return None;
        }
        let (mac_key, key, iv) =
            side_keys(params, master_secret, client_random, server_random, side)?;
        let protect = match params.mac {
            None => Protect::Aead(Aead::new(params.cipher, &key)?),
            Some(mac) => Protect::Cbc(CbcKeys {
                cipher: params.cipher,
                mac,
                key,
                mac_key,
                etm: encrypt_then_mac,
            }),
        };
        Some(RecordKeys {
            params,
            protect,
            iv,
            secret: None,
            seq: 0,
        })
    }
}

/// The TLS 1.2 additional data: seq || type || version || length.
fn additional_data(seq: u64, header: &[u8; 5], len: usize) -> Result<[u8; 13], Fail> {
    let len = u16::try_from(len).map_err(|_| Fail::Shape)?;
    let mut ad = [0u8; 13];
    ad[..8].copy_from_slice(&seq.to_be_bytes());
    ad[8..11].copy_from_slice(&header[..3]);
    ad[11..].copy_from_slice(&len.to_be_bytes());
    Ok(ad)
}

/// Opens one TLS 1.2 AEAD record at `seq`. GCM and CCM: body = explicit nonce (8) ||
/// ciphertext || tag, nonce = salt (4) || explicit nonce; ChaCha20-Poly1305: body =
/// ciphertext || tag, nonce = IV XOR seq. Either way AAD = seq || type || version ||
/// plaintext length.
pub(super) fn open_aead(
    aead: &Aead,
    cipher: Cipher,
    iv: &[u8],
    seq: u64,
    header: &[u8; 5],
    body: &[u8],
    out: &mut Vec<u8>,
) -> Result<u8, Fail> {
    let explicit_len = cipher.tls12_explicit_nonce_len();
    let tag_len = cipher.tag_len();
    let ct_len = body
        .len()
        .checked_sub(explicit_len + tag_len)
        .ok_or(Fail::Shape)?;
    let (explicit, rest) = body.split_at(explicit_len);
    let (ciphertext, tag) = rest.split_at(ct_len);
    let nonce = if explicit_len == 0 {
        xor_nonce(iv, seq).ok_or(Fail::Shape)?
    } else {
        salted_nonce(iv, explicit).ok_or(Fail::Shape)?
    };
    let ad = additional_data(seq, header, ct_len)?;
    fill(out, ciphertext);
    if !aead.open(&nonce, &ad, out, tag) {
        return Err(Fail::Tag);
    }
    Ok(header[0])
}

/// salt (4 bytes from the key block) || explicit nonce (8 bytes from the record).
fn salted_nonce(salt: &[u8], explicit: &[u8]) -> Option<[u8; 12]> {
    let salt: &[u8; 4] = salt.try_into().ok()?;
    let explicit: &[u8; 8] = explicit.try_into().ok()?;
    let mut nonce = [0u8; 12];
    nonce[..4].copy_from_slice(salt);
    nonce[4..].copy_from_slice(explicit);
    Some(nonce)
}

impl CbcKeys {
    /// Opens one CBC record at `seq`: body = IV (16) || ciphertext, plus the MAC after it
    /// with encrypt-then-MAC.
    pub(super) fn open(
        &self,
        seq: u64,
        header: &[u8; 5],
        body: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<u8, Fail> {
        if self.etm {
            self.open_etm(seq, header, body, out)
        } else {
            self.open_mte(seq, header, body, out)
        }
    }

    /// MAC-then-encrypt: plaintext = content || MAC || padding || padding length; the MAC
    /// covers seq || type || version || content length || content. A bad padding is an
    /// authentication failure, as in TLS (bad_record_mac).
    fn open_mte(
        &self,
        seq: u64,
        header: &[u8; 5],
        body: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<u8, Fail> {
        let mac_len = self.mac.output_len();
        let (iv, ciphertext) = split_iv(body)?;
        if ciphertext.len() < mac_len + 1 {
            return Err(Fail::Shape);
        }
        fill(out, ciphertext);
        self.decrypt(iv, out)?;
        let unpadded = unpad(out).ok_or(Fail::Tag)?;
        let content_len = unpadded.checked_sub(mac_len).ok_or(Fail::Tag)?;
        let (content, rest) = out.split_at(content_len);
        let mac = rest.get(..mac_len).ok_or(Fail::Tag)?;
        let ad = additional_data(seq, header, content_len)?;
        if !mac_ok(self.mac, &self.mac_key, &[&ad, content], mac) {
            return Err(Fail::Tag);
        }
        out.truncate(content_len);
        Ok(header[0])
    }

    /// Encrypt-then-MAC (RFC 7366): body = IV || ciphertext || MAC, the MAC covering seq ||
    /// type || version || length of IV + ciphertext || IV + ciphertext, checked first.
    fn open_etm(
        &self,
        seq: u64,
        header: &[u8; 5],
        body: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<u8, Fail> {
        let enc_len = body
            .len()
            .checked_sub(self.mac.output_len())
            .ok_or(Fail::Shape)?;
        let (enc, mac) = body.split_at(enc_len);
        let (iv, ciphertext) = split_iv(enc)?;
        let ad = additional_data(seq, header, enc_len)?;
        if !mac_ok(self.mac, &self.mac_key, &[&ad, enc], mac) {
            return Err(Fail::Tag);
        }
        fill(out, ciphertext);
        self.decrypt(iv, out).map_err(|_| Fail::Content)?;
        let content_len = unpad(out).ok_or(Fail::Content)?;
        out.truncate(content_len);
        Ok(header[0])
    }

    /// AES-CBC decryption in place, no padding removed.
    fn decrypt(&self, iv: &[u8], buf: &mut [u8]) -> Result<(), Fail> {
        let done = match self.cipher {
            Cipher::Aes128Cbc => cbc::Decryptor::<Aes128>::new_from_slices(&self.key, iv)
                .ok()
                .and_then(|d| d.decrypt_padded_mut::<NoPadding>(buf).ok())
                .is_some(),
            Cipher::Aes256Cbc => cbc::Decryptor::<Aes256>::new_from_slices(&self.key, iv)
                .ok()
                .and_then(|d| d.decrypt_padded_mut::<NoPadding>(buf).ok())
                .is_some(),
            _ => false,
        };
        if done { Ok(()) } else { Err(Fail::Shape) }
    }
}

/// IV || ciphertext, the ciphertext a non-empty whole number of blocks.
fn split_iv(enc: &[u8]) -> Result<(&[u8], &[u8]), Fail> {
    let ct_len = enc.len().checked_sub(BLOCK).ok_or(Fail::Shape)?;
    if ct_len == 0 || !ct_len.is_multiple_of(BLOCK) {
        return Err(Fail::Shape);
    }
    Ok(enc.split_at(BLOCK))
}

/// The length without the TLS padding (n+1 bytes of value n at the end); `None` if invalid.
fn unpad(plain: &[u8]) -> Option<usize> {
    let pad = usize::from(*plain.last()?) + 1;
    let start = plain.len().checked_sub(pad)?;
    let padding = plain.get(start..)?;
    padding
        .iter()
        .all(|&b| usize::from(b) + 1 == pad)
        .then_some(start)
}

/// Whether `tag` is the HMAC of the concatenated `parts` under `key`.
fn mac_ok(hash: MacHash, key: &[u8], parts: &[&[u8]], tag: &[u8]) -> bool {
    match hash {
        MacHash::Sha1 => verify::<Hmac<Sha1>>(key, parts, tag),
        MacHash::Sha256 => verify::<Hmac<Sha256>>(key, parts, tag),
        MacHash::Sha384 => verify::<Hmac<Sha384>>(key, parts, tag),
    }
}

fn verify<M: Mac + KeyInit>(key: &[u8], parts: &[&[u8]], tag: &[u8]) -> bool {
    let Ok(mut mac) = <M as KeyInit>::new_from_slice(key) else {
        return false;
    };
    for part in parts {
        mac.update(part);
    }
    mac.verify_slice(tag).is_ok()
}
