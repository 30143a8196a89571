//! Every cipher family: records sealed here with the RustCrypto crates directly, the keys,
//! nonce, additional data, MAC and padding assembled by hand per the RFCs (independently of
//! the code under test), then opened with [`RecordKeys`]. And a proptest that opening never
//! panics.

use super::super::*;
use crate::tcp::Side;
use aes::{Aes128, Aes256};
use aes_gcm::aead::generic_array::GenericArray;
use aes_gcm::aead::{Aead as _, KeyInit, Payload};
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockEncryptMut, KeyIvInit};
use ccm::consts::{U8, U12, U16};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use proptest::prelude::*;
use sha1::Sha1;
use sha2::{Sha256, Sha384};

const MASTER: [u8; 48] = [0x4d; 48];
const CLIENT_RANDOM: [u8; 32] = [0xc1; 32];
const SERVER_RANDOM: [u8; 32] = [0x5e; 32];

/// TLS 1.2 cases: suite, encrypt-then-MAC, name.
const TLS12_CASES: &[(u16, bool, &str)] = &[
    (0xC02F, false, "ECDHE-RSA-AES128-GCM-SHA256"),
    (0xC030, false, "ECDHE-RSA-AES256-GCM-SHA384"),
    (0xCCA8, false, "ECDHE-RSA-CHACHA20-POLY1305"),
    (0xC0AC, false, "ECDHE-ECDSA-AES128-CCM"),
    (0xC0AD, false, "ECDHE-ECDSA-AES256-CCM"),
    (0xC0AE, false, "ECDHE-ECDSA-AES128-CCM8"),
    (0xC0AF, false, "ECDHE-ECDSA-AES256-CCM8"),
    (0xC013, false, "ECDHE-RSA-AES128-SHA"),
    (0xC014, false, "ECDHE-RSA-AES256-SHA"),
    (0xC027, false, "ECDHE-RSA-AES128-SHA256"),
    (0x003D, false, "AES256-SHA256"),
    (0xC028, false, "ECDHE-RSA-AES256-SHA384"),
    (0xC013, true, "ECDHE-RSA-AES128-SHA + EtM"),
    (0xC027, true, "ECDHE-RSA-AES128-SHA256 + EtM"),
    (0xC028, true, "ECDHE-RSA-AES256-SHA384 + EtM"),
];

const TLS13_SUITES: &[u16] = &[0x1301, 0x1302, 0x1303, 0x1304, 0x1305];

fn seal_aead(cipher: Cipher, key: &[u8], nonce: &[u8; 12], aad: &[u8], msg: &[u8]) -> Vec<u8> {
    let n: &GenericArray<u8, U12> = GenericArray::from_slice(nonce);
    let p = Payload { msg, aad };
    match cipher {
        Cipher::Aes128Gcm => aes_gcm::Aes128Gcm::new_from_slice(key)
            .unwrap()
            .encrypt(n, p),
        Cipher::Aes256Gcm => aes_gcm::Aes256Gcm::new_from_slice(key)
            .unwrap()
            .encrypt(n, p),
        Cipher::ChaCha20Poly1305 => chacha20poly1305::ChaCha20Poly1305::new_from_slice(key)
            .unwrap()
            .encrypt(n, p),
        Cipher::Aes128Ccm => ccm::Ccm::<Aes128, U16, U12>::new_from_slice(key)
            .unwrap()
            .encrypt(n, p),
        Cipher::Aes128Ccm8 => ccm::Ccm::<Aes128, U8, U12>::new_from_slice(key)
            .unwrap()
            .encrypt(n, p),
        Cipher::Aes256Ccm => ccm::Ccm::<Aes256, U16, U12>::new_from_slice(key)
            .unwrap()
            .encrypt(n, p),
        Cipher::Aes256Ccm8 => ccm::Ccm::<Aes256, U8, U12>::new_from_slice(key)
            .unwrap()
            .encrypt(n, p),
        Cipher::Aes128Cbc | Cipher::Aes256Cbc => unreachable!("not an AEAD"),
    }
    .unwrap()
}

