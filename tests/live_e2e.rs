//! `dropscope live` end to end, as root: two network namespaces joined by a veth, mosquitto
//! in one, clients in the other, the real binary capturing on the broker's veth. A keepalive
//! timeout, a session takeover and a client RST happen; the events, the metrics endpoint, the
//! pcap kept around the RST, and the verdicts of `analyze` over tcpdump's copy of the same
//! traffic are checked. Skipped (with a message) where not root or tools are missing.

use serde_json::Value;
use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_dropscope");
const METRICS_PORT: u16 = 9883;

/// The namespaces, their processes and files; all removed on drop.
struct Lab {
    broker_ns: String,
    client_ns: String,
    broker_if: String,
    subnet: u32,
    dir: PathBuf,
    children: Vec<Child>,
}

impl Lab {
    fn new() -> Result<Lab, String> {
        let pid = std::process::id();
        let subnet = 1 + pid % 250;
        let lab = Lab {
            broker_ns: format!("dslive-b-{pid}"),
            client_ns: format!("dslive-c-{pid}"),
            broker_if: format!("dsl{}b", pid % 100_000),
            subnet,
            dir: std::env::temp_dir().join(format!("dslive-{pid}")),
            children: Vec::new(),
        };
        std::fs::create_dir_all(&lab.dir).map_err(|e| e.to_string())?;
        lab.network()?;
        Ok(lab)
    }

    fn network(&self) -> Result<(), String> {
        let (b, c) = (&self.broker_ns, &self.client_ns);
        let client_if = self.broker_if.replace('b', "c");
        sh("ip", &["netns", "add", b])?;
        sh("ip", &["netns", "add", c])?;
        sh(
            "ip",
            &[
                "link",
                "add",
                &self.broker_if,
                "type",
                "veth",
                "peer",
                "name",
                &client_if,
            ],
        )?;
        sh("ip", &["link", "set", &self.broker_if, "netns", b])?;
        sh("ip", &["link", "set", &client_if, "netns", c])?;
        for (ns, ifname, host) in [(b, &self.broker_if, 1), (c, &client_if, 2)] {
            let addr = format!("10.199.{}.{host}/24", self.subnet);
            sh("ip", &["-n", ns, "addr", "add", &addr, "dev", ifname])?;
            sh("ip", &["-n", ns, "link", "set", ifname, "up"])?;
            sh("ip", &["-n", ns, "link", "set", "lo", "up"])?;
        }
        Ok(())
    }

    fn broker_ip(&self) -> String {
        format!("10.199.{}.1", self.subnet)
    }

    /// Starts `args` in namespace `ns`; returns its index in `children`.
    fn spawn(&mut self, ns: &str, args: &[&str], log: &str) -> usize {
        let out = File::create(self.dir.join(log)).expect("log file");
        let child = Command::new("ip")
            .args(["netns", "exec", ns])
            .args(args)
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log file"))
            .stderr(out)
            .spawn()
            .expect("spawn");
        self.children.push(child);
        self.children.len() - 1
    }

    fn signal(&self, child: usize, sig: i32) {
        // SAFETY: kill(2) on a pid this test spawned and has not reaped.
        unsafe { libc::kill(self.children[child].id() as i32, sig) };
    }

    /// Waits (bounded) for a child to exit; its exit code.
    fn wait(&mut self, child: usize, limit: Duration) -> Option<i32> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Ok(Some(status)) = self.children[child].try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = sh("ip", &["netns", "del", &self.broker_ns]);
        let _ = sh("ip", &["netns", "del", &self.client_ns]);
        if std::thread::panicking() {
            eprintln!("live_e2e: logs and captures kept in {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn sh(cmd: &str, args: &[&str]) -> Result<(), String> {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .map_err(|e| format!("{cmd}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn missing_prerequisite() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root".into());
    }
    for tool in ["ip", "mosquitto", "mosquitto_sub", "tcpdump", "python3"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            return Some(format!("{tool} not installed"));
        }
    }
    None
}

/// Runs `f` on a thread inside network namespace `ns`.
fn in_netns<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> T {
    let path = format!("/var/run/netns/{ns}");
    std::thread::scope(|s| {
        s.spawn(|| {
            let file = File::open(&path).expect("netns file");
            // SAFETY: setns on this thread only, with a namespace file we opened.
            let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns {path}");
            f()
        })
        .join()
        .expect("netns thread")
    })
}

