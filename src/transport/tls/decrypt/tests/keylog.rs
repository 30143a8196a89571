//! The NSS key log: every label, comments, bad lines, CRLF, pcapng DSB bytes, a file read
//! while it grows, and `Debug` output without secrets.

use super::super::*;
use super::h;
use std::io::Write;

const R1: &str = "1111111111111111111111111111111111111111111111111111111111111111";
const R2: &str = "2222222222222222222222222222222222222222222222222222222222222222";
const S32: &str = "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf";
const S48: &str = "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeef";

fn random(hex: &str) -> [u8; 32] {
    h(hex).try_into().unwrap()
}

fn every_label() -> String {
    format!(
        "# SSL/TLS secrets log file\n\
         CLIENT_RANDOM {R1} {S48}\n\
         \n\
         CLIENT_EARLY_TRAFFIC_SECRET {R2} {S32}\n\
         CLIENT_HANDSHAKE_TRAFFIC_SECRET {R2} {S48}\n\
         SERVER_HANDSHAKE_TRAFFIC_SECRET {R2} {S32}\n\
         CLIENT_TRAFFIC_SECRET_0 {R2} {S32}\n\
         SERVER_TRAFFIC_SECRET_0 {R2} {S48}\n\
         EXPORTER_SECRET {R2} {S32}\n\
         EARLY_EXPORTER_SECRET {R2} {S32}\n\
         RSA 0123456789abcdef {S48}\n\
         # done\n"
    )
}

fn check_every_label(log: &KeyLog, counts: KeyLogCounts) {
    assert_eq!(
        counts,
        KeyLogCounts {
            used: 6,
            unused: 3,
            comments: 2,
            bad: 0
        }
    );
    assert_eq!(log.len(), 2);
    let tls12 = log.get(&random(R1)).unwrap();
    assert_eq!(tls12.master_secret.as_ref().unwrap().as_bytes(), h(S48));
    assert!(tls12.client_traffic_0.is_none());
    let tls13 = log.get(&random(R2)).unwrap();
    let get = |s: &Option<Secret>| s.as_ref().unwrap().as_bytes().to_vec();
    assert_eq!(get(&tls13.client_early), h(S32));
    assert_eq!(get(&tls13.client_handshake), h(S48));
    assert_eq!(get(&tls13.server_handshake), h(S32));
    assert_eq!(get(&tls13.client_traffic_0), h(S32));
    assert_eq!(get(&tls13.server_traffic_0), h(S48));
    assert!(tls13.master_secret.is_none());
    assert!(log.get(&[0; 32]).is_none());
}

#[test]
fn every_label_lf_and_crlf() {
    let mut log = KeyLog::default();
    assert!(log.is_empty());
    let counts = log.add_text(&every_label());
    check_every_label(&log, counts);
    let mut log = KeyLog::default();
    let counts = log.add_text(&every_label().replace('\n', "\r\n"));
    check_every_label(&log, counts);
}

#[test]
fn bad_lines_are_counted_and_skipped() {
    let text = [
        format!("CLIENT_RANDOM {R1}"),                         // two fields
        format!("CLIENT_RANDOM {R1} {S48} extra"),             // four fields
        format!("CLIENT_RANDOM {R1} zz{}", &S48[2..]),         // bad hex
        format!("CLIENT_RANDOM {} {S48}", &R1[2..]),           // 31-byte random
        format!("CLIENT_RANDOM {R1} {S32}"),                   // 32-byte master secret
        format!("CLIENT_TRAFFIC_SECRET_0 {R1} {}", &S48[8..]), // 44-byte secret
        format!("CLIENT_TRAFFIC_SECRET_0 {R1} {}", &S32[1..]), // odd hex length
        format!("SERVER_TRAFFIC_SECRET_1 {R1} {S32}"),         // unknown label
        format!("RSA {R1} {S48}"),                             // RSA: 8-byte prefix expected
        format!("client_random {R1} {S48}"),                   // labels are upper case
        format!("CLIENT_RANDOM {} {}", R2.to_uppercase(), S48.to_uppercase()), // fine
    ]
    .join("\n");
    let mut log = KeyLog::default();
    let counts = log.add_text(&text);
    assert_eq!(counts.bad, 10);
    assert_eq!(counts.used, 1);
    assert_eq!(log.len(), 1);
    assert!(log.get(&random(R2)).unwrap().master_secret.is_some());
}