fn hmac_of(hash: MacHash, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    fn run<M: Mac + KeyInit>(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        let mut mac = <M as KeyInit>::new_from_slice(key).unwrap();
        for p in parts {
            mac.update(p);
        }
        mac.finalize().into_bytes().to_vec()
    }
    match hash {
        MacHash::Sha1 => run::<Hmac<Sha1>>(key, parts),
        MacHash::Sha256 => run::<Hmac<Sha256>>(key, parts),
        MacHash::Sha384 => run::<Hmac<Sha384>>(key, parts),
    }
}

fn cbc_encrypt(cipher: Cipher, key: &[u8], iv: &[u8], mut data: Vec<u8>) -> Vec<u8> {
    let n = data.len();
    match cipher {
        Cipher::Aes128Cbc => cbc::Encryptor::<Aes128>::new_from_slices(key, iv)
            .unwrap()
            .encrypt_padded_mut::<NoPadding>(&mut data, n)
            .map(|_| ()),
        Cipher::Aes256Cbc => cbc::Encryptor::<Aes256>::new_from_slices(key, iv)
            .unwrap()
            .encrypt_padded_mut::<NoPadding>(&mut data, n)
            .map(|_| ()),
        _ => unreachable!("not CBC"),
    }
    .unwrap();
    data
}

/// TLS CBC padding: n+1 bytes of value n up to a block boundary, `extra` more blocks.
fn tls_pad(data: &mut Vec<u8>, extra: usize) {
    let n = (16 - (data.len() + 1) % 16) % 16 + 16 * extra;
    data.extend(std::iter::repeat_n(n as u8, n + 1));
}

fn xor_seq(iv: &[u8], seq: u64) -> [u8; 12] {
    let mut nonce: [u8; 12] = iv.try_into().unwrap();
    for (i, b) in seq.to_be_bytes().iter().enumerate() {
        nonce[4 + i] ^= b;
    }
    nonce
}

fn record(content_type: u8, body: Vec<u8>) -> ([u8; 5], Vec<u8>) {
    let len = (body.len() as u16).to_be_bytes();
    ([content_type, 3, 3, len[0], len[1]], body)
}

/// One direction's TLS 1.2 keys, split from the key block by hand (RFC 5246 §6.3).
struct Dir {
    mac_key: Vec<u8>,
    key: Vec<u8>,
    iv: Vec<u8>,
}

fn tls12_dir(p: SuiteParams, master: &[u8; 48], side: Side) -> Dir {
    let m = p.mac.map_or(0, MacHash::output_len);
    let k = p.cipher.key_len();
    let i = match p.cipher {
        Cipher::ChaCha20Poly1305 => 12, // RFC 7905 §2
        Cipher::Aes128Cbc | Cipher::Aes256Cbc => 0,
        _ => 4, // RFC 5288 §3, RFC 6655 §3: the salt
    };
    let mut kb = vec![0u8; 2 * (m + k + i)];
    let seed = [SERVER_RANDOM, CLIENT_RANDOM].concat();
    prf(p.prf, master, b"key expansion", &seed, &mut kb).unwrap();
    let (c_mac, rest) = kb.split_at(m);
    let (s_mac, rest) = rest.split_at(m);
    let (c_key, rest) = rest.split_at(k);
    let (s_key, rest) = rest.split_at(k);
    let (c_iv, s_iv) = rest.split_at(i);
    let (mac_key, key, iv) = match side {
        Side::Client => (c_mac, c_key, c_iv),
        Side::Server => (s_mac, s_key, s_iv),
    };
    Dir {
        mac_key: mac_key.to_vec(),
        key: key.to_vec(),
        iv: iv.to_vec(),
    }
}