/// GET /metrics from inside the broker's namespace.
fn scrape(lab: &Lab) -> Option<String> {
    let addr = format!("{}:{METRICS_PORT}", lab.broker_ip());
    in_netns(&lab.broker_ns, || {
        let mut s = TcpStream::connect_timeout(&addr.parse().ok()?, Duration::from_secs(1)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .ok()?;
        let mut body = String::new();
        s.read_to_string(&mut body).ok()?;
        Some(body)
    })
}

fn wait_for<T>(limit: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(v) = probe() {
            return Some(v);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    None
}

fn events(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn closed_of<'a>(evs: &'a [Value], client_id: &str) -> Vec<&'a Value> {
    evs.iter()
        .filter(|e| e["event"] == "connection_closed" && e["client_id"] == client_id)
        .collect()
}

/// A raw MQTT 3.1.1 client that CONNECTs, reads CONNACK and aborts with SO_LINGER 0 (RST).
const RST_CLIENT: &str = r#"
import socket, struct, sys, time
s = socket.create_connection((sys.argv[1], 1883), timeout=5)
cid = b"rst-client"
var = b"\x00\x04MQTT\x04\x02\x00\x1e"
body = var + struct.pack("!H", len(cid)) + cid
s.sendall(bytes([0x10, len(body)]) + body)
s.recv(4)
time.sleep(0.5)
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.close()
"#;

/// Starts broker, tcpdump and dropscope; returns the indexes of tcpdump and dropscope.
fn start_watchers(lab: &mut Lab) -> (usize, usize) {
    let conf = lab.dir.join("mosquitto.conf");
    let listener = format!("listener 1883 {}\nallow_anonymous true\n", lab.broker_ip());
    std::fs::write(&conf, listener).expect("mosquitto.conf");
    let (ns, ifname, dir) = (
        lab.broker_ns.clone(),
        lab.broker_if.clone(),
        lab.dir.clone(),
    );
    let d = |name: &str| dir.join(name).display().to_string();
    lab.spawn(
        &ns,
        &["mosquitto", "-c", &d("mosquitto.conf")],
        "mosquitto.log",
    );
    let tcpdump = lab.spawn(
        &ns,
        &[
            "tcpdump",
            "-U",
            "-Z",
            "root",
            "-i",
            &ifname,
            "-w",
            &d("wire.pcap"),
            "tcp port 1883",
        ],
        "tcpdump.log",
    );
    let metrics = format!("{}:{METRICS_PORT}", lab.broker_ip());
    let live = lab.spawn(
        &ns,
        &[
            BIN,
            "live",
            "-i",
            &ifname,
            "--events",
            &d("events.ndjson"),
            "--metrics",
            &metrics,
            "--keep",
            &d("keep"),
            "--keep-seconds",
            "10",
            "--report-dir",
            &d("reports"),
            "--report-every",
            "10s",
            "--linger",
            "2s",
        ],
        "live.log",
    );
    let ready = wait_for(Duration::from_secs(10), || scrape(lab));
    assert!(
        ready.is_some(),
        "dropscope live did not serve metrics: {}",
        log(lab, "live.log")
    );
    std::thread::sleep(Duration::from_millis(500));
    (tcpdump, live)
}

fn log(lab: &Lab, name: &str) -> String {
    std::fs::read_to_string(lab.dir.join(name)).unwrap_or_default()
}

/// `sub`'s arguments as string slices.
fn args(a: &[String; 9]) -> Vec<&str> {
    a.iter().map(String::as_str).collect()
}

/// Clients the test stops and kills only at the end: the taken-over twin and the
/// keepalive victim stay stopped (their sockets never closed, so the broker's FIN is never
/// answered by theirs), and the twin that took over stays up.
struct Survivors {
    twin: usize,
    stopped: [usize; 2],
}

/// Makes the three endings happen, leaving the stopped clients' sockets open.
fn make_drops(lab: &mut Lab) -> Survivors {
    let (ns, ip) = (lab.client_ns.clone(), lab.broker_ip());
    let sub = |id: &str, ka: &str| {
        [
            "mosquitto_sub",
            "-h",
            &ip,
            "-t",
            "lab/t",
            "-i",
            id,
            "-k",
            ka,
        ]
        .map(String::from)
    };
    // mosquitto_sub takes no keepalive under 5 s; the broker closes it after 1.5 × 5 s.
    let victim = lab.spawn(&ns, &args(&sub("ka-victim", "5")), "victim.log");
    let first = lab.spawn(&ns, &args(&sub("twin", "60")), "twin1.log");
    let rst = lab.spawn(&ns, &["python3", "-c", RST_CLIENT, &ip], "rst.log");
    std::thread::sleep(Duration::from_millis(700));
    lab.signal(victim, libc::SIGSTOP);
    lab.signal(first, libc::SIGSTOP);
    let second = lab.spawn(&ns, &args(&sub("twin", "60")), "twin2.log");
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        lab.wait(rst, Duration::from_secs(5)),
        Some(0),
        "{}",
        log(lab, "rst.log")
    );
    // mosquitto checks keepalives on a coarse timer: wait for it to act (bounded).
    let timed_out = wait_for(Duration::from_secs(20), || {
        log(lab, "mosquitto.log")
            .contains("ka-victim has exceeded timeout")
            .then_some(())
    });
    assert!(timed_out.is_some(), "{}", log(lab, "mosquitto.log"));
    Survivors {
        twin: second,
        stopped: [victim, first],
    }
}

