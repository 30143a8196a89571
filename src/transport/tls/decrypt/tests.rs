//! Tests of the decryption core: RFC 8448 vectors, the TLS 1.2 PRF, KeyUpdate, the suite
//! table, real lab sessions (here); every cipher family sealed independently and a
//! proptest (`ciphers`); the key log (`keylog`).

mod ciphers;
mod keylog;

use super::*;
use crate::tcp::Side;
use aes_gcm::aead::{Aead as _, KeyInit, Payload};
use hkdf::Hkdf;
use sha2::Sha256;

/// Bytes from hex, whitespace ignored (test data only).
pub(super) fn h(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

/// A record split into its header and body.
pub(super) fn split_record(record: &[u8]) -> ([u8; 5], &[u8]) {
    let (header, body) = record.split_at(5);
    (header.try_into().unwrap(), body)
}

fn tls13(suite: u16) -> SuiteParams {
    suite_params(true, suite).unwrap()
}

// RFC 8448 §3 "Simple 1-RTT Handshake" (TLS_AES_128_GCM_SHA256), transcribed from the RFC.

const RFC_S_HS_SECRET: &str = "b6 7b 7d 69 0c c1 6c 4e 75 e5 42 13 cb 2d 37 b4 e9 c9 12 bc de d9 10 5d 42 be fd 59 d3 91 ad 38";
const RFC_S_HS_KEY: &str = "3f ce 51 60 09 c2 17 27 d0 f2 e4 e8 6e e4 03 bc";
const RFC_S_HS_IV: &str = "5d 31 3e b2 67 12 76 ee 13 00 0b 30";
const RFC_C_HS_SECRET: &str = "b3 ed db 12 6e 06 7f 35 a7 80 b3 ab f4 5e 2d 8f 3b 1a 95 07 38 f5 2e 96 00 74 6a 0e 27 a5 5a 21";
const RFC_C_HS_KEY: &str = "db fa a6 93 d1 76 2c 5b 66 6a f5 d9 50 25 8d 01";
const RFC_C_HS_IV: &str = "5b d3 c7 1b 83 6e 0b 76 bb 73 26 5f";
const RFC_C_AP_SECRET: &str = "9e 40 64 6c e7 9a 7f 9d c0 5a f8 88 9b ce 65 52 87 5a fa 0b 06 df 00 87 f7 92 eb b7 c1 75 04 a5";
const RFC_C_AP_KEY: &str = "17 42 2d da 59 6e d5 d9 ac d8 90 e3 c6 3f 50 51";
const RFC_C_AP_IV: &str = "5b 78 92 3d ee 08 57 90 33 e5 23 d9";
const RFC_S_AP_SECRET: &str = "a1 1a f9 f0 55 31 f8 56 ad 47 11 6b 45 a9 50 32 82 04 b4 f4 4b fb 6b 3a 4b 4f 1f 3f cb 63 16 43";
const RFC_S_AP_KEY: &str = "9f 02 28 3b 6c 9c 07 ef c2 6b b9 f2 ac 92 e3 56";
const RFC_S_AP_IV: &str = "cf 78 2b 88 dd 83 54 9a ad f1 e9 84";

/// {server} send handshake record: EncryptedExtensions, Certificate, CertificateVerify,
/// Finished (679 octets).
const RFC_SERVER_FLIGHT: &str = "
    17 03 03 02 a2 d1 ff 33 4a 56 f5 bf f6 59 4a 07 cc 87 b5 80 23 3f 50 0f 45 e4 89 e7 f3 3a f3 5e
    df 78 69 fc f4 0a a4 0a a2 b8 ea 73 f8 48 a7 ca 07 61 2e f9 f9 45 cb 96 0b 40 68 90 51 23 ea 78
    b1 11 b4 29 ba 91 91 cd 05 d2 a3 89 28 0f 52 61 34 aa dc 7f c7 8c 4b 72 9d f8 28 b5 ec f7 b1 3b
    d9 ae fb 0e 57 f2 71 58 5b 8e a9 bb 35 5c 7c 79 02 07 16 cf b9 b1 18 3e f3 ab 20 e3 7d 57 a6 b9
    d7 47 76 09 ae e6 e1 22 a4 cf 51 42 73 25 25 0c 7d 0e 50 92 89 44 4c 9b 3a 64 8f 1d 71 03 5d 2e
    d6 5b 0e 3c dd 0c ba e8 bf 2d 0b 22 78 12 cb b3 60 98 72 55 cc 74 41 10 c4 53 ba a4 fc d6 10 92
    8d 80 98 10 e4 b7 ed 1a 8f d9 91 f0 6a a6 24 82 04 79 7e 36 a6 a7 3b 70 a2 55 9c 09 ea d6 86 94
    5b a2 46 ab 66 e5 ed d8 04 4b 4c 6d e3 fc f2 a8 94 41 ac 66 27 2f d8 fb 33 0e f8 19 05 79 b3 68
    45 96 c9 60 bd 59 6e ea 52 0a 56 a8 d6 50 f5 63 aa d2 74 09 96 0d ca 63 d3 e6 88 61 1e a5 e2 2f
    44 15 cf 95 38 d5 1a 20 0c 27 03 42 72 96 8a 26 4e d6 54 0c 84 83 8d 89 f7 2c 24 46 1a ad 6d 26
    f5 9e ca ba 9a cb bb 31 7b 66 d9 02 f4 f2 92 a3 6a c1 b6 39 c6 37 ce 34 31 17 b6 59 62 22 45 31
    7b 49 ee da 0c 62 58 f1 00 d7 d9 61 ff b1 38 64 7e 92 ea 33 0f ae ea 6d fa 31 c7 a8 4d c3 bd 7e
    1b 7a 6c 71 78 af 36 87 90 18 e3 f2 52 10 7f 24 3d 24 3d c7 33 9d 56 84 c8 b0 37 8b f3 02 44 da
    8c 87 c8 43 f5 e5 6e b4 c5 e8 28 0a 2b 48 05 2c f9 3b 16 49 9a 66 db 7c ca 71 e4 59 94 26 f7 d4
    61 e6 6f 99 88 2b d8 9f c5 08 00 be cc a6 2d 6c 74 11 6d bd 29 72 fd a1 fa 80 f8 5d f8 81 ed be
    5a 37 66 89 36 b3 35 58 3b 59 91 86 dc 5c 69 18 a3 96 fa 48 a1 81 d6 b6 fa 4f 9d 62 d5 13 af bb
    99 2f 2b 99 2f 67 f8 af e6 7f 76 91 3f a3 88 cb 56 30 c8 ca 01 e0 c6 5d 11 c6 6a 1e 2a c4 c8 59
    77 b7 c7 a6 99 9b bf 10 dc 35 ae 69 f5 51 56 14 63 6c 0b 9b 68 c1 9e d2 e3 1c 0b 3b 66 76 30 38
    eb ba 42 f3 b3 8e dc 03 99 f3 a9 f2 3f aa 63 97 8c 31 7f c9 fa 66 a7 3f 60 f0 50 4d e9 3b 5b 84
    5e 27 55 92 c1 23 35 ee 34 0b bc 4f dd d5 02 78 40 16 e4 b3 be 7e f0 4d da 49 f4 b4 40 a3 0c b5
    d2 af 93 98 28 fd 4a e3 79 4e 44 f9 4d f5 a6 31 ed e4 2c 17 19 bf da bf 02 53 fe 51 75 be 89 8e
    75 0e dc 53 37 0d 2b";

/// The server's Finished, the last message of that flight.
const RFC_SERVER_FINISHED: &str = "14 00 00 20 9b 9b 14 1d 90 63 37 fb d2 cb dc e7 1d f4 de da
    4a b4 2c 30 95 72 cb 7f ff ee 54 54 b7 8f 07 18";

/// {client} send handshake record: the client's Finished.
const RFC_CLIENT_FINISHED: &str = "17 03 03 00 35 75 ec 4d c2 38 cc e6 0b 29 80 44 a7 1e 21 9c
    56 cc 77 b0 51 7f e9 b9 3c 7a 4b fc 44 d8 7f 38 f8 03 38 ac 98 fc 46 de b3 84 bd 1c ae ac ab
    68 67 d7 26 c4 05 46";

/// {client} send application_data record (sequence 0; payload 00 01 … 31).
const RFC_CLIENT_APP: &str = "17 03 03 00 43 a2 3f 70 54 b6 2c 94 d0 af fa fe 82 28 ba 55 cb
    ef ac ea 42 f9 14 aa 66 bc ab 3f 2b 98 19 a8 a5 b4 6b 39 5b d5 4a 9a 20 44 1e 2b 62 97 4e 1f
    5a 62 92 a2 97 70 14 bd 1e 3d ea e6 3a ee bb 21 69 49 15 e4";

/// {server} send application_data record (sequence 1: the NewSessionTicket was 0).
const RFC_SERVER_APP: &str = "17 03 03 00 43 2e 93 7e 11 ef 4a c7 40 e5 38 ad 36 00 5f c4 a4
    69 32 fc 32 25 d0 5f 82 aa 1b 36 e3 0e fa f9 7d 90 e6 df fc 60 2d cb 50 1a 59 a8 fc c4 9c 4b
    f2 e5 f0 a2 1c 00 47 c2 ab f3 32 54 0d d0 32 e1 67 c2 95 5d";

#[test]
fn rfc8448_traffic_keys_and_ivs() {
    let params = tls13(0x1301);
    for (secret, key, iv) in [
        (RFC_S_HS_SECRET, RFC_S_HS_KEY, RFC_S_HS_IV),
        (RFC_C_HS_SECRET, RFC_C_HS_KEY, RFC_C_HS_IV),
        (RFC_C_AP_SECRET, RFC_C_AP_KEY, RFC_C_AP_IV),
        (RFC_S_AP_SECRET, RFC_S_AP_KEY, RFC_S_AP_IV),
    ] {
        let (k, i) = traffic_key_iv(params, &h(secret)).unwrap();
        assert_eq!(*k, h(key));
        assert_eq!(*i, h(iv));
    }
}

#[test]
fn rfc8448_server_handshake_flight() {
    let record = h(RFC_SERVER_FLIGHT);
    assert_eq!(record.len(), 679);
    let (header, body) = split_record(&record);
    let mut keys = RecordKeys::tls13(tls13(0x1301), &h(RFC_S_HS_SECRET)).unwrap();
    let mut out = Vec::new();
    assert_eq!(keys.open(&header, body, &mut out), Ok(0x16));
    assert_eq!(out.len(), 674 - 16 - 1);
    assert_eq!(
        out[..4],
        [0x08, 0x00, 0x00, 0x24],
        "EncryptedExtensions first"
    );
    assert!(out.ends_with(&h(RFC_SERVER_FINISHED)), "Finished last");
    assert_eq!(keys.seq(), 1);
}

#[test]
fn rfc8448_client_finished() {
    let record = h(RFC_CLIENT_FINISHED);
    let (header, body) = split_record(&record);
    let secrets = SessionSecrets {
        client_handshake: Some(Secret::new(&h(RFC_C_HS_SECRET))),
        ..Default::default()
    };
    let mut keys = tls13_keys(&secrets, tls13(0x1301), Side::Client, Stage::Handshake).unwrap();
    assert!(tls13_keys(&secrets, tls13(0x1301), Side::Server, Stage::Handshake).is_none());
    let mut out = Vec::new();
    assert_eq!(keys.open(&header, body, &mut out), Ok(0x16));
    assert_eq!(out.len(), 36);
    assert_eq!(out[..4], [0x14, 0x00, 0x00, 0x20]);
}

#[test]
fn rfc8448_application_data_both_directions() {
    let payload: Vec<u8> = (0u8..=0x31).collect();
    let secrets = SessionSecrets {
        client_traffic_0: Some(Secret::new(&h(RFC_C_AP_SECRET))),
        server_traffic_0: Some(Secret::new(&h(RFC_S_AP_SECRET))),
        ..Default::default()
    };
    let params = tls13(0x1301);
    let mut out = Vec::new();

    let record = h(RFC_CLIENT_APP);
    let (header, body) = split_record(&record);
    let mut client = tls13_keys(&secrets, params, Side::Client, Stage::Application).unwrap();
    assert_eq!(client.open(&header, body, &mut out), Ok(23));
    assert_eq!(out, payload);

    // The server's record is its second under these keys: seq 0 fails, skipping finds 1.
    let record = h(RFC_SERVER_APP);
    let (header, body) = split_record(&record);
    let mut server = tls13_keys(&secrets, params, Side::Server, Stage::Application).unwrap();
    assert_eq!(server.open(&header, body, &mut out), Err(OpenError::BadTag));
    assert!(out.is_empty());
    assert_eq!(server.seq(), 0);
    assert_eq!(server.open_skipping(&header, body, &mut out, 3), Ok(23));
    assert_eq!(out, payload);
    assert_eq!(server.seq(), 2);
}

#[test]
fn rfc8448_client_record_does_not_open_under_server_keys() {
    let record = h(RFC_CLIENT_APP);
    let (header, body) = split_record(&record);
    let mut keys = RecordKeys::tls13(tls13(0x1301), &h(RFC_S_AP_SECRET)).unwrap();
    let mut out = Vec::new();
    assert_eq!(
        keys.open_skipping(&header, body, &mut out, 8),
        Err(OpenError::BadTag)
    );
    assert_eq!(keys.seq(), 0);
}

/// HKDF-Expand-Label built by hand: the independent reference for the KeyUpdate test.
fn expand_label_by_hand(secret: &[u8], label: &str, len: u16) -> Vec<u8> {
    let full = format!("tls13 {label}");
    let mut info = len.to_be_bytes().to_vec();
    info.push(full.len() as u8);
    info.extend_from_slice(full.as_bytes());
    info.push(0);
    let mut out = vec![0u8; usize::from(len)];
    Hkdf::<Sha256>::from_prk(secret)
        .unwrap()
        .expand(&info, &mut out)
        .unwrap();
    out
}

#[test]
fn key_update_derives_the_next_generation() {
    let params = tls13(0x1301);
    let secret: Vec<u8> = (0..32).map(|i| i * 7 + 1).collect();
    let next = expand_label_by_hand(&secret, "traffic upd", 32);
    let derived = hkdf_expand_label(PrfHash::Sha256, &secret, "traffic upd", &[], 32).unwrap();
    assert_eq!(*derived, next);
    let key = expand_label_by_hand(&next, "key", 16);
    let iv = expand_label_by_hand(&next, "iv", 12);
    let (k, i) = traffic_key_iv(params, &next).unwrap();
    assert_eq!((k.to_vec(), i.to_vec()), (key.clone(), iv.clone()));

    // A record sealed under the updated key, sequence 0.
    let inner = [b"after update".as_slice(), &[23]].concat();
    let header = [23, 3, 3, 0, (inner.len() + 16) as u8];
    let sealed = aes_gcm::Aes128Gcm::new_from_slice(&key)
        .unwrap()
        .encrypt(
            iv.as_slice().into(),
            Payload {
                msg: &inner,
                aad: &header,
            },
        )
        .unwrap();

    let mut keys = RecordKeys::tls13(params, &secret).unwrap();
    let mut out = Vec::new();
    assert_eq!(
        keys.open(&header, &sealed, &mut out),
        Err(OpenError::BadTag)
    );
    assert!(keys.key_update());
    assert_eq!(keys.seq(), 0);
    assert_eq!(keys.open(&header, &sealed, &mut out), Ok(23));
    assert_eq!(out, b"after update");
    assert_eq!(keys.seq(), 1);
}

#[test]
fn key_update_resets_the_sequence_and_is_refused_for_tls12() {
    let mut keys = RecordKeys::tls13(tls13(0x1302), &[9u8; 48]).unwrap();
    let mut out = Vec::new();
    let _ = keys.open_skipping(&[23, 3, 3, 0, 20], &[0u8; 20], &mut out, 0);
    assert!(keys.key_update());
    assert_eq!(keys.seq(), 0);
    let p12 = suite_params(false, 0xC02F).unwrap();
    let mut k12 =
        RecordKeys::tls12(p12, &[1; 48], &[2; 32], &[3; 32], Side::Client, false).unwrap();
    assert!(!k12.key_update());
}

#[test]
fn tls12_prf_vectors() {
    // The TLS 1.2 P_SHA256 vector circulated on the IETF TLS list; both outputs agree with
    // `openssl kdf -kdfopt digest:SHA256|SHA384 … TLS1-PRF`.
    let mut out = [0u8; 100];
    prf(
        PrfHash::Sha256,
        &h("9bbe436ba940f017b17652849a71db35"),
        b"test label",
        &h("a0ba9f936cda311827a6f796ffd5198c"),
        &mut out,
    )
    .unwrap();
    let want = "e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a
        6b301791e90d35c9c9a46b4e14baf9af0fa022f7077def17abfd3797c0564bab
        4fbc91666e9def9b97fce34f796789baa48082d122ee42c5a72e5a5110fff70187347b66";
    assert_eq!(out.to_vec(), h(want));
    let mut out = [0u8; 148];
    prf(
        PrfHash::Sha384,
        &h("b80b733d6ceefcdc71566ea48e5567df"),
        b"test label",
        &h("cd665cf6a8447dd6ff8b27555edb7465"),
        &mut out,
    )
    .unwrap();
    let want = "7b0c18e9ced410ed1804f2cfa34a336a1c14dffb4900bb5fd7942107e81c83cd
        e9ca0faa60be9fe34f82b1233c9146a0e534cb400fed2700884f9dc236f80edd8bfa961144c9e8d7
        92eca722a7b32fc3d416d473ebc2c5fd4abfdad05d9184259b5bf8cd4d90fa0d31e2dec479e4f1a2
        6066f2eea9a69236a3e52655c9e9aee691c8f3a26854308d5eaa3be85e0990703d73e56f";
    assert_eq!(out.to_vec(), h(want));
}

#[test]
fn suite_table_spot_checks() {
    let p = |v13, id| suite_params(v13, id).map(|p| (p.cipher, p.mac, p.prf));
    use Cipher::*;
    assert_eq!(p(true, 0x1301), Some((Aes128Gcm, None, PrfHash::Sha256)));
    assert_eq!(p(true, 0x1302), Some((Aes256Gcm, None, PrfHash::Sha384)));
    assert_eq!(
        p(true, 0x1303),
        Some((ChaCha20Poly1305, None, PrfHash::Sha256))
    );
    assert_eq!(p(true, 0x1304), Some((Aes128Ccm, None, PrfHash::Sha256)));
    assert_eq!(p(true, 0x1305), Some((Aes128Ccm8, None, PrfHash::Sha256)));
    assert_eq!(p(false, 0xC02B), Some((Aes128Gcm, None, PrfHash::Sha256)));
    assert_eq!(p(false, 0xC030), Some((Aes256Gcm, None, PrfHash::Sha384)));
    assert_eq!(p(false, 0x009F), Some((Aes256Gcm, None, PrfHash::Sha384)));
    assert_eq!(
        p(false, 0xCCA9),
        Some((ChaCha20Poly1305, None, PrfHash::Sha256))
    );
    assert_eq!(p(false, 0xC0A3), Some((Aes256Ccm8, None, PrfHash::Sha256)));
    assert_eq!(p(false, 0xC0AC), Some((Aes128Ccm, None, PrfHash::Sha256)));
    assert_eq!(
        p(false, 0xC014),
        Some((Aes256Cbc, Some(MacHash::Sha1), PrfHash::Sha256))
    );
    assert_eq!(
        p(false, 0x003C),
        Some((Aes128Cbc, Some(MacHash::Sha256), PrfHash::Sha256))
    );
    assert_eq!(
        p(false, 0x006B),
        Some((Aes256Cbc, Some(MacHash::Sha256), PrfHash::Sha256))
    );
    assert_eq!(
        p(false, 0xC024),
        Some((Aes256Cbc, Some(MacHash::Sha384), PrfHash::Sha384))
    );
    assert_eq!(p(false, 0x1301), None);
    assert_eq!(p(true, 0xC02F), None);
    assert_eq!(p(false, 0xCC13), None, "pre-RFC ChaCha20 has another nonce");
    assert_eq!(p(false, 0x000A), None, "3DES");
}

#[test]
fn every_listed_suite_builds_keys() {
    let (mut n12, mut n13) = (0, 0);
    for id in 0..=u16::MAX {
        if let Some(p) = suite_params(true, id) {
            let secret = vec![5u8; p.prf.output_len()];
            assert!(RecordKeys::tls13(p, &secret).is_some(), "{id:#06x}");
            assert!(RecordKeys::tls13(p, &secret[1..]).is_none(), "{id:#06x}");
            n13 += 1;
        }
        if let Some(p) = suite_params(false, id) {
            for etm in [false, true] {
                let keys = RecordKeys::tls12(p, &[1; 48], &[2; 32], &[3; 32], Side::Server, etm);
                assert!(keys.is_some(), "{id:#06x}");
            }
            assert!(RecordKeys::tls13(p, &[0; 32]).is_none());
            n12 += 1;
        }
    }
    assert_eq!((n12, n13), (115, 5));
}

// Lab sessions (captures/tls, made by mosquitto and OpenSSL); records as tshark shows them.

const TLS12_KEYS: &str = include_str!("../../../../captures/tls/tls12-clean.keys");
const TLS13_KEYS: &str = include_str!("../../../../captures/tls/tls13-clean.keys");

/// MQTT CONNECT as tshark decrypts it: protocol level 4, keepalive 5, client id `sub-tlsXX-clean`.
fn mqtt_connect(client_id: &str) -> Vec<u8> {
    [
        h("10 1b 00 04 4d 51 54 54 04 02 00 05 00 0f"),
        client_id.as_bytes().to_vec(),
    ]
    .concat()
}

#[test]
fn lab_tls12_session_decrypts_connect_and_connack() {
    let mut log = KeyLog::default();
    let counts = log.add_text(TLS12_KEYS);
    assert_eq!((counts.used, counts.comments, counts.bad), (3, 1, 0));
    let client_random: [u8; 32] =
        h("a350f5bf7de091de7bd14b311120e359aa546c158acf8955b049bb207a8f6b59")
            .try_into()
            .unwrap();
    let server_random: [u8; 32] =
        h("e8caeeb13fcd4095c8af015278f8cdaf445e606a881338aca4a06e4f8e37ad5b")
            .try_into()
            .unwrap();
    let secrets = log.get(&client_random).unwrap();
    let params = suite_params(false, 0xC02C).unwrap(); // ECDHE-ECDSA-AES256-GCM-SHA384
    let keys = |side| tls12_keys(secrets, params, &client_random, &server_random, side, false);
    let mut out = Vec::new();

    // Frame 15: the client's first application data record (its Finished was seq 0).
    let record = h(
        "1703030035842934b6258571265c908048e663463ca5f9e9b33561b5cdffcf5807bfe507
        def04f8e019db3c7830ef4c94e7d5263bd76d7e3d64a",
    );
    let (header, body) = split_record(&record);
    let mut client = keys(Side::Client).unwrap();
    assert_eq!(
        client.open(&header, body, &mut out),
        Err(OpenError::BadTag),
        "seq 0 is the Finished"
    );
    assert_eq!(client.open_skipping(&header, body, &mut out, 1), Ok(23));
    assert_eq!(out, mqtt_connect("sub-tls12-clean"));
    assert_eq!(client.seq(), 2);

    // Frame 16: the broker's CONNACK.
    let record = h("170303001c1fe1c3d53d036ab80cafc482d1b8065a401b9c38c69e72bccb63010d");
    let (header, body) = split_record(&record);
    let mut server = keys(Side::Server).unwrap();
    assert_eq!(server.open_skipping(&header, body, &mut out, 1), Ok(23));
    assert_eq!(out, [0x20, 0x02, 0x00, 0x00]);
}

#[test]
fn lab_tls13_session_decrypts_connect_and_connack() {
    let mut log = KeyLog::default();
    let counts = log.add_text(TLS13_KEYS);
    assert_eq!((counts.used, counts.unused, counts.bad), (12, 3, 0));
    assert_eq!(log.len(), 3);
    let client_random: [u8; 32] =
        h("af4a218586214e02682e092e32e5ed613d6a3e875d59d28515f389d4b24539f9")
            .try_into()
            .unwrap();
    let secrets = log.get(&client_random).unwrap();
    let params = suite_params(true, 0x1302).unwrap(); // TLS_AES_256_GCM_SHA384
    let mut out = Vec::new();

    // Frame 14: the client's application data record 0.
    let record = h(
        "170303002ef689c5aff1aa97e32c10c1c74e6f5b1c9fc6caf7d86b37f7a4130a092899b9
        5f1d0614d0aafdcb25dc593c97b5f1",
    );
    let (header, body) = split_record(&record);
    let mut client = tls13_keys(secrets, params, Side::Client, Stage::Application).unwrap();
    assert_eq!(client.open(&header, body, &mut out), Ok(23));
    assert_eq!(out, mqtt_connect("sub-tls13-clean"));

    // Frame 17: the CONNACK, after two NewSessionTickets (seq 0 and 1) not given here.
    let record = h("17030300153c2b65caa20f8fe645086502ba864d4d97aff9746c");
    let (header, body) = split_record(&record);
    let mut server = tls13_keys(secrets, params, Side::Server, Stage::Application).unwrap();
    assert_eq!(
        server.open_skipping(&header, body, &mut out, 1),
        Err(OpenError::BadTag)
    );
    assert_eq!(server.open_skipping(&header, body, &mut out, 2), Ok(23));
    assert_eq!(out, [0x20, 0x02, 0x00, 0x00]);
    assert_eq!(server.seq(), 3);
}
