//! MQTT over TLS with keys: every capture in `captures/tls/` decrypted with the key log saved
//! beside it (`--keylog`), and the same captures as pcapng with the secrets inside
//! (`captures/tls-dsb/`, made by `captures/make-tls-dsb.sh` with `editcap --inject-secrets`).
//! Packet counts against tshark with the same key logs are in `tests/conformance.rs`.

use dropscope::source::Timeline;
use dropscope::transport::Basis;
use dropscope::{Analyzer, Config};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn captures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("captures")
}

fn tls(name: &str) -> PathBuf {
    captures().join("tls").join(name)
}

fn keys_of(capture: &Path) -> PathBuf {
    capture.with_extension("keys")
}

fn dropscope(args: &[&std::ffi::OsStr]) -> Vec<u8> {
    let out = Command::new(env!("CARGO_BIN_EXE_dropscope"))
        .args(args)
        .output()
        .expect("run dropscope");
    assert_eq!(out.status.code(), Some(0), "{args:?}");
    out.stdout
}

fn analyze(capture: &Path, keylog: Option<&Path>) -> Value {
    let mut args = vec!["analyze".as_ref(), "--format".as_ref(), "json".as_ref()];
    args.push(capture.as_os_str());
    if let Some(k) = keylog {
        args.extend(["--keylog".as_ref(), k.as_os_str()]);
    }
    serde_json::from_slice(&dropscope(&args)).expect("json")
}

fn expectations() -> Vec<(PathBuf, Value)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(captures().join("tls"))
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".expected.json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let ex: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
            (tls(ex["capture"].as_str().unwrap()), ex)
        })
        .collect()
}

fn by_client<'a>(analysis: &'a Value, client: &Value) -> &'a Value {
    analysis["connections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["client"] == *client)
        .unwrap_or_else(|| panic!("{client} not found"))
}

#[test]
fn with_keys_causes_layers_and_codes_are_those_of_plaintext() {
    let (mut total, mut right, mut misses) = (0, 0, Vec::new());
    for (capture, ex) in expectations() {
        let got = analyze(&capture, Some(&keys_of(&capture)));
        for want in ex["connections"].as_array().unwrap() {
            let c = by_client(&got, &want["client"]);
            let v = &c["verdict"];
            total += 1;
            let same = ["cause", "layer", "side", "code"]
                .iter()
                .all(|k| v[k] == want[k]);
            if same {
                right += 1;
            } else {
                misses.push(format!("{}: {} {v}", capture.display(), want["client"]));
            }
            // A connection whose handshake completed was decrypted and says so.
            if c["tls"]["handshake_complete"] == true {
                assert_eq!(c["tls"]["decryption"]["status"], "decrypted", "{want}");
                assert_eq!(c["basis"], "decrypted");
                assert_eq!(v["basis"], "decrypted");
            }
            if want["client_id"].is_string() {
                assert_eq!(c["client_id"], want["client_id"], "client id read");
            }
        }
    }
    assert!(total >= 60, "only {total} connections");
    // Plaintext's bar is 97 %; every lab connection is right today.
    assert!(
        right * 100 >= total * 97,
        "{right}/{total} right:\n{}",
        misses.join("\n")
    );
}

#[test]
fn pcapng_with_injected_secrets_gives_the_analysis_of_the_pcap_with_keylog() {
    let dir = captures().join("tls-dsb");
    let mut checked = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().and_then(|x| x.to_str()) != Some("pcapng") {
            continue;
        }
        let pcap = tls(p.file_name().unwrap().to_str().unwrap()).with_extension("pcap");
        let mut inside = analyze(&p, None);
        let mut given = analyze(&pcap, Some(&keys_of(&pcap)));
        inside["captures"] = Value::Null;
        given["captures"] = Value::Null;
        assert_eq!(inside, given, "{}", p.display());
        checked += 1;
    }
    assert!(checked >= 29, "only {checked} pcapng files");
}

/// The key log with every traffic secret's last hex digit changed: the records fail their
/// tags, which is counted, and the connection is read as it is without keys.
#[test]
fn wrong_keys_are_named_and_the_connection_falls_back_to_inference() {
    let capture = tls("tls13-clean.pcap");
    let good = std::fs::read_to_string(keys_of(&capture)).unwrap();
    let bad: String = good
        .lines()
        .map(|l| {
            let mut l = l.to_string();
            if l.starts_with("CLIENT_TRAFFIC_SECRET_0") || l.starts_with("SERVER_TRAFFIC_SECRET_0")
            {
                let last = if l.ends_with('0') { '1' } else { '0' };
                l.pop();
                l.push(last);
            }
            l + "\n"
        })
        .collect();
    let path = std::env::temp_dir().join(format!("dropscope-bad-{}.keys", std::process::id()));
    std::fs::write(&path, bad).unwrap();
    let wrong = analyze(&capture, Some(&path));
    std::fs::remove_file(&path).ok();
    let keyless = analyze(&capture, None);
    for (w, k) in wrong["connections"]
        .as_array()
        .unwrap()
        .iter()
        .zip(keyless["connections"].as_array().unwrap())
    {
        let d = &w["tls"]["decryption"];
        assert_eq!(d["status"], "failed", "{d}");
        assert!(d["bad_tag"].as_u64().unwrap() >= 3, "{d}");
        assert_eq!(w["basis"], "inferred");
        assert_eq!(w["verdict"]["cause"], k["verdict"]["cause"]);
    }
}

