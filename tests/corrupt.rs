//! Hostile captures through the real binary: every file in `tests/corrupt/` (made by
//! `tests/corrupt/make.py` from real captures, see its `manifest.json`), plus a capture of a
//! million tiny segments generated here. Whatever the damage, dropscope must exit with a
//! documented code (never 101, a panic), name the file and the offset where the file is at
//! fault, and still analyze everything it could read.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corrupt")
}

fn run(args: &[&str], capture: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dropscope"))
        .arg("analyze")
        .args(args)
        .arg(capture)
        .output()
        .expect("run dropscope")
}

fn manifest() -> serde_json::Map<String, Value> {
    let text = std::fs::read_to_string(corpus().join("manifest.json")).expect("manifest");
    match serde_json::from_str(&text).expect("manifest is JSON") {
        Value::Object(m) => m,
        _ => panic!("manifest is not an object"),
    }
}

/// Checks one corrupt file against its manifest entry; returns a description of each failure.
fn check(name: &str, expect: &Value) -> Vec<String> {
    let mut failures = Vec::new();
    let mut fail = |what: String| failures.push(format!("{name}: {what}"));
    let path = corpus().join(name);
    let want_exit = expect["exit"].as_i64().expect("exit");
    for format in ["text", "json"] {
        let out = run(&["--format", format], &path);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let code = out.status.code();
        if code != Some(want_exit as i32) {
            fail(format!(
                "--format {format}: exit {code:?}, want {want_exit}; stderr: {stderr}"
            ));
            continue;
        }
        if want_exit != 0 && !stderr.contains(name) {
            fail(format!(
                "--format {format}: stderr does not name the file: {stderr}"
            ));
        }
        if let Some(offset) = expect["offset"].as_u64()
            && !stderr.contains(&format!("byte offset {offset} "))
        {
            fail(format!(
                "stderr does not name byte offset {offset}: {stderr}"
            ));
        }
        if want_exit == 0 && !stderr.is_empty() {
            fail(format!("clean exit but stderr says: {stderr}"));
        }
        if format != "json" || want_exit == 3 {
            continue;
        }
        let a: Value = match serde_json::from_slice(&out.stdout) {
            Ok(a) => a,
            Err(e) => {
                fail(format!("stdout is not JSON: {e}"));
                continue;
            }
        };
        if a["stats"]["frames"] != expect["frames"] {
            fail(format!(
                "frames read {} want {}",
                a["stats"]["frames"], expect["frames"]
            ));
        }
        let conns = a["connections"].as_array().map_or(0, Vec::len) as u64;
        if Some(conns) != expect["connections"].as_u64() {
            fail(format!(
                "{conns} connections, want {}",
                expect["connections"]
            ));
        }
        if want_exit == 4 && a["warnings"].as_array().is_none_or(Vec::is_empty) {
            fail("no warning in the JSON".into());
        }
        if let Some(anomaly) = expect.get("anomaly").and_then(Value::as_str) {
            let found = a["connections"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|c| c["anomalies"].as_array().into_iter().flatten())
                .any(|x| x["anomaly"] == anomaly);
            if !found {
                fail(format!("no {anomaly} anomaly"));
            }
        }
        if let Some(least) = expect
            .get("retransmissions_at_least")
            .and_then(Value::as_u64)
        {
            let total: u64 = a["connections"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c["retransmissions"].as_u64())
                .sum();
            if total < least {
                fail(format!("{total} retransmissions, want at least {least}"));
            }
        }
    }
    failures
}

