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

/// A classic pcap file split into its header and records, with each record's timestamp.
fn pcap_records(bytes: &[u8]) -> (&[u8], Vec<(f64, &[u8])>) {
    let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
    assert_eq!(word(0), 0xa1b2_c3d4, "a little-endian microsecond pcap");
    let (mut at, mut records) = (24, Vec::new());
    while at < bytes.len() {
        let ts = f64::from(word(at)) + f64::from(word(at + 4)) / 1e6;
        let end = at + 16 + word(at + 8) as usize;
        records.push((ts, &bytes[at..end]));
        at = end;
    }
    (&bytes[..24], records)
}

/// The lines a child prints, as they come.
fn lines_of(out: std::process::ChildStdout) -> std::sync::mpsc::Receiver<Value> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(serde_json::from_str(&line).expect("an NDJSON event"));
        }
    });
    rx
}

/// Guards a wait that should end: a run that never prints fails instead of hanging.
const GUARD: std::time::Duration = std::time::Duration::from_secs(60);

/// `live --read -` on a pipe written slowly, in chunks with pauses: the first connection's
/// `connection_closed` arrives while the writer still holds the pipe open and has not
/// written the rest; every event's verdict (frame numbers included) is `analyze`'s; the
/// closes come in the order the connections ended; the end of the pipe ends the run cleanly.
#[test]
fn live_reads_a_slow_pipe_and_emits_events_before_it_closes() {
    let file = root().join("captures/irregular-drops.pcap");
    let analyzed = analyze_file(&file);
    let conns = analyzed["connections"].as_array().unwrap();
    let bytes = std::fs::read(&file).unwrap();
    let (header, records) = pcap_records(&bytes);
    // The first part runs 7 s of capture time past the first connection's end (its linger
    // is 5 s), so that connection is judged before the rest is written.
    let first_end = conns[0]["end"].as_f64().unwrap();
    let split = records
        .iter()
        .position(|(ts, _)| *ts > first_end + 7.0)
        .unwrap();
    assert!(split < records.len() - 10, "a part is left to write after");

    let mut child = dropscope()
        .args(["live", "--read", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let events = lines_of(child.stdout.take().unwrap());
    let mut pipe = child.stdin.take().unwrap();
    let pause = || std::thread::sleep(std::time::Duration::from_millis(200));
    pipe.write_all(header).unwrap();
    for chunk in records[..split].chunks(split.div_ceil(3)) {
        for (_, r) in chunk {
            pipe.write_all(r).unwrap();
        }
        pipe.flush().unwrap();
        pause();
    }
    // The writer still holds the pipe open: the first close must come now.
    let mut seen = Vec::new();
    let first_close = loop {
        let e = events
            .recv_timeout(GUARD)
            .expect("an event before the pipe closes");
        seen.push(e.clone());
        if e["event"] == "connection_closed" {
            break e;
        }
    };
    assert_eq!(first_close["client"], conns[0]["client"]);
    assert_eq!(first_close["verdict"], conns[0]["verdict"]);
    for chunk in records[split..].chunks((records.len() - split).div_ceil(2)) {
        for (_, r) in chunk {
            pipe.write_all(r).unwrap();
        }
        pause();
    }
    drop(pipe);
    seen.extend(events.iter());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("stopped; "));

    let closes: Vec<&Value> = seen
        .iter()
        .filter(|e| e["event"] == "connection_closed")
        .collect();
    // Every connection that ended in the capture, in the order it ended, judged as
    // `analyze` judges it; the last one is still open at the end of the stream.
    let ended: Vec<&Value> = conns.iter().filter(|c| c["tcp_end"].is_object()).collect();
    assert_eq!(closes.len(), ended.len());
    for (e, c) in closes.iter().zip(&ended) {
        assert_eq!(e["client"], c["client"]);
        assert_eq!(e["verdict"], c["verdict"]);
    }
    let times: Vec<f64> = closes.iter().map(|e| e["time"].as_f64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    assert!(seen.iter().any(|e| e["event"] == "finding"));
}

/// `live --read FILE --follow` reads a file as it is written: the closes of what was
/// appended after the start arrive, and SIGTERM ends the run cleanly. Without `--follow`
/// the same file is read to its end and the run ends by itself.
#[test]
fn live_follows_a_growing_file_until_sigterm() {
    let source = root().join("captures/irregular-drops.pcap");
    let bytes = std::fs::read(&source).unwrap();
    let (header, records) = pcap_records(&bytes);
    let path = std::env::temp_dir().join(format!("dropscope-follow-{}.pcap", std::process::id()));
    let mut file = std::fs::File::create(&path).unwrap();
    file.write_all(header).unwrap();
    let half = records.len() / 2;
    for (_, r) in &records[..half] {
        file.write_all(r).unwrap();
    }
    let mut child = dropscope()
        .args(["live", "--follow", "--read"])
        .arg(&path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let events = lines_of(child.stdout.take().unwrap());
    let closes = |n: usize| {
        (0..n)
            .map(|_| {
                loop {
                    let e = events.recv_timeout(GUARD).expect("a close");
                    if e["event"] == "connection_closed" {
                        break e;
                    }
                }
            })
            .collect::<Vec<_>>()
    };
    let early = closes(1);
    for (_, r) in &records[half..] {
        file.write_all(r).unwrap();
    }
    // The other four closes are of connections that end in the appended part.
    let late = closes(4);
    assert_eq!(late[3]["client"], "10.77.1.2:50681", "{late:?}");
    // SAFETY: signals the child this test started, by its id.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(early[0]["client"], "10.77.1.2:53023");

    let out = dropscope()
        .args(["live", "--read"])
        .arg(&path)
        .output()
        .unwrap();
    std::fs::remove_file(&path).ok();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.matches("connection_closed").count(), 5, "{text}");
}

/// A named pipe given by its path is read once, as a stream: the file's analysis, secrets
/// included. (Opened twice, once to sniff its format and once by libpcap, it hung.)
#[test]
fn a_named_pipe_given_by_path_is_read_as_a_stream() {
    for name in [
        "captures/format-pcapng.pcapng",
        "captures/tls-dsb/tls13-clean.pcapng",
    ] {
        let file = root().join(name);
        let dir = std::env::temp_dir().join(format!("dropscope-fifo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("capture");
        let _ = std::fs::remove_file(&fifo);
        assert!(
            Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        // The writer blocks until dropscope opens the pipe, then writes it all and closes.
        let mut writer = Command::new("cp")
            .arg(&file)
            .arg(&fifo)
            .spawn()
            .expect("run cp");
        let mut child = dropscope()
            .args(["analyze", "--format", "json"])
            .arg(&fifo)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Bounded: a hang fails the test instead of holding it.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while child.try_wait().unwrap().is_none() {
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                let _ = writer.kill();
                panic!("{name}: dropscope did not finish reading the pipe");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let out = child.wait_with_output().unwrap();
        assert!(writer.wait().unwrap().success());
        std::fs::remove_dir_all(&dir).ok();
        let mut piped = json(&out);
        let fifo_name = fifo.display().to_string();
        assert_eq!(piped["captures"], serde_json::json!([fifo_name]));
        piped["captures"] = serde_json::json!(["-"]);
        assert_same_as_file(piped, &file);
    }
}
