//! Secrets never leave: CONNECT passwords appear in no output of any format or verbosity,
//! user names only with `--show-usernames`, and with `--anonymize` no client id or IP
//! address of the capture appears anywhere.
//!
//! `captures/connect-refused.pcap` carries real CONNECTs from mosquitto_pub with user
//! `labuser` and passwords `labpass` and `wrong` (see `captures/make-captures.sh`).

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

const PASSWORDS: [&str; 2] = ["labpass", "wrong"];
const USER: &str = "labuser";

fn capture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("captures")
        .join(name)
}

/// Runs dropscope and returns stdout and stderr together, with the exit code checked.
fn run(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_dropscope"))
        .args(args)
        .output()
        .expect("run dropscope");
    let code = out.status.code();
    assert!(
        matches!(code, Some(0 | 4)),
        "{args:?}: exit {code:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    text
}

/// Every output dropscope can make of `file` with `extra` options: each analyze format and
/// verbosity, and the report directory (SVG charts and index.html), as (label, text) pairs.
fn every_output(file: &Path, extra: &[&str]) -> Vec<(String, String)> {
    let file = file.to_str().expect("utf-8 path");
    let mut outs = Vec::new();
    let variants: [&[&str]; 6] = [
        &[],
        &["--packets"],
        &["--format", "json"],
        &["--format", "json", "--timeline"],
        &["--format", "ndjson", "--timeline"],
        &["--format", "json", "--packets"],
    ];
    for v in variants {
        let mut args = vec!["analyze", file];
        args.extend(v);
        args.extend(extra);
        outs.push((format!("analyze {v:?} {extra:?}"), run(&args)));
    }
    // A directory per call: the tests run in parallel.
    static CALLS: AtomicUsize = AtomicUsize::new(0);
    let call = CALLS.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("dropscope-secrets-{}-{call}", std::process::id()));
    let mut args = vec!["report", file, "-o", dir.to_str().expect("utf-8 path")];
    args.extend(extra);
    let log = run(&args);
    outs.push((format!("report {extra:?} (log)"), log));
    for entry in std::fs::read_dir(&dir).expect("report directory") {
        let path = entry.expect("entry").path();
        let text = String::from_utf8_lossy(&std::fs::read(&path).expect("read")).into_owned();
        outs.push((format!("report {extra:?} {}", path.display()), text));
    }
    std::fs::remove_dir_all(&dir).ok();
    outs
}

#[test]
fn passwords_appear_in_no_output() {
    let file = capture("connect-refused.pcap");
    for extra in [&[][..], &["--show-usernames"], &["--anonymize"]] {
        for (label, text) in every_output(&file, extra) {
            for password in PASSWORDS {
                assert!(
                    !text.contains(password),
                    "{label} shows password {password:?}"
                );
            }
        }
    }
}

#[test]
fn user_names_only_with_show_usernames() {
    let file = capture("connect-refused.pcap");
    for (label, text) in every_output(&file, &[]) {
        assert!(!text.contains(USER), "{label} shows the user name");
    }
    let shown = run(&[
        "analyze",
        file.to_str().unwrap(),
        "--format",
        "json",
        "--show-usernames",
    ]);
    assert!(shown.contains(USER), "--show-usernames does not show it");
}

/// The client ids and IP addresses dropscope itself reports for `file`.
fn identities(file: &Path) -> Vec<String> {
    let text = run(&["analyze", file.to_str().unwrap(), "--format", "json"]);
    let a: Value = serde_json::from_str(&text).expect("JSON");
    let mut found = Vec::new();
    for c in a["connections"].as_array().expect("connections") {
        if let Some(id) = c["client_id"].as_str().filter(|id| !id.is_empty()) {
            found.push(id.to_string());
        }
        for end in ["client", "server"] {
            let addr: std::net::SocketAddr = c[end].as_str().unwrap().parse().unwrap();
            found.push(addr.ip().to_string());
        }
    }
    found.sort();
    found.dedup();
    found
}

#[test]
fn anonymize_hides_every_client_id_and_address() {
    for name in [
        "connect-refused.pcap",
        "takeover-v5.pcap",
        "format-ipv6.pcap",
    ] {
        let file = capture(name);
        let ids = identities(&file);
        assert!(
            ids.len() >= 3,
            "{name}: too few identities to test: {ids:?}"
        );
        for extra in [&["--anonymize"][..], &["--anonymize", "--show-usernames"]] {
            for (label, text) in every_output(&file, extra) {
                for id in &ids {
                    assert!(!text.contains(id.as_str()), "{name}: {label} shows {id}");
                }
            }
        }
    }
}

#[test]
fn anonymize_key_makes_pseudonyms_repeatable() {
    let file = capture("takeover-v5.pcap");
    let f = file.to_str().unwrap();
    let args = [
        "analyze",
        f,
        "--format",
        "json",
        "--anonymize",
        "--anonymize-key",
        "k",
    ];
    assert_eq!(run(&args), run(&args));
    let other = run(&[
        "analyze",
        f,
        "--format",
        "json",
        "--anonymize",
        "--anonymize-key",
        "j",
    ]);
    assert_ne!(run(&args), other);
}