#[test]
fn every_corrupt_capture_gets_a_documented_exit_and_the_readable_analysis() {
    let manifest = manifest();
    assert!(
        manifest.len() >= 12,
        "corpus incomplete: run tests/corrupt/make.py"
    );
    let failures: Vec<String> = manifest
        .iter()
        .flat_map(|(name, expect)| check(name, expect))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_missing_file_is_exit_3_naming_it() {
    let out = run(&[], &corpus().join("no-such-file.pcap"));
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no-such-file.pcap"));
}

/// A classic pcap of Ethernet/IPv4/TCP frames, written record by record.
struct Pcap(Vec<u8>);

impl Pcap {
    fn new() -> Pcap {
        let mut b = Vec::with_capacity(80 << 20);
        b.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        b.extend_from_slice(&[2, 0, 4, 0]); // version 2.4
        for word in [0u32, 0, 65535, 1] {
            // time zone, sigfigs, snaplen, Ethernet
            b.extend_from_slice(&word.to_le_bytes());
        }
        Pcap(b)
    }

    /// One TCP segment from `client` (port 50000 → 1883) or from the broker.
    fn tcp(&mut self, usec: u64, from_client: bool, seq: u32, ack: u32, flags: u8, data: &[u8]) {
        let (src, dst, sport, dport) = if from_client {
            ([10, 0, 0, 1], [10, 0, 0, 2], 50000u16, 1883u16)
        } else {
            ([10, 0, 0, 2], [10, 0, 0, 1], 1883, 50000)
        };
        let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
        let total = (40 + data.len()) as u16;
        f.extend_from_slice(&[0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 6, 0, 0]);
        f[16..18].copy_from_slice(&total.to_be_bytes());
        f.extend_from_slice(&src);
        f.extend_from_slice(&dst);
        f.extend_from_slice(&sport.to_be_bytes());
        f.extend_from_slice(&dport.to_be_bytes());
        f.extend_from_slice(&seq.to_be_bytes());
        f.extend_from_slice(&ack.to_be_bytes());
        f.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
        f.extend_from_slice(data);
        let len = f.len() as u32;
        for word in [
            (usec / 1_000_000) as u32,
            (usec % 1_000_000) as u32,
            len,
            len,
        ] {
            self.0.extend_from_slice(&word.to_le_bytes());
        }
        self.0.extend_from_slice(&f);
    }
}

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const PSH_ACK: u8 = 0x18;

/// One flow whose client sends a CONNECT, then a million one-byte segments (PINGREQs cut in
/// halves), every pair of segments swapped so half of them arrive out of order. Generated
/// into a temporary file: it is 71 MB.
#[test]
fn a_million_tiny_segments_on_one_flow() {
    const SEGMENTS: u32 = 1_000_000;
    let mut p = Pcap::new();
    let (c_isn, s_isn) = (1000u32, 5000u32);
    p.tcp(0, true, c_isn, 0, SYN, &[]);
    p.tcp(10, false, s_isn, c_isn + 1, SYN | ACK, &[]);
    p.tcp(20, true, c_isn + 1, s_isn + 1, ACK, &[]);
    let connect = b"\x10\x10\x00\x04MQTT\x04\x02\x00\x3c\x00\x04tiny";
    p.tcp(30, true, c_isn + 1, s_isn + 1, PSH_ACK, connect);
    p.tcp(
        40,
        false,
        s_isn + 1,
        c_isn + 1 + 18,
        PSH_ACK,
        b"\x20\x02\x00\x00",
    );
    let base = c_isn + 1 + connect.len() as u32;
    for i in 0..SEGMENTS {
        let k = i ^ 1; // swap each pair
        let byte = if k % 2 == 0 { 0xc0 } else { 0x00 };
        p.tcp(
            100 + u64::from(i),
            true,
            base + k,
            s_isn + 5,
            PSH_ACK,
            &[byte],
        );
    }
    let path = std::env::temp_dir().join(format!("dropscope-tiny-{}.pcap", std::process::id()));
    std::fs::write(&path, &p.0).expect("write capture");
    let out = run(&["--format", "json"], &path);
    std::fs::remove_file(&path).ok();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let a: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let conns = a["connections"].as_array().expect("connections");
    assert_eq!(conns.len(), 1);
    let c = &conns[0];
    assert_eq!(c["client_id"], "tiny");
    assert_eq!(c["packets"]["PINGREQ"], u64::from(SEGMENTS / 2));
    assert_eq!(c["tcp"]["client"]["out_of_order"], u64::from(SEGMENTS / 2));
    assert_eq!(c["tcp"]["client"]["hole_bytes"], 0);
}
