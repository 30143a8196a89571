//! MQTT over WebSocket: every capture in `captures/ws/` (real mosquitto and aedes listeners,
//! ws and wss, paho, MQTT.js and a raw client, both vantage points; made by
//! `captures/make-ws-captures.sh`) analyzed with no port flag (wss with the key log saved
//! beside it, and without it), against the verdicts written beside it. The MQTT packet counts of each
//! expected file come from an independent decoder: `captures/lab/expect.py` frames MQTT in
//! the unmasked WebSocket payloads tshark gives, per direction.

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn ws_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("captures/ws")
}

fn expected(name: &str) -> Value {
    let p = ws_dir().join(format!("{name}.expected.json"));
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(ws_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let n = e.file_name().into_string().ok()?;
            n.strip_suffix(".expected.json").map(str::to_string)
        })
        .collect();
    names.sort();
    names
}

/// The analysis of a capture, with its key log when `with_keys` and it has one.
fn analyze(capture: &Path, with_keys: bool) -> Value {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dropscope"));
    cmd.args(["analyze", "--format", "json"]).arg(capture);
    let keys = capture.with_extension("keys");
    if with_keys && keys.exists() {
        cmd.arg("--keylog").arg(keys);
    }
    let out = cmd.output().expect("run dropscope");
    assert_eq!(out.status.code(), Some(0), "{}", capture.display());
    serde_json::from_slice(&out.stdout).expect("json")
}

/// Every expected connection of a capture with what dropscope made of it (with the key
/// log, when `with_keys`).
fn judged(name: &str, with_keys: bool) -> Vec<(Value, Value)> {
    let ex = expected(name);
    let got = analyze(&ws_dir().join(ex["capture"].as_str().unwrap()), with_keys);
    ex["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|want| {
            let c = got["connections"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["client"] == want["client"])
                .cloned()
                .unwrap_or_else(|| panic!("{name}: {} not found", want["client"]));
            (want.clone(), c)
        })
        .collect()
}

#[test]
fn causes_and_transports_hold_over_websocket_without_port_flags() {
    let (mut total, mut right, mut misses) = (0, 0, Vec::new());
    for name in names() {
        for (want, c) in judged(&name, true) {
            total += 1;
            let transport = want["transport"].as_str().unwrap_or("tcp");
            assert_eq!(c["transport"], transport, "{name} {}", want["client"]);
            let v = &c["verdict"];
            if ["cause", "layer", "side", "code"]
                .iter()
                .all(|k| v[k] == want[k])
            {
                right += 1;
            } else {
                misses.push(format!("{name} {}: {v}", want["client"]));
            }
        }
    }
    assert!(total >= 100, "only {total} connections");
    assert!(
        right * 100 >= total * 95,
        "{right}/{total}:\n{}",
        misses.join("\n")
    );
}

/// "client: N MQTT packets … server: M MQTT packets" in the expected note.
fn independent_count(note: &str) -> Option<u64> {
    let mut sum = 0;
    for side in ["client: ", "server: "] {
        let rest = &note[note.find(side)? + side.len()..];
        sum += rest.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(sum)
}

#[test]
fn mqtt_packets_inside_websocket_equal_an_independent_decoder() {
    let mut checked = 0;
    for name in names() {
        for (want, c) in judged(&name, true) {
            let Some(n) = want["note"].as_str().and_then(independent_count) else {
                continue;
            };
            let got: u64 = c["packets"]
                .as_object()
                .unwrap()
                .values()
                .map(|v| v.as_u64().unwrap())
                .sum();
            assert_eq!(got, n, "{name} {}", want["client"]);
            checked += 1;
        }
    }
    assert!(checked >= 80, "only {checked} connections checked");
}

/// The same scenario and clients over WebSocket and over plain TCP: the same verdicts.
#[test]
fn the_same_scenario_gets_the_same_verdict_over_ws_and_tcp() {
    for scenario in ["clean", "keepalive-stalled", "client-killed"] {
        let by_id = |name: &str| -> BTreeMap<String, Value> {
            judged(name, true)
                .into_iter()
                .map(|(w, c)| (w["client_id"].as_str().unwrap().to_string(), c))
                .collect()
        };
        let ws = by_id(&format!("ws-{scenario}-mosquitto"));
        let tcp = by_id(&format!("ws-tcp-twin-{scenario}"));
        assert_eq!(ws.len(), 3);
        for (id, c) in &ws {
            let t = &tcp[id];
            for k in ["cause", "layer", "side"] {
                assert_eq!(c["verdict"][k], t["verdict"][k], "{scenario} {id} {k}");
            }
            assert_eq!(c["transport"], "ws");
            assert_eq!(t["transport"], "tcp");
        }
    }
}

#[test]
fn websocket_facts_are_in_the_record() {
    let refused = judged("ws-upgrade-refused-aedes", true);
    let (_, c) = &refused[0];
    assert_eq!(c["ws"]["status"], 401);
    assert_eq!(c["verdict"]["code"], 401);
    assert_eq!(c["ws"]["path"], "/mqtt");
    let closes = judged("ws-close-no-disconnect-mosquitto", true);
    let (want, c) = &closes[0];
    let code = want["code"].as_u64().unwrap();
    assert_eq!(c["ws"]["closes"]["client"]["code"], code);
    assert_eq!(
        c["verdict"]["rule"],
        "client_websocket_close_without_disconnect"
    );
    let killed = judged("ws-client-killed-mosquitto", true);
    assert!(
        killed
            .iter()
            .all(|(_, c)| c["ws"]["closed_without_close_frame"]["client"] == true)
    );
}

/// wss read without its key log: the upgrade is told from the first records' sizes and the
/// WebSocket framing taken off every record after it (MQTT.js's packets, written a field a
/// frame, joined again), so cause, layer and side are those the plaintext gives; the codes
/// stay encrypted.
#[test]
fn wss_without_keys_is_told_from_record_sizes() {
    let mut total = 0;
    for name in names().into_iter().filter(|n| n.starts_with("wss-")) {
        for (want, c) in judged(&name, false) {
            total += 1;
            let who = format!("{name} {}", want["client"]);
            assert_eq!(c["transport"], "wss", "{who}");
            assert_eq!(c["basis"], "inferred", "{who}");
            assert_eq!(c["encrypted"], true, "{who}");
            for k in ["cause", "layer", "side"] {
                assert_eq!(c["verdict"][k], want[k], "{who}: {k}");
            }
            if want["cause"] == "keepalive_timeout" {
                let hints = c["verdict"]["hints"].to_string();
                assert!(hints.contains("WebSocket inside TLS"), "{who}: {hints}");
            }
        }
    }
    assert!(total >= 28, "only {total} wss connections");
}