fn metric(text: &str, name_and_labels: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(name_and_labels))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

fn check_events(evs: &[Value]) {
    for e in evs {
        for field in ["event", "time", "client_id", "client", "server"] {
            assert!(e.get(field).is_some(), "{field} missing in {e}");
        }
    }
    let opened = |id: &str| {
        evs.iter()
            .any(|e| e["event"] == "connection_opened" && e["client_id"] == id)
    };
    assert!(opened("ka-victim") && opened("twin") && opened("rst-client"));
    let overdue = evs
        .iter()
        .position(|e| e["event"] == "keepalive_overdue" && e["client_id"] == "ka-victim")
        .expect("keepalive_overdue for ka-victim");
    let victim = closed_of(evs, "ka-victim");
    assert_eq!(
        victim[0]["verdict"]["cause"], "keepalive_timeout",
        "{}",
        victim[0]
    );
    let closed_at = evs.iter().position(|e| std::ptr::eq(e, victim[0])).unwrap();
    assert!(overdue < closed_at);
    let twin = closed_of(evs, "twin");
    assert_eq!(
        twin[0]["verdict"]["cause"], "session_taken_over",
        "{}",
        twin[0]
    );
    let rst = closed_of(evs, "rst-client");
    assert_eq!(rst[0]["verdict"]["cause"], "reset", "{}", rst[0]);
    assert_eq!(rst[0]["verdict"]["side"], "client");
    assert!(
        evs.iter()
            .any(|e| e["event"] == "finding" && e["finding"]["kind"] == "session_taken_over"),
        "no takeover finding"
    );
}

fn check_metrics(text: &str) {
    assert!(
        metric(text, "dropscope_keepalive_overdue_total") >= 1.0,
        "{text}"
    );
    let drops = |cause: &str, layer: &str| {
        metric(
            text,
            &format!("dropscope_drops_total{{cause=\"{cause}\",layer=\"{layer}\"}}"),
        )
    };
    assert_eq!(drops("reset", "network"), 1.0, "{text}");
    assert_eq!(drops("session_taken_over", "protocol"), 1.0, "{text}");
    assert_eq!(drops("keepalive_timeout", "protocol"), 1.0, "{text}");
    assert!(
        metric(text, "dropscope_pcap_received_total") > 10.0,
        "{text}"
    );
    assert_eq!(metric(text, "dropscope_pcap_dropped_total"), 0.0, "{text}");
}

/// The RST connection's kept pcap: readable by libpcap, every packet on its client port.
fn check_kept(evs: &[Value]) {
    let rst = closed_of(evs, "rst-client")[0];
    let path = rst["kept"].as_str().expect("kept file for the RST drop");
    assert!(path.contains("rst-client-reset-"), "{path}");
    let port: u16 = rst["client"]
        .as_str()
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let mut cap = pcap::Capture::from_file(path).expect("kept pcap opens");
    let (mut n, mut rsts) = (0, 0);
    while let Ok(p) = cap.next_packet() {
        let tcp = &p.data[14 + 20..];
        let (sport, dport) = (
            u16::from_be_bytes([tcp[0], tcp[1]]),
            u16::from_be_bytes([tcp[2], tcp[3]]),
        );
        assert!(
            sport == port || dport == port,
            "packet of another connection in {path}"
        );
        rsts += usize::from(tcp[13] & 0x04 != 0);
        n += 1;
    }
    assert!(n >= 5 && rsts >= 1, "{n} packets, {rsts} RST in {path}");
}

/// The overdue event came before the broker closed (its FIN in tcpdump's capture).
fn check_overdue_before_close(evs: &[Value], tcp_end: &Value) {
    assert_eq!(tcp_end["by"], "server", "{tcp_end}");
    let overdue = evs
        .iter()
        .find(|e| e["event"] == "keepalive_overdue" && e["client_id"] == "ka-victim")
        .expect("overdue event");
    let (raised, closed) = (overdue["time"].as_f64(), tcp_end["time"].as_f64());
    assert!(
        raised < closed,
        "overdue at {raised:?}, broker FIN at {closed:?}"
    );
}