#[test]
fn later_lines_replace_earlier_ones() {
    let mut log = KeyLog::default();
    log.add_text(&format!(
        "CLIENT_RANDOM {R1} {S48}\nCLIENT_RANDOM {R1} {}\n",
        "00".repeat(48)
    ));
    let master = log
        .get(&random(R1))
        .unwrap()
        .master_secret
        .as_ref()
        .unwrap();
    assert_eq!(master.as_bytes(), [0u8; 48]);
}

#[test]
fn dsb_bytes_with_invalid_utf8() {
    let mut bytes = format!("CLIENT_RANDOM {R1} {S48}\n").into_bytes();
    bytes.extend_from_slice(b"CLIENT_RANDOM \xff\xfe\n");
    bytes.extend_from_slice(format!("SERVER_TRAFFIC_SECRET_0 {R2} {S32}\0\0").as_bytes());
    let mut log = KeyLog::default();
    let counts = log.add_dsb(&bytes);
    assert_eq!((counts.used, counts.bad), (2, 1));
    assert_eq!(log.len(), 2);
}

struct TempFile(std::path::PathBuf);

impl TempFile {
    fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!("dropscope-{}-{name}", std::process::id()));
        std::fs::write(&path, b"").unwrap();
        TempFile(path)
    }

    fn append(&self, bytes: &[u8]) {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.0)
            .unwrap();
        f.write_all(bytes).unwrap();
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn growing_file_keeps_the_partial_last_line() {
    let file = TempFile::new("keylog-growing");
    let mut reader = KeyLogFile::new(&file.0);
    let mut log = KeyLog::default();
    let line = format!("CLIENT_RANDOM {R1} {S48}\n");
    let (head, tail) = line.as_bytes().split_at(40);
    file.append(b"# comment\r\n");
    file.append(head);
    let counts = reader.read_new(&mut log).unwrap();
    assert_eq!((counts.comments, counts.used, counts.bad), (1, 0, 0));
    assert_eq!(reader.offset, 11 + 40);
    assert!(log.is_empty());
    assert_eq!(reader.read_new(&mut log).unwrap(), KeyLogCounts::default());
    file.append(tail);
    file.append(format!("SERVER_TRAFFIC_SECRET_0 {R2} {S32}").as_bytes());
    let counts = reader.read_new(&mut log).unwrap();
    assert_eq!((counts.used, counts.bad), (1, 0));
    assert!(log.get(&random(R1)).is_some());
    assert!(log.get(&random(R2)).is_none(), "no line end yet");
    let counts = reader.finish(&mut log);
    assert_eq!(counts.used, 1);
    assert!(log.get(&random(R2)).is_some());
}

#[test]
fn growing_file_overlong_line_and_truncation() {
    let file = TempFile::new("keylog-overlong");
    let mut reader = KeyLogFile::new(&file.0);
    let mut log = KeyLog::default();
    file.append(&vec![b'A'; MAX_LINE + 10]);
    assert_eq!(reader.read_new(&mut log).unwrap(), KeyLogCounts::default());
    file.append(format!("AAAA\nCLIENT_RANDOM {R1} {S48}\n").as_bytes());
    let counts = reader.read_new(&mut log).unwrap();
    assert_eq!((counts.used, counts.bad), (1, 1));
    // The file is replaced by a shorter one: read again from the start.
    std::fs::write(&file.0, format!("CLIENT_RANDOM {R2} {S48}\n")).unwrap();
    let counts = reader.read_new(&mut log).unwrap();
    assert_eq!(counts.used, 1);
    assert_eq!(log.len(), 2);
    assert!(
        KeyLogFile::new(file.0.join("missing"))
            .read_new(&mut log)
            .is_err()
    );
}

#[test]
fn debug_output_shows_no_secret() {
    let mut log = KeyLog::default();
    log.add_text(&every_label());
    let secrets = log.get(&random(R2)).unwrap();
    let keys = tls13_keys(
        secrets,
        suite_params(true, 0x1301).unwrap(),
        Side::Server,
        Stage::Handshake,
    )
    .unwrap();
    let file = KeyLogFile::new("/nonexistent");
    let shown = format!(
        "{secrets:?} {:?} {log:?} {keys:?} {file:?}",
        log.get(&random(R1))
    );
    assert!(shown.contains("redacted"), "{shown}");
    for secret in [S32, S48] {
        let bytes = h(secret);
        for needle in [
            secret.to_string(),
            secret.to_uppercase(),
            format!("{:?}", &bytes[..4])
                .trim_matches(['[', ']'])
                .to_string(),
            format!("{:x?}", &bytes[..4])
                .trim_matches(['[', ']'])
                .to_string(),
        ] {
            assert!(!shown.contains(&needle), "{needle} in {shown}");
        }
    }
}
