//! MQTT over TLS read without keys: every capture in `captures/tls/` (real mosquitto TLS
//! listeners, TLS 1.2 and 1.3, both vantage points; made by `captures/make-tls-captures.sh`)
//! is analyzed with no key log and no port flag, and compared with the verdicts written
//! beside it. The expectations come from what each scenario injected, checked against
//! tshark decrypting with the saved key log (captures/README.md, "MQTT over TLS").

use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

fn tls_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("captures/tls")
}

fn expectations() -> Vec<Value> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(tls_dir())
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".expected.json"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap())
        .collect()
}

/// `dropscope analyze --format json` on a capture, with no key log and no port given.
fn analyze(expected: &Value) -> Value {
    let capture = tls_dir().join(expected["capture"].as_str().unwrap());
    let out = Command::new(env!("CARGO_BIN_EXE_dropscope"))
        .args(["analyze", "--format", "json"])
        .arg(&capture)
        .output()
        .expect("run dropscope");
    assert_eq!(out.status.code(), Some(0), "{}", capture.display());
    serde_json::from_slice(&out.stdout).expect("json output")
}

/// Every expected connection with the verdict dropscope gave it (by client endpoint).
fn judged() -> Vec<(String, Value, Value)> {
    let mut all = Vec::new();
    for ex in expectations() {
        let got = analyze(&ex);
        let name = ex["capture"].as_str().unwrap().to_string();
        for want in ex["connections"].as_array().unwrap() {
            let conn = got["connections"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["client"] == want["client"])
                .cloned()
                .unwrap_or_else(|| panic!("{name}: {} not found", want["client"]));
            all.push((name.clone(), want.clone(), conn));
        }
    }
    all
}

#[test]
fn causes_and_layers_hold_without_keys() {
    let all = judged();
    let n = all.len();
    assert!(n >= 60, "only {n} TLS connections in captures/tls");
    let mut wrong = Vec::new();
    let (mut cause_ok, mut layer_ok) = (0, 0);
    for (name, want, got) in &all {
        let v = &got["verdict"];
        let (c, l) = (v["cause"] == want["cause"], v["layer"] == want["layer"]);
        cause_ok += usize::from(c);
        layer_ok += usize::from(l);
        if !c || !l {
            wrong.push(format!(
                "{name} {}: want {}/{}, got {}/{} ({})",
                want["client"], want["cause"], want["layer"], v["cause"], v["layer"], v["rule"]
            ));
        }
    }
    // The goals of the TLS issue were 85 % of causes and 95 % of layers right without keys;
    // every bundled connection is right today, and a slip below 97 % is a regression.
    assert!(
        cause_ok * 100 >= n * 97 && layer_ok * 100 >= n * 95,
        "causes {cause_ok}/{n}, layers {layer_ok}/{n}:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn every_handshake_failure_is_named_with_its_plaintext_alert() {
    for (name, want, got) in judged() {
        if want["cause"] != "tls_handshake_failed" {
            continue;
        }
        let v = &got["verdict"];
        assert_eq!(
            v["cause"], "tls_handshake_failed",
            "{name} {}",
            want["client"]
        );
        assert_eq!(v["side"], want["side"], "{name} {}", want["client"]);
        // Alerts sent in plaintext carry their description; TLS 1.3's certificate_required
        // (116) comes after the handshake, encrypted, and has none without keys.
        let plaintext_alert = got["tls"]["alerts"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|a| a["encrypted"] == false);
        if plaintext_alert {
            assert_eq!(v["code"], want["code"], "{name} {}", want["client"]);
        } else {
            assert!(
                v["code"].is_null(),
                "{name}: a code guessed from an encrypted alert"
            );
        }
    }
}

#[test]
fn tls_connections_say_how_they_were_seen() {
    for (name, _, got) in judged() {
        assert_eq!(got["transport"], "tls", "{name}");
        assert_eq!(got["basis"], "inferred", "{name}");
        assert_eq!(got["verdict"]["basis"], "inferred", "{name}");
        let failed = got["verdict"]["cause"] == "tls_handshake_failed";
        assert!(
            failed || got["tls"]["version"].is_number(),
            "{name}: no TLS version"
        );
        assert!(
            got["tls"]["client_hello"].is_object(),
            "{name}: no ClientHello"
        );
    }
}

/// One scenario per TLS version judged exactly: the same cause, layer and side as the
/// plaintext capture of the same scenario gets.
#[test]
fn the_same_scenario_gets_the_same_verdict_in_tls_1_2_and_1_3() {
    let all = judged();
    for scenario in [
        "clean",
        "keepalive-stalled",
        "client-killed",
        "unknown-ca",
        "cert-expired",
        "wrong-password",
    ] {
        for version in ["tls12", "tls13"] {
            let capture = format!("{version}-{scenario}.pcap");
            let rows: Vec<_> = all.iter().filter(|(n, _, _)| *n == capture).collect();
            assert!(!rows.is_empty(), "{capture} missing");
            for (_, want, got) in rows {
                let v = &got["verdict"];
                for key in ["cause", "layer", "side"] {
                    assert_eq!(v[key], want[key], "{capture} {} {key}", want["client"]);
                }
            }
        }
    }
}

#[test]
fn a_takeover_is_found_without_the_client_id() {
    let all = judged();
    let (_, _, victim) = all
        .iter()
        .find(|(n, w, _)| n == "tls13-takeover.pcap" && w["cause"] == "session_taken_over")
        .expect("the taken-over connection");
    let v = &victim["verdict"];
    assert_eq!(v["cause"], "session_taken_over");
    assert!(v["related_connection"].is_number());
    assert!(
        v["alternative"].is_string(),
        "an inferred takeover names the other cause"
    );
}