/// `analyze` over tcpdump's capture gives the verdicts the live events gave.
fn check_same_as_offline(lab: &Lab, evs: &[Value]) {
    let out = Command::new(BIN)
        .args(["analyze", "--format", "json"])
        .arg(lab.dir.join("wire.pcap"))
        .output()
        .expect("analyze");
    let analysis: Value = serde_json::from_slice(&out.stdout).expect("analyze JSON");
    let offline = analysis["connections"].as_array().expect("connections");
    let live: Vec<&Value> = evs
        .iter()
        .filter(|e| e["event"] == "connection_closed")
        .collect();
    assert!(live.len() >= 3);
    for e in live {
        let c = offline
            .iter()
            .find(|c| c["client"] == e["client"])
            .unwrap_or_else(|| panic!("{} not in the offline analysis", e["client"]));
        for field in ["cause", "layer", "side", "rule", "code"] {
            assert_eq!(
                c["verdict"][field], e["verdict"][field],
                "{field} of {}",
                e["client"]
            );
        }
        if e["client_id"] == "ka-victim" {
            check_overdue_before_close(evs, &c["tcp_end"]);
        }
    }
}

/// A window report and the final one, each with its JSON, charts and index.
fn check_reports(dir: &Path) {
    let names: Vec<String> = std::fs::read_dir(dir)
        .expect("reports")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    let window = names
        .iter()
        .find(|n| n.starts_with("window-"))
        .expect("window report");
    assert!(names.iter().any(|n| n.starts_with("final-")), "{names:?}");
    let json = std::fs::read_to_string(dir.join(window).join("analysis.json")).expect("json");
    let a: Value = serde_json::from_str(&json).expect("report JSON");
    assert!(
        a["summary"]["connections"].as_u64().is_some_and(|n| n >= 1),
        "{json}"
    );
    assert!(dir.join(window).join("index.html").exists());
}

#[test]
fn live_capture_reports_drops_as_they_happen() {
    if let Some(why) = missing_prerequisite() {
        println!("skipped live_e2e: {why}");
        return;
    }
    let mut lab = match Lab::new() {
        Ok(l) => l,
        Err(e) => {
            println!("skipped live_e2e: cannot build network namespaces: {e}");
            return;
        }
    };
    let (tcpdump, live) = start_watchers(&mut lab);
    let survivors = make_drops(&mut lab);
    let path = lab.dir.join("events.ndjson");
    // The stopped clients never close their sockets: the broker's closes of the keepalive
    // victim and of the taken-over twin stay half-closed, and are reported while the
    // capture runs: within a linger (2 s), a sweep (half a linger) and the driver's tick of
    // the broker's FIN, with room for a loaded machine.
    let broker_closed = Instant::now();
    let all_closed = wait_for(Duration::from_secs(25), || {
        let evs = events(&path);
        let done = ["ka-victim", "twin", "rst-client"]
            .iter()
            .all(|id| !closed_of(&evs, id).is_empty());
        done.then_some(evs)
    });
    let evs = all_closed.unwrap_or_else(|| panic!("closes missing: {:#?}", events(&path)));
    let waited = broker_closed.elapsed();
    assert!(
        waited < Duration::from_secs(10),
        "reported {waited:?} after the broker's close"
    );
    let text = scrape(&lab).expect("metrics");
    lab.signal(live, libc::SIGTERM);
    assert_eq!(
        lab.wait(live, Duration::from_secs(10)),
        Some(0),
        "{}",
        log(&lab, "live.log")
    );
    for c in survivors.stopped.into_iter().chain([survivors.twin]) {
        lab.signal(c, libc::SIGKILL);
    }
    std::thread::sleep(Duration::from_millis(300));
    lab.signal(tcpdump, libc::SIGTERM);
    lab.wait(tcpdump, Duration::from_secs(5));
    check_events(&evs);
    check_metrics(&text);
    check_kept(&evs);
    check_same_as_offline(&lab, &evs);
    check_reports(&lab.dir.join("reports"));
}

#[test]
fn without_capture_rights_it_says_so_and_exits_3() {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let has_setpriv = Command::new("setpriv").arg("--version").output().is_ok();
    if !root || !has_setpriv {
        println!("skipped: needs root (to drop to nobody) and setpriv");
        return;
    }
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", BIN])
        .args(["live", "-i", "lo"])
        .output()
        .expect("setpriv");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("CAP_NET_RAW"), "{stderr}");
}