/// A TLS 1.2 record sealed by hand: AEAD per RFC 5246 §6.2.3.3 / RFC 7905, CBC per
/// §6.2.3.2 (MAC-then-encrypt) or RFC 7366 (encrypt-then-MAC).
fn seal12(
    p: SuiteParams,
    etm: bool,
    d: &Dir,
    seq: u64,
    ct: u8,
    pt: &[u8],
    extra: usize,
) -> ([u8; 5], Vec<u8>) {
    let sq = seq.to_be_bytes();
    let ver = [3u8, 3];
    let len = |n: usize| (n as u16).to_be_bytes();
    let body = match (p.cipher, p.mac) {
        (Cipher::ChaCha20Poly1305, _) => {
            let aad = [&sq[..], &[ct], &ver, &len(pt.len())].concat();
            seal_aead(p.cipher, &d.key, &xor_seq(&d.iv, seq), &aad, pt)
        }
        (c, None) => {
            let explicit = (seq ^ 0x0123_4567_89ab_cdef).to_be_bytes();
            let nonce: [u8; 12] = [&d.iv[..], &explicit].concat().try_into().unwrap();
            let aad = [&sq[..], &[ct], &ver, &len(pt.len())].concat();
            [explicit.to_vec(), seal_aead(c, &d.key, &nonce, &aad, pt)].concat()
        }
        (c, Some(mac)) if !etm => {
            let tag = hmac_of(mac, &d.mac_key, &[&sq, &[ct], &ver, &len(pt.len()), pt]);
            let mut data = [pt, &tag].concat();
            tls_pad(&mut data, extra);
            let iv = [0xa0 ^ seq as u8; 16];
            [iv.to_vec(), cbc_encrypt(c, &d.key, &iv, data)].concat()
        }
        (c, Some(mac)) => {
            let mut data = pt.to_vec();
            tls_pad(&mut data, extra);
            let iv = [0xb0 ^ seq as u8; 16];
            let enc = [iv.to_vec(), cbc_encrypt(c, &d.key, &iv, data)].concat();
            let tag = hmac_of(mac, &d.mac_key, &[&sq, &[ct], &ver, &len(enc.len()), &enc]);
            [enc, tag].concat()
        }
    };
    record(ct, body)
}

fn keys12(p: SuiteParams, master: &[u8; 48], side: Side, etm: bool) -> RecordKeys {
    RecordKeys::tls12(p, master, &CLIENT_RANDOM, &SERVER_RANDOM, side, etm).unwrap()
}

fn payload(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 + 7) as u8).collect()
}

#[test]
fn tls12_families_open_in_order_both_sides() {
    for &(suite, etm, name) in TLS12_CASES {
        let p = suite_params(false, suite).unwrap();
        for side in [Side::Client, Side::Server] {
            let d = tls12_dir(p, &MASTER, side);
            let mut keys = keys12(p, &MASTER, side, etm);
            let mut out = Vec::new();
            for (seq, (n, ct)) in [(0, 22), (1, 23), (15, 23), (16, 21), (47, 23)]
                .into_iter()
                .enumerate()
            {
                let (header, body) = seal12(p, etm, &d, seq as u64, ct, &payload(n), seq % 3);
                assert_eq!(
                    keys.open(&header, &body, &mut out),
                    Ok(ct),
                    "{name} seq {seq}"
                );
                assert_eq!(out, payload(n), "{name} seq {seq}");
            }
            assert_eq!(keys.seq(), 5);
        }
    }
}

#[test]
fn tls12_families_reject_any_flipped_byte() {
    for &(suite, etm, name) in TLS12_CASES {
        let p = suite_params(false, suite).unwrap();
        let d = tls12_dir(p, &MASTER, Side::Client);
        let (header, body) = seal12(p, etm, &d, 0, 23, &payload(33), 0);
        let mut out = Vec::new();
        for i in 0..body.len() {
            let mut bad = body.clone();
            bad[i] ^= 0x01;
            let mut keys = keys12(p, &MASTER, Side::Client, etm);
            assert_eq!(
                keys.open(&header, &bad, &mut out),
                Err(OpenError::BadTag),
                "{name} byte {i}"
            );
            assert!(out.is_empty());
            assert_eq!(keys.seq(), 0);
        }
        for i in 0..3 {
            let mut bad = header;
            bad[i] ^= 0x01;
            let mut keys = keys12(p, &MASTER, Side::Client, etm);
            assert_eq!(
                keys.open(&bad, &body, &mut out),
                Err(OpenError::BadTag),
                "{name} header {i}"
            );
        }
    }
}

