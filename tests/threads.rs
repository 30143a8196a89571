//! One analysis on one thread and on two gives byte-identical output (JSON and NDJSON), on
//! every bundled capture (plain, pcapng, TLS with its keys or its own secrets, WebSocket,
//! field quirks, a rotated set) and on a gzip-compressed one: flows sharded across threads
//! are merged back in the same order with the same findings. Both ways of using the cores
//! are met: a plain pcap file is read whole by every thread, pcapng and gzip through one
//! reader thread.

use std::path::{Path, PathBuf};
use std::process::Command;

fn dropscope(args: &[&str]) -> Vec<u8> {
    let out = Command::new(env!("CARGO_BIN_EXE_dropscope"))
        .args(args)
        .output()
        .expect("dropscope runs");
    let mut all = out.stdout;
    all.extend(out.stderr);
    all.extend(format!("exit {:?}", out.status.code()).bytes());
    all
}

/// Every capture under `captures/` (and its TLS, WebSocket, field, aedes and rotated sets),
/// with the key log next to it when there is one, and a gzip-compressed copy of one.
fn inputs() -> Vec<(PathBuf, Option<PathBuf>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures");
    let mut found = vec![(root.join("format-rotated"), None)];
    let dirs = ["", "tls", "tls-dsb", "ws", "field", "aedes"].map(|d| root.join(d));
    for dir in dirs {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .expect("captures directory")
            .map(|e| e.expect("entry").path())
            .filter(|p| {
                let name = p.to_string_lossy();
                name.ends_with(".pcap") || name.ends_with(".pcapng") || name.ends_with(".pcap.gz")
            })
            .collect();
        files.sort();
        for f in files {
            let keys = ["keys", "keylog"]
                .iter()
                .map(|ext| f.with_extension(ext))
                .find(|k| k.exists());
            found.push((f, keys));
        }
    }
    found.push((gzipped(&root.join("many-connections.pcap")), None));
    found
}

/// A gzip-compressed copy of `capture` in the build's temporary directory.
fn gzipped(capture: &Path) -> PathBuf {
    use std::io::Write;
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("threads-many-connections.pcap.gz");
    let bytes = std::fs::read(capture).expect("capture");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&bytes).expect("compressed");
    std::fs::write(&out, gz.finish().expect("compressed")).expect("written");
    out
}

#[test]
fn two_threads_give_the_output_of_one() {
    let inputs = inputs();
    assert!(inputs.len() > 40, "the bundled captures are found");
    let read_once = inputs
        .iter()
        .filter(|(p, _)| p.extension().is_some_and(|e| e == "pcapng" || e == "gz"))
        .count();
    assert!(read_once > 10, "pcapng and gzip inputs are among them");
    for (capture, keys) in &inputs {
        let capture = capture.to_str().expect("utf-8 path");
        for format in ["json", "ndjson"] {
            let mut base = vec!["analyze", capture, "--format", format, "--timeline"];
            let keys = keys.as_ref().map(|k| k.to_str().expect("utf-8 path"));
            if let Some(k) = keys {
                base.extend(["--keylog", k]);
            }
            let one = dropscope(&[&base[..], &["--threads", "1"]].concat());
            let two = dropscope(&[&base[..], &["--threads", "2"]].concat());
            assert!(one.len() > 100, "{capture}: an analysis was written");
            assert!(
                one == two,
                "{capture}: {format} on --threads 2 differs from --threads 1"
            );
        }
    }
}
