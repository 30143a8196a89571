//! End-to-end checks of the capture engine through the real binary: frame numbers equal
//! Wireshark's (also under a BPF filter), gzip and rotated sets read like the plain file,
//! and TLS connections are tracked at the TCP level only.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn analyze(args: &[&str], inputs: &[&Path]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_dropscope"))
        .args(["analyze", "--format", "json"])
        .args(args)
        .args(inputs)
        .output()
        .expect("run dropscope");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn conns(v: &Value) -> &Vec<Value> {
    v["connections"].as_array().unwrap()
}

/// Frame numbers from shared/captures-public/PROVENANCE.md (tshark's): in zeek-mqtt.pcap
/// the second stream's CONNECT is frame 8, its CONNACK frame 10, its DISCONNECT frame 9.
#[test]
fn frame_numbers_are_wiresharks() {
    let zeek = root().join("../shared/captures-public/zeek-mqtt.pcap");
    let a = analyze(&[], &[&zeek]);
    let c = conns(&a)
        .iter()
        .find(|c| c["client"] == "10.0.1.4:49330")
        .unwrap();
    assert_eq!(c["connect"]["frame"], 8);
    assert_eq!(c["connack"]["frame"], 10);
    assert_eq!(c["disconnect"]["frame"], 9);
}

/// A BPF filter drops frames after they are numbered: the connections that pass keep the
/// same frame numbers as without the filter.
#[test]
fn filter_keeps_frame_numbers() {
    let cap = root().join("captures/takeover-v311.pcap");
    let all = analyze(&[], &[&cap]);
    let first = &conns(&all)[0];
    let port = first["client"]
        .as_str()
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap()
        .to_string();
    let filtered = analyze(&["--filter", &format!("tcp port {port}")], &[&cap]);
    assert_eq!(conns(&filtered).len(), 1);
    let f = &conns(&filtered)[0];
    for key in ["first_frame", "last_frame", "connect", "connack", "tcp_end"] {
        assert_eq!(f[key], first[key], "{key}");
    }
    assert_eq!(filtered["stats"]["frames"], all["stats"]["frames"]);
    assert!(
        filtered["stats"]["frames_analyzed"].as_u64() < all["stats"]["frames_analyzed"].as_u64()
    );
}

/// A gzip-compressed capture gives the same analysis as the plain one.
#[test]
fn gzip_capture_reads_like_the_plain_one() {
    let cap = root().join("captures/keepalive-stalled.pcap");
    let dir = std::env::temp_dir().join(format!("dropscope-gz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let gz = dir.join("keepalive-stalled.pcap.gz");
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::fast(),
    );
    std::io::copy(&mut std::fs::File::open(&cap).unwrap(), &mut enc).unwrap();
    enc.finish().unwrap();
    let plain = analyze(&[], &[&cap]);
    let zipped = analyze(&[], &[&gz]);
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(conns(&plain), conns(&zipped));
    assert_eq!(plain["stats"]["frames"], zipped["stats"]["frames"]);
}

/// A rotated capture (a directory of files) is one timeline: connections that span files
/// are single connections, and the frames add up across files.
#[test]
fn rotated_directory_is_one_timeline() {
    let dir = root().join("captures/format-rotated");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 2);
    let whole = analyze(&[], &[&dir]);
    let per_file: u64 = files
        .iter()
        .map(|f| analyze(&[], &[f])["stats"]["frames"].as_u64().unwrap())
        .sum();
    assert_eq!(whole["stats"]["frames"].as_u64().unwrap(), per_file);
    let spanning = conns(&whole)
        .iter()
        .filter(|c| c["syn_seen"] == true && c["tcp_end"].is_object())
        .count();
    assert!(spanning >= 1, "a connection from SYN to close across files");
    let mut clients: Vec<&str> = conns(&whole)
        .iter()
        .map(|c| c["client"].as_str().unwrap())
        .collect();
    let n = clients.len();
    clients.sort();
    clients.dedup();
    assert_eq!(
        clients.len(),
        n,
        "no connection split in two at a file boundary"
    );
}

