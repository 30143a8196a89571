//! `analyze --join` on the join lab's pairs (`captures/join/`): the same traffic captured at
//! the client's veth and the broker's veth, a NAT between them, the broker capture's clock
//! shifted by a known offset. Every connection's joined verdict must be its true cause
//! (from what the scenario injected), the clock offset the shift, the NAT mapping the one
//! tshark reads from the sequence numbers.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The share of connections whose joined verdict must be the true cause.
const GOAL: f64 = 0.99;
/// How far the offset estimate may be from the shift applied, seconds.
const OFFSET_TOLERANCE: f64 = 0.005;

fn join_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/join")
}

/// Every scenario of the lab: (name, expected).
fn scenarios() -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = std::fs::read_dir(join_dir())
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let stem = name.strip_suffix(".expected.json")?.to_string();
            let text = std::fs::read_to_string(e.path()).unwrap();
            Some((stem, serde_json::from_str(&text).unwrap()))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(out.len() >= 7, "the join lab has seven scenarios");
    out
}

/// `dropscope analyze FIRST SECOND --join --format json`.
fn joined(first: &Path, second: &Path) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_dropscope"))
        .args(["analyze", "--join", "--format", "json"])
        .arg(first)
        .arg(second)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn pair(name: &str) -> (PathBuf, PathBuf) {
    let d = join_dir();
    (
        d.join(format!("{name}-client.pcap")),
        d.join(format!("{name}-broker.pcap")),
    )
}

