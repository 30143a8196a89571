//! Shapes met in captures from the field (captures/field/, made by
//! captures/make-field-captures.sh; expectations from what each scenario did, MQTT counts
//! from tshark): every connection gets its expected cause, layer, side and code and tshark's
//! MQTT packet counts; copies of one packet on several interfaces are duplicates, not
//! retransmissions; port-scan probes are not MQTT drops; only real clusters are reported.

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

fn field_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("captures/field")
}

/// Every expected file with dropscope's JSON of its capture.
fn judged() -> Vec<(String, Value, Value)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(field_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".expected.json"))
        .collect();
    files.sort();
    assert!(files.len() >= 9, "field captures missing: {files:?}");
    files
        .iter()
        .map(|f| {
            let want: Value = serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap();
            let capture = field_dir().join(want["capture"].as_str().unwrap());
            let out = Command::new(env!("CARGO_BIN_EXE_dropscope"))
                .args(["analyze", "--format", "json"])
                .arg(&capture)
                .output()
                .unwrap();
            let got = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
                panic!(
                    "{}: {e}: {}",
                    capture.display(),
                    String::from_utf8_lossy(&out.stderr)
                )
            });
            (want["capture"].as_str().unwrap().to_string(), want, got)
        })
        .collect()
}

fn by_client(got: &Value) -> BTreeMap<String, &Value> {
    got["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["client"].as_str().unwrap().to_string(), c))
        .collect()
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[test]
fn every_connection_gets_its_expected_verdict_and_tsharks_counts() {
    let mut problems = Vec::new();
    for (name, want, got) in judged() {
        let conns = by_client(&got);
        for w in want["connections"].as_array().unwrap() {
            let client = w["client"].as_str().unwrap();
            let Some(c) = conns.get(client) else {
                problems.push(format!("{name}: no connection from {client}"));
                continue;
            };
            for key in ["cause", "layer", "side", "code"] {
                if text(&c["verdict"][key]) != text(&w[key]) {
                    problems.push(format!(
                        "{name} {client}: {key} {} (want {}; {})",
                        c["verdict"][key], w[key], c["verdict"]["explanation"]
                    ));
                }
            }
            for (kind, n) in w["mqtt_packets"].as_object().unwrap() {
                if c["packets"][kind] != *n {
                    problems.push(format!(
                        "{name} {client}: {kind} {} (tshark {n})",
                        c["packets"][kind]
                    ));
                }
            }
        }
        let kinds: Vec<String> = got["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| text(&f["kind"]))
            .collect();
        for k in want["findings"].as_array().unwrap() {
            if !kinds.contains(&text(k)) {
                problems.push(format!("{name}: finding {k} missing ({kinds:?})"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn copies_on_other_interfaces_are_duplicates_not_retransmissions() {
    for (name, want, got) in judged()
        .into_iter()
        .filter(|(n, ..)| n.starts_with("any-interface-copies"))
    {
        let conns = by_client(&got);
        for w in want["connections"].as_array().unwrap() {
            let c = conns[w["client"].as_str().unwrap()];
            assert_eq!(
                c["retransmissions"], w["retransmissions"],
                "{name} {}",
                w["client"]
            );
            let dups = c["tcp"]["client"]["duplicates"].as_u64().unwrap()
                + c["tcp"]["server"]["duplicates"].as_u64().unwrap();
            assert_eq!(
                dups,
                w["copies"].as_u64().unwrap(),
                "{name} {}",
                w["client"]
            );
        }
    }
}

#[test]
fn port_scan_probes_are_no_mqtt_drop_and_never_a_middlebox() {
    let (_, want, got) = judged()
        .into_iter()
        .find(|(n, ..)| n.starts_with("loopback-port-scan"))
        .unwrap();
    let conns = by_client(&got);
    for probe in want["not_mqtt"]["flows"].as_array().unwrap() {
        if let Some(c) = conns.get(probe["client"].as_str().unwrap()) {
            let v = &c["verdict"];
            assert_eq!(v["cause"], "tcp_refused", "{probe}: {v}");
            assert_ne!(v["side"], "middlebox", "{probe}: {v}");
        }
    }
}

#[test]
fn a_steady_drop_rate_makes_no_cluster_and_the_restart_stands_out() {
    let (_, _, got) = judged()
        .into_iter()
        .find(|(n, ..)| n.starts_with("steady-drop-rate"))
        .unwrap();
    let findings = got["findings"].as_array().unwrap();
    let count = |kind: &str| findings.iter().filter(|f| f["kind"] == kind).count();
    assert_eq!(count("server_shutdown"), 1, "{findings:#?}");
    assert!(count("clustered_drops") <= 1, "{findings:#?}");
}