#[test]
fn tls12_families_reject_wrong_keys_and_find_lost_records() {
    for &(suite, etm, name) in TLS12_CASES {
        let p = suite_params(false, suite).unwrap();
        let d = tls12_dir(p, &MASTER, Side::Client);
        let (header, body) = seal12(p, etm, &d, 3, 23, &payload(20), 1);
        let mut out = Vec::new();
        let mut other_side = keys12(p, &MASTER, Side::Server, etm);
        assert_eq!(
            other_side.open_skipping(&header, &body, &mut out, 5),
            Err(OpenError::BadTag),
            "{name}"
        );
        let mut other_master = keys12(p, &[0x4e; 48], Side::Client, etm);
        assert_eq!(
            other_master.open_skipping(&header, &body, &mut out, 5),
            Err(OpenError::BadTag),
            "{name}"
        );
        let mut keys = keys12(p, &MASTER, Side::Client, etm);
        assert_eq!(
            keys.open(&header, &body, &mut out),
            Err(OpenError::BadTag),
            "{name}"
        );
        assert_eq!(
            keys.open_skipping(&header, &body, &mut out, 2),
            Err(OpenError::BadTag),
            "{name}"
        );
        assert_eq!(
            keys.open_skipping(&header, &body, &mut out, 3),
            Ok(23),
            "{name}"
        );
        assert_eq!(out, payload(20));
        assert_eq!(keys.seq(), 4, "{name}");
    }
}

#[test]
fn tls12_families_truncated_bodies_fail_without_panic() {
    for &(suite, etm, name) in TLS12_CASES {
        let p = suite_params(false, suite).unwrap();
        let d = tls12_dir(p, &MASTER, Side::Client);
        let (header, body) = seal12(p, etm, &d, 0, 23, &payload(40), 0);
        let mut out = Vec::new();
        let mut keys = keys12(p, &MASTER, Side::Client, etm);
        assert_eq!(
            keys.open(&header, &body[..4], &mut out),
            Err(OpenError::Malformed),
            "{name}"
        );
        for n in 0..body.len() {
            assert!(
                keys.open_skipping(&header, &body[..n], &mut out, 2)
                    .is_err(),
                "{name} {n}"
            );
            assert!(out.is_empty());
        }
        assert_eq!(keys.seq(), 0);
        assert_eq!(keys.open(&header, &body, &mut out), Ok(23));
    }
}

#[test]
fn cbc_padding_errors() {
    let p = suite_params(false, 0xC013).unwrap();
    let d = tls12_dir(p, &MASTER, Side::Client);
    let mut out = Vec::new();
    let sq = 0u64.to_be_bytes();
    let pt = payload(11);
    // MAC-then-encrypt with a valid MAC but inconsistent padding bytes: bad_record_mac.
    let tag = hmac_of(
        MacHash::Sha1,
        &d.mac_key,
        &[&sq, &[23], &[3, 3], &[0, 11], &pt],
    );
    let mut data = [pt.clone(), tag].concat();
    tls_pad(&mut data, 0);
    let last = data.len() - 2;
    data[last] ^= 1;
    let iv = [7u8; 16];
    let (header, body) = record(
        23,
        [iv.to_vec(), cbc_encrypt(p.cipher, &d.key, &iv, data)].concat(),
    );
    let mut keys = keys12(p, &MASTER, Side::Client, false);
    assert_eq!(keys.open(&header, &body, &mut out), Err(OpenError::BadTag));
    assert_eq!(keys.seq(), 0);
    // Not a whole number of blocks.
    assert_eq!(
        keys.open(&header, &body[..body.len() - 1], &mut out),
        Err(OpenError::Malformed)
    );
    // Encrypt-then-MAC, MAC valid, padding invalid: authenticated but malformed.
    let mut data = pt.clone();
    tls_pad(&mut data, 0);
    let last = data.len() - 1;
    data[last] = 0x30;
    let enc = [iv.to_vec(), cbc_encrypt(p.cipher, &d.key, &iv, data)].concat();
    let tag = hmac_of(
        MacHash::Sha1,
        &d.mac_key,
        &[&sq, &[23], &[3, 3], &[0, 32], &enc],
    );
    let (header, body) = record(23, [enc, tag].concat());
    let mut keys = keys12(p, &MASTER, Side::Client, true);
    assert_eq!(
        keys.open(&header, &body, &mut out),
        Err(OpenError::Malformed)
    );
    assert_eq!(
        keys.seq(),
        1,
        "the record was the peer's: the sequence moves on"
    );
}

