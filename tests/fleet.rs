//! Probes publishing to a real `nats-server` (JetStream) and the fleet correlator reading
//! the stream (issue 17): a takeover whose two halves were seen by different probes, two
//! fleet instances finding what one finds, and a NATS outage during a live run.

use serde_json::Value;
use std::collections::BTreeSet;
use std::io::{BufRead, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn dropscope() -> Command {
    Command::new(env!("CARGO_BIN_EXE_dropscope"))
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dropscope-fleet-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A `nats-server -js` on a free loopback port, storing into a directory of its own; killed
/// when dropped.
struct Nats {
    child: Option<Child>,
    port: u16,
    store: PathBuf,
}

impl Nats {
    fn start(store: &Path) -> Nats {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut n = Nats {
            child: None,
            port,
            store: store.to_path_buf(),
        };
        n.restart();
        n
    }

    fn restart(&mut self) {
        let child = Command::new("nats-server")
            .args([
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-sd",
            ])
            .arg(&self.store)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server (scripts/setup.sh installs it)");
        self.child = Some(child);
        for _ in 0..200 {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("nats-server did not listen on {}", self.port);
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.stop();
    }
}

fn ok(out: Output) -> Output {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `tcpdump -r capture -w out filter`: one probe's share of the traffic.
fn split(capture: &str, filter: &str, out: &Path) {
    let status = Command::new("tcpdump")
        .args(["-q", "-r"])
        .arg(root().join("captures").join(capture))
        .arg("-w")
        .arg(out)
        .arg(filter)
        .stderr(Stdio::null())
        .status()
        .expect("tcpdump");
    assert!(status.success());
}

fn publish(capture: &Path, probe: &str, url: &str) -> String {
    let out = ok(dropscope()
        .arg("analyze")
        .arg(capture)
        .args(["--format", "ndjson", "--publish", url, "--probe-id", probe])
        .output()
        .unwrap());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn lines(out: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

fn fleet_drain(url: &str, extra: &[&str]) -> Vec<Value> {
    let out = ok(dropscope()
        .args(["fleet", "--nats", url, "--drain"])
        .args(extra)
        .output()
        .unwrap());
    lines(&out.stdout)
}

fn causes(capture: &Path) -> Vec<String> {
    let out = ok(dropscope()
        .arg("analyze")
        .arg(capture)
        .args(["--format", "json"])
        .output()
        .unwrap());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["verdict"]["cause"].as_str().unwrap().to_string())
        .collect()
}

fn finding_set(found: &[Value]) -> BTreeSet<String> {
    found
        .iter()
        .map(|f| format!("{} {} {}", f["kind"], f["key"], f["time"]))
        .collect()
}

#[test]
fn a_takeover_seen_half_by_each_probe_is_found_by_the_fleet_and_shared_instances_agree() {
    let dir = scratch("takeover");
    let nats = Nats::start(&dir.join("js"));
    let (holder, newcomer) = (dir.join("broker-a.pcap"), dir.join("gw-b.pcap"));
    split("takeover-v311.pcap", "tcp port 38192", &holder);
    split("takeover-v311.pcap", "tcp port 38220", &newcomer);
    assert_eq!(causes(&holder), ["server_close"], "alone, no takeover");
    assert_eq!(causes(&newcomer), ["client_disconnect"]);
    for (capture, probe) in [(&holder, "broker-a"), (&newcomer, "gw-b")] {
        let said = publish(capture, probe, &nats.url());
        assert!(said.contains("published 1 of 1 records"), "{said}");
    }
    for (capture, probe) in [
        ("broker-sigkill.pcap", "node-1"),
        ("clustered-drops.pcap", "site-3"),
    ] {
        publish(&root().join("captures").join(capture), probe, &nats.url());
    }
    let one = fleet_drain(
        &nats.url(),
        &["--report-dir", dir.join("reports").to_str().unwrap()],
    );
    let takeovers: Vec<&Value> = one
        .iter()
        .filter(|f| f["kind"] == "cross_probe_takeover")
        .collect();
    assert_eq!(takeovers.len(), 1, "{one:?}");
    assert_eq!(takeovers[0]["key"], "twin-takeover-v311");
    assert_eq!(
        takeovers[0]["probes"],
        serde_json::json!(["broker-a", "gw-b"])
    );
    let kinds: BTreeSet<&str> = one.iter().filter_map(|f| f["kind"].as_str()).collect();
    assert!(
        kinds.contains("server_mass_close") && kinds.contains("site_outage"),
        "{kinds:?}"
    );
    let report = std::fs::read_dir(dir.join("reports"))
        .unwrap()
        .filter_map(|e| e.ok())
        .find(|e| e.path().extension().is_some_and(|x| x == "json"))
        .expect("a fleet report");
    let report: Value = serde_json::from_slice(&std::fs::read(report.path()).unwrap()).unwrap();
    assert_eq!(report["counts"]["records"]["gw-b"]["connection"], 1);

    let mut shared = fleet_drain(&nats.url(), &["--instance", "0", "--of", "2"]);
    shared.extend(fleet_drain(&nats.url(), &["--instance", "1", "--of", "2"]));
    assert_eq!(finding_set(&shared), finding_set(&one));
    assert_eq!(shared.len(), one.len(), "each finding at one instance only");
    assert!(
        fleet_drain(&nats.url(), &[]).is_empty(),
        "the durable consumer goes on where it stopped"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The records of a classic pcap: (header, packets), each packet with its record header.
fn pcap_records(bytes: &[u8]) -> (&[u8], Vec<&[u8]>) {
    let mut at = 24;
    let mut packets = Vec::new();
    while at + 16 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
        packets.push(&bytes[at..at + 16 + len]);
        at += 16 + len;
    }
    (&bytes[..24], packets)
}

#[test]
fn a_nats_outage_during_a_live_run_loses_no_capture_and_the_probe_catches_up() {
    let dir = scratch("outage");
    let mut nats = Nats::start(&dir.join("js"));
    let capture = root().join("captures/many-connections.pcap");
    let unpublished = ok(dropscope()
        .args(["live", "--read"])
        .arg(&capture)
        .output()
        .unwrap());
    let expected = lines(&unpublished.stdout)
        .iter()
        .filter(|e| e["event"] == "connection_closed")
        .count();
    assert!(expected > 100);
    let bytes = std::fs::read(&capture).unwrap();
    let (header, packets) = pcap_records(&bytes);
    let half = packets.len() / 2;
    let mut live = dropscope()
        .args([
            "live",
            "--read",
            "-",
            "--publish",
            &nats.url(),
            "--probe-id",
            "gw",
        ])
        .args(["--publish-wait", "120s"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = live.stdin.take().unwrap();
    stdin.write_all(header).unwrap();
    for p in &packets[..half] {
        stdin.write_all(p).unwrap();
    }
    stdin.flush().unwrap();
    nats.stop();
    for p in &packets[half..] {
        stdin.write_all(p).unwrap();
    }
    drop(stdin);
    // Every close is announced (and its records queued) while NATS is away; only then
    // does it come back.
    let mut stdout = std::io::BufReader::new(live.stdout.take().unwrap());
    let mut closed = 0;
    let mut line = String::new();
    while closed < expected && stdout.read_line(&mut line).unwrap() > 0 {
        closed += usize::from(line.contains("\"connection_closed\""));
        line.clear();
    }
    assert_eq!(closed, expected, "the capture analysis is complete");
    nats.restart();
    let out = ok(live.wait_with_output().unwrap());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let said = stderr
        .lines()
        .find(|l| l.contains("published"))
        .expect("a publish line");
    let n: Vec<u64> = said
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    assert!(said.contains("; 0 not published"), "caught up: {said}");
    assert_eq!(n[0], n[1], "every record published: {said}");
    let fleet = ok(dropscope()
        .args(["fleet", "--nats", &nats.url(), "--drain", "--report-dir"])
        .arg(dir.join("reports"))
        .output()
        .unwrap());
    assert!(fleet.status.success());
    let report = std::fs::read_dir(dir.join("reports"))
        .unwrap()
        .filter_map(|e| e.ok())
        .find(|e| e.path().extension().is_some_and(|x| x == "json"))
        .unwrap();
    let report: Value = serde_json::from_slice(&std::fs::read(report.path()).unwrap()).unwrap();
    let stored: u64 = report["counts"]["records"]["gw"]
        .as_object()
        .unwrap()
        .values()
        .filter_map(Value::as_u64)
        .sum();
    assert_eq!(stored, n[0], "the stream holds each record once");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn with_nats_away_analyze_completes_and_counts_what_it_could_not_send() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let capture = root().join("captures/broker-sigkill.pcap");
    let plain = ok(dropscope()
        .arg("analyze")
        .arg(&capture)
        .args(["--format", "ndjson"])
        .output()
        .unwrap());
    let out = ok(dropscope()
        .arg("analyze")
        .arg(&capture)
        .args(["--format", "ndjson", "--publish"])
        .arg(format!("nats://127.0.0.1:{port}"))
        .args(["--publish-wait", "1s", "--probe-id", "gw"])
        .output()
        .unwrap());
    assert_eq!(out.stdout, plain.stdout, "the analysis is unchanged");
    let records = lines(&plain.stdout)
        .iter()
        .filter(|l| l["record"] != "summary")
        .count();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("published 0 of {records} records")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("; {records} not published")),
        "{stderr}"
    );
}
