//! Acceptance tests of the classifier: every connection of every capture in `captures/` gets
//! the verdict written beside it in `<capture>.expected.json` (cause, layer, side, code),
//! and the expected cross-connection findings appear. The expected files were written when
//! the captures were made, from what was injected, and checked against tshark by hand (see
//! captures/README.md).

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

fn captures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("captures")
}

fn analyze(expected: &Value) -> Value {
    let capture = captures_dir().join(expected["capture"].as_str().unwrap());
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dropscope"));
    cmd.args(["analyze", "--format", "json"]).arg(&capture);
    for p in expected["mqtt_ports"].as_array().into_iter().flatten() {
        cmd.args(["--port", &p.as_u64().unwrap().to_string()]);
    }
    let out = cmd.output().expect("run dropscope");
    assert!(
        matches!(out.status.code(), Some(0) | Some(4)),
        "{}: exit {:?}: {}",
        capture.display(),
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json output")
}

fn field(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Compares one capture; returns the mismatches as readable lines.
fn check(expected: &Value) -> Vec<String> {
    let got = analyze(expected);
    let name = expected["capture"].as_str().unwrap();
    let mut by_client: BTreeMap<String, &Value> = BTreeMap::new();
    for c in got["connections"].as_array().unwrap() {
        by_client.insert(c["client"].as_str().unwrap().to_string(), c);
    }
    let mut problems = Vec::new();
    for want in expected["connections"].as_array().unwrap() {
        let client = want["client"].as_str().unwrap();
        let Some(conn) = by_client.get(client) else {
            problems.push(format!("{name}: no connection from {client}"));
            continue;
        };
        let v = &conn["verdict"];
        for key in ["cause", "layer", "side", "code"] {
            if field(&v[key]) != field(&want[key]) {
                problems.push(format!(
                    "{name} {client} ({}): {key} is {} , expected {} [rule {}: {}]",
                    field(&want["client_id"]),
                    field(&v[key]),
                    field(&want[key]),
                    field(&v["rule"]),
                    field(&v["explanation"])
                ));
            }
        }
    }
    let kinds: Vec<String> = got["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| field(&f["kind"]))
        .collect();
    for want in expected["findings"].as_array().into_iter().flatten() {
        let want = field(want);
        if !kinds.contains(&want) {
            problems.push(format!("{name}: finding {want} missing (got {kinds:?})"));
        }
    }
    problems
}

#[test]
fn every_capture_gets_its_expected_verdicts() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(captures_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".expected.json"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 20,
        "expected the capture lab's files, found {}",
        files.len()
    );
    let mut problems = Vec::new();
    let mut connections = 0;
    for f in &files {
        let expected: Value = serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap();
        connections += expected["connections"].as_array().unwrap().len();
        problems.extend(check(&expected));
    }
    assert!(
        problems.is_empty(),
        "{} mismatches over {} connections in {} captures:\n{}",
        problems.len(),
        connections,
        files.len(),
        problems.join("\n")
    );
}

/// Every cause of the taxonomy (but `unknown`) is shown by at least one real capture, and
/// the smallest capture that shows it gets it: one check per cause, named in the failure.
#[test]
fn each_cause_is_recognised_in_the_smallest_capture_that_shows_it() {
    let causes = [
        "client_disconnect",
        "connect_refused",
        "server_disconnect",
        "keepalive_timeout",
        "session_taken_over",
        "protocol_violation",
        "server_shutdown",
        "server_close",
        "client_close",
        "reset",
        "nat_idle_expiry",
        "retransmission_timeout",
        "open_at_end",
    ];
    let mut expected: Vec<(u64, Value)> = std::fs::read_dir(captures_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".expected.json"))
        .map(|p| {
            let v: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
            let size = std::fs::metadata(captures_dir().join(v["capture"].as_str().unwrap()))
                .map(|m| m.len())
                .unwrap_or(u64::MAX);
            (size, v)
        })
        .collect();
    expected.sort_by_key(|(size, _)| *size);
    for cause in causes {
        let (_, exp) = expected
            .iter()
            .find(|(_, e)| {
                e["connections"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|c| c["cause"] == cause)
            })
            .unwrap_or_else(|| panic!("no capture shows {cause}"));
        let client = exp["connections"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["cause"] == cause)
            .unwrap()["client"]
            .clone();
        let got = analyze(exp);
        let conn = got["connections"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["client"] == client);
        let got_cause = conn.map(|c| field(&c["verdict"]["cause"]));
        assert_eq!(
            got_cause.as_deref(),
            Some(cause),
            "{cause} in {}",
            exp["capture"]
        );
    }
}

/// The NAT bracket reads the right gaps: on nat-idle-expiry (NAT timeout 5 s), the client
/// with keepalive 3 s survived 3 s idles and the one with keepalive 8 s died after its first
/// 8 s idle, so the timeout lies between them. Retransmission backoff gaps after the failure
/// (6.7 s here) must count neither as survived nor as killing.
#[test]
fn nat_bracket_lies_between_the_gap_survived_and_the_gap_that_killed() {
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(captures_dir().join("nat-idle-expiry.expected.json")).unwrap(),
    )
    .unwrap();
    let got = analyze(&expected);
    let bracket = got["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "nat_timeout_bracket")
        .expect("a NAT bracket");
    let lower = bracket["numbers"]["lower_seconds"].as_f64().unwrap();
    let upper = bracket["numbers"]["upper_seconds"].as_f64().unwrap();
    assert!((2.5..=3.5).contains(&lower), "lower {lower}");
    assert!((7.5..=8.5).contains(&upper), "upper {upper}");
}