/// On a TLS port, connections are tracked and marked encrypted, and no byte is read as MQTT.
#[test]
fn tls_ports_are_tracked_at_the_tcp_level() {
    let cap = root().join("captures/format-port18830.pcap");
    let plain = analyze(&["--port", "18830"], &[&cap]);
    let tls = analyze(&["--tls-port", "18830"], &[&cap]);
    assert_eq!(conns(&plain).len(), conns(&tls).len());
    for c in conns(&tls) {
        assert_eq!(c["encrypted"], true);
        assert_eq!(c["client_id"], Value::Null);
        assert!(c["packets"].as_object().unwrap().values().all(|n| n == 0));
        assert!(c["tcp_end"].is_object());
        let hints = c["verdict"]["hints"].as_array().unwrap();
        assert!(hints.iter().any(|h| h.as_str().unwrap().contains("TLS")));
    }
}

/// MQTT on a port nobody named is found by its CONNECT, with the same packets as when the
/// port is given.
#[test]
fn mqtt_is_detected_on_any_port_by_its_connect() {
    let cap = root().join("captures/format-port18830.pcap");
    let named = analyze(&["--port", "18830"], &[&cap]);
    let detected = analyze(&[], &[&cap]);
    assert_eq!(conns(&named).len(), 2);
    let packets = |v: &Value| {
        conns(v)
            .iter()
            .map(|c| c["packets"].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(packets(&named), packets(&detected));
}

/// A bundled classic pcap without the frames `drop` says (1-based), in a temporary file:
/// classic pcap is a 24-byte header and records with a 16-byte header each.
fn capture_without(capture: &str, drop: impl Fn(usize) -> bool, name: &str) -> PathBuf {
    let bytes = std::fs::read(root().join("captures").join(capture)).unwrap();
    let mut out = bytes[..24].to_vec();
    let (mut at, mut number) = (24, 1);
    while at + 16 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
        if !drop(number) {
            out.extend_from_slice(&bytes[at..at + 16 + len]);
        }
        at += 16 + len;
        number += 1;
    }
    let path = std::env::temp_dir().join(format!("dropscope-{}-{name}.pcap", std::process::id()));
    std::fs::write(&path, out).unwrap();
    path
}

fn port18830_without(drop: impl Fn(usize) -> bool, name: &str) -> PathBuf {
    capture_without("format-port18830.pcap", drop, name)
}

/// A capture that starts as the broker closes its idle connections (only the FINs of
/// broker-sigterm.pcap, from frame 145): alone each close says nothing (`unknown`), but
/// twenty closed by the server within 3 ms are a shutdown.
#[test]
fn closes_alone_are_unknown_but_many_at_once_are_a_shutdown() {
    let closes = capture_without("broker-sigterm.pcap", |n| n < 145, "closes");
    let a = analyze(&[], &[&closes]);
    std::fs::remove_file(&closes).ok();
    assert_eq!(conns(&a).len(), 20);
    for c in conns(&a) {
        assert_eq!(c["verdict"]["cause"], "server_shutdown", "{}", c["verdict"]);
        assert_eq!(c["verdict"]["side"], "server");
    }
    let one = capture_without("broker-sigterm.pcap", |n| n != 145 && n != 157, "one-close");
    let b = analyze(&[], &[&one]);
    std::fs::remove_file(&one).ok();
    assert_eq!(conns(&b)[0]["verdict"]["cause"], "unknown");
}

/// A connection seen from its SUBSCRIBE on (its handshake and CONNECT, frames 3–9, cut
/// away) on a port not named MQTT is MQTT because its server carried a CONNECT on another
/// connection (frames 21–29); alone, the same bytes are not claimed as MQTT.
#[test]
fn a_server_known_to_speak_mqtt_makes_its_other_connections_mqtt() {
    let cut = port18830_without(|n| (3..=9).contains(&n), "midstream");
    let a = analyze(&[], &[&cut]);
    let sub = conns(&a)
        .iter()
        .find(|c| c["client"] == "10.77.1.2:44344")
        .expect("the mid-stream subscriber is kept");
    assert_eq!(sub["packets"]["SUBSCRIBE"], 1);
    assert_eq!(sub["packets"]["SUBACK"], 1);
    assert_eq!(conns(&a).len(), 2);

    let alone = port18830_without(|n| (3..=9).contains(&n) || (21..=29).contains(&n), "alone");
    let b = analyze(&[], &[&alone]);
    assert_eq!(
        conns(&b).len(),
        0,
        "no connection proved the server speaks MQTT"
    );
    // The subscriber, and the publisher's closing segments after frame 29.
    assert_eq!(b["stats"]["other_flows"], 2);
    for p in [cut, alone] {
        std::fs::remove_file(p).ok();
    }
}

/// `--packets` lists every MQTT packet in text, JSON and NDJSON alike: the same frames in
/// the same order, and no timelines in JSON unless asked.
#[test]
fn packets_are_listed_in_every_format() {
    let cap = root().join("captures/takeover-v311.pcap");
    let run = |format: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_dropscope"))
            .args(["analyze", "--packets", "--format", format])
            .arg(&cap)
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    let text: Vec<u64> = run("text")
        .lines()
        .map(|l| l.split('\t').next().unwrap().parse().unwrap())
        .collect();
    let json: Value = serde_json::from_str(&run("json")).unwrap();
    let from_json: Vec<u64> = json["packets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["frame"].as_u64().unwrap())
        .collect();
    let from_ndjson: Vec<u64> = run("ndjson")
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["record"] == "packet")
        .map(|p| p["frame"].as_u64().unwrap())
        .collect();
    assert!(text.len() >= 6, "{text:?}");
    assert_eq!(text, from_json);
    assert_eq!(text, from_ndjson);
    assert_eq!(json["packets"][0]["packet"]["type"], "CONNECT");
    assert!(conns(&json).iter().all(|c| c.get("timeline").is_none()));
}

/// A SYN flood of 3,000 flows (benches/synflood.py: every 4th SYN refused by a RST, every
/// 3rd other one answered by a SYN-ACK the client never acknowledges, the rest unanswered)
/// through a table of 500 flows and an attempt cap of 100: the first 100 attempts retired
/// are kept, every other flow is counted; a lone SYN evicted from the table is never a
/// record, and a flow evicted before it closed says so instead of "open at the end". Two
/// threads give the same analysis, and unbounded, the same JSON bytes as one.
#[test]
fn a_syn_flood_keeps_the_first_attempts_and_counts_the_rest() {
    let cap = std::env::temp_dir().join(format!("dropscope-{}-flood.pcap", std::process::id()));
    let made = Command::new("python3")
        .arg(root().join("benches/synflood.py"))
        .arg(&cap)
        .args(["--flows", "3000", "--syn-ack-every", "3"])
        .status()
        .expect("python3");
    assert!(made.success());
    let run = |threads: &str| {
        let args = [
            "--max-flows",
            "500",
            "--max-attempts",
            "100",
            "--threads",
            threads,
        ];
        analyze(&args, &[&cap])
    };
    let one = run("1");
    let stats = &one["stats"];
    assert_eq!(stats["tcp_flows"], 3000);
    assert_eq!(conns(&one).len(), 100);
    assert_eq!(stats["attempts_not_kept"], 2900);
    assert_eq!(stats["connections_not_kept"], 0);
    for c in conns(&one) {
        let v = &c["verdict"];
        assert_eq!(c["evicted"], true, "{c}");
        assert_ne!(v["cause"], "open_at_end", "{c}");
        assert!(
            c["handshake"]["syn_ack"].is_null() == (v["cause"] == "tcp_refused"),
            "{c}"
        );
        if v["cause"] == "unknown" {
            assert_eq!(v["rule"], "evicted_from_flow_table", "{c}");
        }
    }
    let unbounded = analyze(&["--threads", "1"], &[&cap]);
    assert_eq!(conns(&unbounded).len(), 3000);
    // The attempts kept are the first 100 of the capture that were answered (a lone SYN
    // evicted is only counted), not those the flow table's hashing retired first.
    let answered =
        |c: &&Value| !c["handshake"]["syn_ack"].is_null() || c["verdict"]["cause"] == "tcp_refused";
    let first_frames = |v: &Value| -> Vec<Value> {
        conns(v)
            .iter()
            .filter(answered)
            .map(|c| c["first_frame"].clone())
            .collect()
    };
    assert_eq!(first_frames(&one), first_frames(&unbounded)[..100]);
    // Unbounded, 3,000 records: the same bytes on one, two and three threads.
    let json = |threads: &str| {
        Command::new(env!("CARGO_BIN_EXE_dropscope"))
            .args(["analyze", "--format", "json", "--threads", threads])
            .arg(&cap)
            .output()
            .unwrap()
            .stdout
    };
    assert!(json("1") == json("2") && json("1") == json("3"));
    assert_eq!(unbounded["stats"]["attempts_not_kept"], 0);
    assert!(conns(&unbounded).iter().all(|c| c.get("evicted").is_none()));
    let two = run("2");
    assert_eq!(two["stats"]["attempts_not_kept"], 2900);
    assert_eq!(conns(&two).len(), 100);
    std::fs::remove_file(cap).ok();
}
