//! Captures through pipes (issue 16): `-` reads a capture from standard input, and gives
//! exactly the analysis of the same bytes read from a file, frame numbers included.

use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn dropscope() -> Command {
    Command::new(env!("CARGO_BIN_EXE_dropscope"))
}

/// Runs `cat FILE | dropscope ARGS`.
fn through_cat(file: &Path, args: &[&str]) -> Output {
    let mut cat = Command::new("cat")
        .arg(file)
        .stdout(Stdio::piped())
        .spawn()
        .expect("run cat");
    let out = dropscope()
        .args(args)
        .stdin(cat.stdout.take().unwrap())
        .output()
        .expect("run dropscope");
    assert!(cat.wait().unwrap().success());
    out
}

/// Runs dropscope with `bytes` written to its standard input.
fn with_stdin(bytes: &[u8], args: &[&str]) -> Output {
    let mut child = dropscope()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run dropscope");
    let mut stdin = child.stdin.take().unwrap();
    let bytes = bytes.to_vec();
    // Written from a thread: dropscope may print before it has read everything.
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&bytes);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

fn json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

fn analyze_file(file: &Path) -> Value {
    let out = dropscope()
        .args(["analyze", "--format", "json"])
        .arg(file)
        .output()
        .unwrap();
    json(&out)
}

/// The analysis of a pipe equals the file's in every field but the name of what was read.
fn assert_same_as_file(piped: Value, file: &Path) {
    let mut from_file = analyze_file(file);
    assert_eq!(piped["captures"], serde_json::json!(["-"]));
    from_file["captures"] = piped["captures"].clone();
    assert!(
        from_file["connections"]
            .as_array()
            .is_some_and(|c| !c.is_empty()),
        "{} has connections",
        file.display()
    );
    assert_eq!(piped, from_file, "{}", file.display());
}

#[test]
fn pcap_through_cat_gives_the_files_json() {
    let file = root().join("captures/keepalive-lost-pingreq-client.pcap");
    let piped = json(&through_cat(&file, &["analyze", "--format", "json", "-"]));
    // Evidence frame numbers are the file's (Wireshark's), checked here by value too.
    assert_eq!(
        piped["connections"][0]["verdict"]["evidence"],
        serde_json::json!([32, 44, 61])
    );
    assert_same_as_file(piped, &file);
}

#[test]
fn pcapng_through_cat_gives_the_files_json() {
    let file = root().join("captures/format-pcapng.pcapng");
    let piped = json(&through_cat(&file, &["analyze", "--format", "json", "-"]));
    assert_same_as_file(piped, &file);
}

/// A pcapng stream's Decryption Secrets Blocks are read on the way: the connections are
/// decrypted, exactly as from the file (whose secrets are read by a pre-pass).
#[test]
fn secrets_inside_a_piped_pcapng_decrypt() {
    let file = root().join("captures/tls-dsb/tls13-clean.pcapng");
    let piped = json(&through_cat(&file, &["analyze", "--format", "json", "-"]));
    for c in piped["connections"].as_array().unwrap() {
        assert_eq!(c["basis"], "decrypted", "{c}");
    }
    assert_same_as_file(piped, &file);
}

#[test]
fn gzip_on_stdin_is_decompressed() {
    let file = root().join("captures/nat-idle-expiry.pcap");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&std::fs::read(&file).unwrap()).unwrap();
    let piped = json(&with_stdin(
        &gz.finish().unwrap(),
        &["analyze", "--format", "json", "-"],
    ));
    assert_same_as_file(piped, &file);
}

#[test]
fn trace_and_report_read_stdin() {
    let file = root().join("captures/takeover-v311.pcap");
    let piped = through_cat(
        &file,
        &["trace", "--client-id", "twin-takeover-v311", "--json", "-"],
    );
    let from_file = dropscope()
        .args(["trace", "--client-id", "twin-takeover-v311", "--json"])
        .arg(&file)
        .output()
        .unwrap();
    let rows = json(&piped);
    assert!(rows.as_array().is_some_and(|r| r.len() >= 2), "{rows}");
    assert_eq!(rows, json(&from_file));

    let dir = std::env::temp_dir().join(format!("dropscope-pipe-report-{}", std::process::id()));
    let out = through_cat(&file, &["report", "-o", dir.to_str().unwrap(), "-"]);
    assert!(out.status.success(), "{out:?}");
    let index = std::fs::read_to_string(dir.join("index.html")).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    assert!(index.contains("twin-takeover-v311"));
}

/// A stream cut mid-record is analyzed up to the cut, with the warning and exit code of a
/// truncated file: the offset counts bytes of the stream.
#[test]
fn a_truncated_stream_warns_with_its_offset() {
    let file = root().join("tests/corrupt/truncated-mid-packet.pcap");
    let out = through_cat(&file, &["analyze", "-"]);
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("-: stopped at byte offset 3711 after 41 frames"),
        "{err}"
    );
}

#[test]
fn stdin_twice_or_not_a_capture_are_refused() {
    let out = with_stdin(b"", &["analyze", "-", "-"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let out = with_stdin(b"hello, not a capture", &["analyze", "-"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a pcap or pcapng capture"));
}