fn expand_by_hand(hash: PrfHash, secret: &[u8], label: &str, len: usize) -> Vec<u8> {
    let full = format!("tls13 {label}");
    let info = [
        &(len as u16).to_be_bytes()[..],
        &[full.len() as u8],
        full.as_bytes(),
        &[0],
    ]
    .concat();
    let mut out = vec![0u8; len];
    match hash {
        PrfHash::Sha256 => Hkdf::<Sha256>::from_prk(secret)
            .unwrap()
            .expand(&info, &mut out),
        PrfHash::Sha384 => Hkdf::<Sha384>::from_prk(secret)
            .unwrap()
            .expand(&info, &mut out),
    }
    .unwrap();
    out
}

/// A TLS 1.3 record sealed by hand (RFC 8446 §5.2–5.3, §7.3).
fn seal13(
    p: SuiteParams,
    secret: &[u8],
    seq: u64,
    ct: u8,
    pt: &[u8],
    zeros: usize,
) -> ([u8; 5], Vec<u8>) {
    let key = expand_by_hand(p.prf, secret, "key", p.cipher.key_len());
    let iv = expand_by_hand(p.prf, secret, "iv", 12);
    let tag_len = if matches!(p.cipher, Cipher::Aes128Ccm8) {
        8
    } else {
        16
    };
    let inner = [pt, &[ct], &vec![0u8; zeros]].concat();
    let len = ((inner.len() + tag_len) as u16).to_be_bytes();
    let header = [23, 3, 3, len[0], len[1]];
    (
        header,
        seal_aead(p.cipher, &key, &xor_seq(&iv, seq), &header, &inner),
    )
}

fn secret13(p: SuiteParams, fill: u8) -> Vec<u8> {
    vec![fill; p.prf.output_len()]
}

#[test]
fn tls13_families() {
    for &suite in TLS13_SUITES {
        let p = suite_params(true, suite).unwrap();
        let secret = secret13(p, 0x33);
        let mut keys = RecordKeys::tls13(p, &secret).unwrap();
        let mut out = Vec::new();
        for (seq, (n, ct, zeros)) in [(0, 22, 0), (1, 23, 5), (17, 21, 0), (64, 23, 100)]
            .into_iter()
            .enumerate()
        {
            let (header, body) = seal13(p, &secret, seq as u64, ct, &payload(n), zeros);
            assert_eq!(
                keys.open(&header, &body, &mut out),
                Ok(ct),
                "{suite:#06x} seq {seq}"
            );
            assert_eq!(out, payload(n));
        }
        let (header, body) = seal13(p, &secret, 4, 23, &payload(30), 2);
        for i in 0..body.len() {
            let mut bad = body.clone();
            bad[i] ^= 0x80;
            assert_eq!(
                keys.open(&header, &bad, &mut out),
                Err(OpenError::BadTag),
                "{suite:#06x} byte {i}"
            );
        }
        let mut bad_header = header;
        bad_header[4] ^= 1;
        assert_eq!(
            keys.open(&bad_header, &body, &mut out),
            Err(OpenError::BadTag)
        );
        let mut wrong = RecordKeys::tls13(p, &secret13(p, 0x34)).unwrap();
        assert_eq!(
            wrong.open_skipping(&header, &body, &mut out, 8),
            Err(OpenError::BadTag)
        );
        let tag_len = p.cipher.tag_len();
        assert_eq!(
            keys.open(&header, &body[..tag_len], &mut out),
            Err(OpenError::Malformed)
        );
        for n in 0..body.len() {
            assert!(keys.open(&header, &body[..n], &mut out).is_err());
        }
        assert_eq!(keys.open(&header, &body, &mut out), Ok(23));
        assert_eq!(keys.seq(), 5);
    }
}