/// A key log holding one session decrypts that connection and infers the others.
#[test]
fn keys_for_some_sessions_decrypt_those_and_infer_the_rest() {
    let capture = tls("tls13-clean.pcap");
    let all = std::fs::read_to_string(keys_of(&capture)).unwrap();
    let first_random = all
        .lines()
        .find(|l| !l.starts_with('#'))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap()
        .to_string();
    let one: String = all
        .lines()
        .filter(|l| l.contains(&first_random))
        .map(|l| format!("{l}\n"))
        .collect::<String>()
        + "# a comment\nnot a key log line\n";
    let path = std::env::temp_dir().join(format!("dropscope-one-{}.keys", std::process::id()));
    std::fs::write(&path, one).unwrap();
    let got = analyze(&capture, Some(&path));
    std::fs::remove_file(&path).ok();
    let statuses: Vec<&str> = got["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["tls"]["decryption"]["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses.iter().filter(|s| **s == "decrypted").count(), 1);
    assert_eq!(statuses.iter().filter(|s| **s == "no_keys").count(), 2);
}

#[test]
fn a_capture_that_starts_after_the_handshake_is_not_decrypted() {
    let cut = captures().join("tls-dsb/tls13-clean-from-frame-13.pcap");
    let got = analyze(&cut, Some(&keys_of(&tls("tls13-clean.pcap"))));
    let conns = got["connections"].as_array().unwrap();
    assert_eq!(conns[0]["tls"]["decryption"]["status"], "mid_session");
    assert_eq!(conns[0]["basis"], "inferred");
    assert!(conns[1..].iter().all(|c| c["basis"] == "decrypted"));
}

/// Keys that reach the log only after the ServerHello (a live key log written by the
/// device during the capture) still decrypt the session: sequence numbers are found again.
#[test]
fn keys_that_arrive_after_the_server_hello_still_decrypt() {
    for (name, after_frame) in [("tls13-clean.pcap", 11), ("tls12-clean.pcap", 12)] {
        let capture = tls(name);
        let text = std::fs::read_to_string(keys_of(&capture)).unwrap();
        let mut timeline = Timeline::open(std::slice::from_ref(&capture), None).unwrap();
        let mut analyzer = Analyzer::new(Config::default());
        timeline.for_each(|f| {
            if f.number == after_frame {
                analyzer.keys_mut().add_text(&text);
            }
            analyzer.push(&f);
        });
        let late = analyzer.finish(vec![], vec![], timeline.frames_read());
        let at_start = analyze(&capture, Some(&keys_of(&capture)));
        for (l, s) in late
            .connections
            .iter()
            .zip(at_start["connections"].as_array().unwrap())
        {
            assert_eq!(l.basis, Basis::Decrypted, "{name} {}", l.client);
            assert_eq!(l.client_id.as_deref(), s["client_id"].as_str());
            assert_eq!(l.packets.total(), total(&s["packets"]), "{name}");
        }
    }
}

fn total(packets: &Value) -> u64 {
    packets
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum()
}

/// No output carries key material: not the JSON, the table, the packet list or a report.
#[test]
fn secrets_never_reach_an_output() {
    let capture = tls("tls12-clean.pcap");
    let keys = keys_of(&capture);
    let secrets: Vec<String> = std::fs::read_to_string(&keys)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_whitespace().nth(2))
        .filter(|s| s.len() >= 32)
        .map(str::to_lowercase)
        .collect();
    assert!(!secrets.is_empty());
    let (c, k) = (capture.as_os_str(), keys.as_os_str());
    let mut outputs = Vec::new();
    for extra in [
        &["--format", "json"][..],
        &[],
        &["--packets"],
        &["--format", "ndjson"],
    ] {
        let mut args: Vec<&std::ffi::OsStr> = vec!["analyze".as_ref(), c, "--keylog".as_ref(), k];
        args.extend(extra.iter().map(std::ffi::OsStr::new));
        outputs.push(String::from_utf8(dropscope(&args)).unwrap().to_lowercase());
    }
    for out in &outputs {
        for s in &secrets {
            assert!(!out.contains(&s[..32]), "a secret reached an output");
        }
    }
    // A password in a decrypted CONNECT is skipped as in plaintext.
    let wrong = tls("tls12-wrong-password.pcap");
    let text = dropscope(&[
        "analyze".as_ref(),
        wrong.as_os_str(),
        "--keylog".as_ref(),
        keys_of(&wrong).as_os_str(),
        "--packets".as_ref(),
    ]);
    let text = String::from_utf8(text).unwrap();
    assert!(text.contains("password=true"), "{text}");
}