/// The verdict the join gave the expected connection `e`, as (cause, layer, side), or why
/// none was found.
fn verdict_of(j: &Value, name: &str, e: &Value) -> Result<(Value, Value, Value), String> {
    let triple = |v: &Value| (v["cause"].clone(), v["layer"].clone(), v["side"].clone());
    let seen_at: Vec<&str> = e["seen_at"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    if seen_at.len() == 2 {
        let c = j["connections"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["vantages"][0]["client"] == e["client"])
            .ok_or_else(|| format!("{name}: {} not joined", e["client"]))?;
        return Ok(triple(&c["joined_verdict"]));
    }
    let (vantage, addr) = if seen_at == ["broker"] {
        (format!("{name}-broker"), &e["public"])
    } else {
        (format!("{name}-client"), &e["client"])
    };
    let s = j["unmatched"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == vantage.as_str() && &s["client"] == addr)
        .ok_or_else(|| format!("{name}: {addr} not among {vantage}'s unmatched"))?;
    Ok(triple(&s["verdict"]))
}

#[test]
fn joined_verdicts_are_the_true_causes() {
    let (mut right, mut total, mut wrong) = (0usize, 0usize, Vec::new());
    for (name, expected) in scenarios() {
        let (client, broker) = pair(&name);
        let j = joined(&client, &broker);
        for e in expected["connections"].as_array().unwrap() {
            total += 1;
            let want = (e["cause"].clone(), e["layer"].clone(), e["side"].clone());
            match verdict_of(&j, &name, e) {
                Ok(got) if got == want => right += 1,
                Ok(got) => wrong.push(format!(
                    "{name} {}: got {got:?}, want {want:?}",
                    e["client_id"]
                )),
                Err(why) => wrong.push(why),
            }
        }
        let both = expected["connections"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["seen_at"].as_array().unwrap().len() == 2)
            .count();
        assert_eq!(
            j["connections"].as_array().unwrap().len(),
            both,
            "{name}: joined connections"
        );
    }
    assert!(total >= 15, "only {total} connections in the join lab");
    let share = right as f64 / total as f64;
    assert!(
        share >= GOAL,
        "{right}/{total} right:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_clock_offset_is_the_shift_applied() {
    for (name, expected) in scenarios() {
        let (client, broker) = pair(&name);
        let j = joined(&client, &broker);
        let shift = expected["clock_shift_seconds"].as_f64().unwrap();
        let shared = expected["connections"].as_array().unwrap().iter();
        if shared
            .clone()
            .all(|e| e["seen_at"].as_array().unwrap().len() < 2)
        {
            // nothing both probes saw: no offset can be estimated, and none is made up
            assert_eq!(j["clock_offsets"], serde_json::json!([]), "{name}");
            assert!(j["vantages"][1]["clock_offset_seconds"].is_null(), "{name}");
            continue;
        }
        let o = &j["clock_offsets"][0];
        assert_eq!(o["from"], format!("{name}-client").as_str());
        let got = o["seconds"].as_f64().unwrap();
        assert!(
            (got - shift).abs() < OFFSET_TOLERANCE,
            "{name}: offset {got} s, shift {shift} s"
        );
        assert!(
            o["spread_seconds"].as_f64().unwrap() < OFFSET_TOLERANCE,
            "{name}: spread {o}"
        );
        assert_eq!(j["vantages"][1]["clock_offset_seconds"], o["seconds"]);
        for c in j["connections"].as_array().unwrap() {
            let per = c["clock_offset"].as_f64().unwrap();
            assert!((per - shift).abs() < OFFSET_TOLERANCE, "{name}: {c}");
        }
    }
}

#[test]
fn the_nat_mapping_is_the_one_the_sequence_numbers_show() {
    let mut checked = 0;
    for (name, expected) in scenarios() {
        let (client, broker) = pair(&name);
        let j = joined(&client, &broker);
        for e in expected["connections"].as_array().unwrap() {
            if e["seen_at"].as_array().unwrap().len() != 2 {
                continue;
            }
            let c = j["connections"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["vantages"][0]["client"] == e["client"])
                .unwrap_or_else(|| panic!("{name}: {} not joined", e["client"]));
            assert_eq!(c["nat_mapping"]["private"], e["client"], "{name}");
            assert_eq!(c["nat_mapping"]["public"], e["public"], "{name}");
            assert_eq!(c["vantages"][1]["client"], e["public"], "{name}");
            // sequence numbers recognise every pair, with or without a SYN in the capture
            let by = c["matched_by"].as_str().unwrap();
            assert!(by.ends_with("sequence_numbers"), "{name}: matched by {by}");
            assert_eq!(
                by == "initial_sequence_numbers",
                e["client_id"].is_string(),
                "{name}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 15);
}

#[test]
fn the_order_of_the_inputs_does_not_change_the_verdicts() {
    for name in ["lost-pingreq", "middlebox-rst", "takeover"] {
        let (client, broker) = pair(name);
        let (ab, ba) = (joined(&client, &broker), joined(&broker, &client));
        let verdicts = |j: &Value| -> Vec<(Value, Value)> {
            let mut v: Vec<(Value, Value)> = j["connections"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| {
                    (
                        c["vantages"][0]["client"].clone(),
                        c["joined_verdict"]["cause"].clone(),
                    )
                })
                .collect();
            v.sort_by_key(|(a, _)| a.to_string());
            v
        };
        assert_eq!(verdicts(&ab), verdicts(&ba), "{name}");
        assert_eq!(ba["vantages"][1]["placement"], "client_side", "{name}");
    }
}

#[test]
fn without_join_the_two_views_are_one_merged_timeline() {
    let (client, broker) = pair("lost-pingreq");
    let out = Command::new(env!("CARGO_BIN_EXE_dropscope"))
        .args(["analyze", "--format", "json"])
        .arg(&client)
        .arg(&broker)
        .output()
        .unwrap();
    let a: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(a.get("connections").is_some() && a.get("clock_offsets").is_none());
}

#[test]
fn the_text_table_lists_joined_and_unmatched_connections() {
    let (client, broker) = pair("takeover");
    let out = Command::new(env!("CARGO_BIN_EXE_dropscope"))
        .args(["analyze", "--join"])
        .arg(&client)
        .arg(&broker)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("session_taken_over"), "{text}");
    assert!(text.contains("Seen at takeover-broker only:"), "{text}");
    assert!(
        text.contains("clock of takeover-broker against takeover-client"),
        "{text}"
    );
}