#[test]
fn tls13_all_zero_inner_plaintext_is_malformed_and_consumed() {
    let p = suite_params(true, 0x1303).unwrap();
    let secret = secret13(p, 1);
    let (header, body) = seal13(p, &secret, 0, 0, &[], 7);
    let mut keys = RecordKeys::tls13(p, &secret).unwrap();
    let mut out = Vec::new();
    assert_eq!(
        keys.open(&header, &body, &mut out),
        Err(OpenError::Malformed)
    );
    assert!(out.is_empty());
    assert_eq!(keys.seq(), 1);
}

#[test]
fn huge_max_skip_is_capped() {
    let p = suite_params(true, 0x1301).unwrap();
    let mut keys = RecordKeys::tls13(p, &secret13(p, 2)).unwrap();
    let mut out = Vec::new();
    let r = keys.open_skipping(&[23, 3, 3, 0, 40], &[0x55; 40], &mut out, u64::MAX);
    assert_eq!(r, Err(OpenError::BadTag));
    assert_eq!(keys.seq(), 0);
}

/// Every TLS 1.3 suite and every TLS 1.2 case, as (TLS 1.3, suite, EtM).
fn all_cases() -> Vec<(bool, u16, bool)> {
    let mut cases: Vec<_> = TLS13_SUITES.iter().map(|&s| (true, s, false)).collect();
    cases.extend(TLS12_CASES.iter().map(|&(s, etm, _)| (false, s, etm)));
    cases
}

fn keys_for(case: (bool, u16, bool)) -> RecordKeys {
    let (v13, suite, etm) = case;
    let p = suite_params(v13, suite).unwrap();
    if v13 {
        RecordKeys::tls13(p, &secret13(p, 9)).unwrap()
    } else {
        keys12(p, &MASTER, Side::Client, etm)
    }
}

fn valid_record(case: (bool, u16, bool)) -> ([u8; 5], Vec<u8>) {
    let (v13, suite, etm) = case;
    let p = suite_params(v13, suite).unwrap();
    if v13 {
        seal13(p, &secret13(p, 9), 0, 23, &payload(24), 3)
    } else {
        seal12(
            p,
            etm,
            &tls12_dir(p, &MASTER, Side::Client),
            0,
            23,
            &payload(24),
            1,
        )
    }
}

proptest! {
    #[test]
    fn open_never_panics_on_arbitrary_records(
        case in prop::sample::select(all_cases()),
        header in any::<[u8; 5]>(),
        body in prop::collection::vec(any::<u8>(), 0..400),
        max_skip in 0u64..4,
    ) {
        let mut keys = keys_for(case);
        let mut out = Vec::new();
        let _ = keys.open(&header, &body, &mut out);
        prop_assert!(out.len() <= body.len());
        let _ = keys.open_skipping(&header, &body, &mut out, max_skip);
        prop_assert!(out.len() <= body.len());
    }

    #[test]
    fn open_never_panics_on_damaged_valid_records(
        case in prop::sample::select(all_cases()),
        cut in 0usize..200,
        at in 0usize..200,
        xor in any::<u8>(),
    ) {
        let (header, mut body) = valid_record(case);
        if let Some(b) = body.get_mut(at) {
            *b ^= xor;
        }
        body.truncate(body.len().saturating_sub(cut % 24));
        let mut keys = keys_for(case);
        let mut out = Vec::new();
        let r = keys.open_skipping(&header, &body, &mut out, 2);
        prop_assert!(out.len() <= body.len());
        if r.is_ok() {
            prop_assert_eq!(out, payload(24));
        }
    }
}
