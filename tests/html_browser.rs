//! `dropscope report`'s index.html in a real browser: Debian's Chromium, headless, loads the
//! page from disk and dumps the DOM after its script ran. The page must log nothing to the
//! console, show every dropped connection with its cause, sort its table by a clicked
//! heading and by `?sort=`, and reference nothing outside its directory.
//!
//! Without Chromium the tests are skipped with a message, except under CI (`CI` set), where
//! a missing browser fails them: `scripts/setup.sh` installs it.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_dropscope");
/// A capture with dropped (`server_close`) and open connections, whose written order (drops
/// first) differs from both ID order and duration order.
const CAPTURE: &str = "server-close-maxconn.pcap";
/// Longest a browser run may take before it is killed (a safety bound, not an assertion).
const BROWSER_LIMIT: Duration = Duration::from_secs(120);

/// The Chromium binary, or `None` (after saying so) when it is missing outside CI.
fn chromium() -> Option<&'static str> {
    let found = Command::new("chromium")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if found {
        return Some("chromium");
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "chromium is missing under CI: scripts/setup.sh installs it"
    );
    eprintln!("skipped: chromium is not installed (bash scripts/setup.sh installs it)");
    None
}

/// A directory under the system temp dir, deleted when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("dropscope-browser-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What the browser made of a page: the DOM after scripts ran, and its console lines.
struct Loaded {
    dom: String,
    console: Vec<String>,
}

/// Loads `url` in headless Chromium with no network and a fresh profile. Its output goes to
/// files (a pipe left unread could fill and stall the browser).
fn load(browser: &str, url: &str) -> Loaded {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let scratch = Scratch::new(&format!("run-{}", RUNS.fetch_add(1, Ordering::Relaxed)));
    let (dom_path, log_path) = (scratch.0.join("dom.html"), scratch.0.join("stderr.log"));
    let file = |p: &Path| std::fs::File::create(p).expect("create output file");
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=5000",
        ])
        .arg(format!(
            "--user-data-dir={}",
            scratch.0.join("profile").display()
        ))
        .arg("--dump-dom")
        .arg(url)
        .stdin(Stdio::null())
        .stdout(file(&dom_path))
        .stderr(file(&log_path))
        .spawn()
        .expect("start chromium");
    let started = Instant::now();
    while child.try_wait().expect("wait for chromium").is_none() {
        if started.elapsed() > BROWSER_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish loading {url}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let read =
        |p: &Path| String::from_utf8_lossy(&std::fs::read(p).expect("read output")).into_owned();
    Loaded {
        dom: read(&dom_path),
        console: read(&log_path)
            .lines()
            .filter(|l| l.contains(":CONSOLE"))
            .map(str::to_string)
            .collect(),
    }
}

fn file_url(path: &Path, suffix: &str) -> String {
    format!("file://{}{suffix}", path.display())
}

fn capture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("captures")
        .join(CAPTURE)
}

fn analysis() -> Value {
    let out = Command::new(BIN)
        .args(["analyze", "--format", "json"])
        .arg(capture())
        .output()
        .expect("run dropscope analyze");
    serde_json::from_slice(&out.stdout).expect("analyze prints JSON")
}

fn report(dir: &Path) -> PathBuf {
    let status = Command::new(BIN)
        .arg("report")
        .arg(capture())
        .arg("-o")
        .arg(dir)
        .status()
        .expect("run dropscope report");
    assert!(status.success(), "report failed: {status}");
    dir.join("index.html")
}

/// The connection ids of the table's rows, top to bottom, with each row's text.
fn rows(dom: &str) -> Vec<(u64, String)> {
    let body = dom
        .split_once("<table id=\"connections\">")
        .and_then(|(_, t)| t.split_once("</table>"))
        .map_or("", |(t, _)| t);
    body.split("<tr id=\"row-")
        .skip(1)
        .filter_map(|r| {
            let (id, rest) = r.split_once('"')?;
            Some((id.parse().ok()?, text(rest)))
        })
        .collect()
}

/// Text of an HTML fragment: tags removed.
fn text(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for ch in html.chars() {
        match ch {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                out.push(' ');
            }
            _ if !in_tag => out.push(ch),
            _ => {}
        }
    }
    out
}

fn ids(rows: &[(u64, String)]) -> Vec<u64> {
    rows.iter().map(|r| r.0).collect()
}

/// Connection ids ordered by a JSON field, ascending (ties by id).
fn order_by(a: &Value, field: &str) -> Vec<u64> {
    let mut conns: Vec<(f64, u64)> = a["connections"]
        .as_array()
        .expect("connections")
        .iter()
        .map(|c| {
            (
                c[field].as_f64().expect(field),
                c["id"].as_u64().expect("id"),
            )
        })
        .collect();
    conns.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
    conns.into_iter().map(|c| c.1).collect()
}

#[test]
fn console_messages_are_seen() {
    // The control for `report_opens_offline_and_shows_the_drops`: if this Chromium stopped
    // printing console lines, that test would pass whatever the page did.
    let Some(browser) = chromium() else { return };
    let dir = Scratch::new("control");
    let page = dir.0.join("error.html");
    std::fs::write(
        &page,
        "<!DOCTYPE html><html><body><script>undefinedFunction();</script></body></html>",
    )
    .expect("write control page");
    let loaded = load(browser, &file_url(&page, ""));
    assert!(
        loaded
            .console
            .iter()
            .any(|l| l.contains("undefinedFunction")),
        "a script error shows on the console: {:?}",
        loaded.console
    );
}

#[test]
fn report_opens_offline_and_shows_the_drops() {
    let Some(browser) = chromium() else { return };
    let dir = Scratch::new("report");
    let index = report(&dir.0);
    let html = std::fs::read_to_string(&index).expect("read index.html");
    for scheme in ["http://", "https://", "//cdn", "@import", "url("] {
        assert!(!html.contains(scheme), "index.html references {scheme}");
    }
    let loaded = load(browser, &file_url(&index, ""));
    assert!(loaded.console.is_empty(), "console: {:?}", loaded.console);
    assert_local_resources(&loaded.dom, &dir.0);
    let a = analysis();
    let shown = rows(&loaded.dom);
    let conns = a["connections"].as_array().expect("connections");
    assert_eq!(shown.len(), conns.len(), "every connection has a row");
    let mut drops = 0;
    for c in conns {
        let (id, cause) = (c["id"].as_u64().expect("id"), &c["verdict"]["cause"]);
        let cause = cause.as_str().expect("cause");
        let row = shown.iter().find(|r| r.0 == id).expect("row of connection");
        assert!(row.1.contains(cause), "row {id} shows {cause}: {}", row.1);
        if !matches!(cause, "client_disconnect" | "open_at_end") {
            drops += 1;
            assert!(row.1.contains("frame.number"), "row {id} has its filter");
        }
    }
    assert!(drops > 0, "{CAPTURE} has drops");
    let written = ids(&shown);
    assert!(
        written[..drops].iter().all(|id| {
            let row = &shown.iter().find(|r| r.0 == *id).expect("row").1;
            !row.contains("open_at_end") && !row.contains("client_disconnect")
        }),
        "drops come first: {written:?}"
    );
    let lanes = loaded.dom.matches("<rect id=\"conn-").count();
    assert_eq!(lanes, conns.len(), "each connection has a lane anchor");
    assert!(
        loaded.dom.contains("href=\"#conn-3\""),
        "rows link to lanes"
    );
}

/// Every `src` of the page names a file beside it.
fn assert_local_resources(dom: &str, dir: &Path) {
    for part in dom.split(" src=\"").skip(1) {
        let src = part.split('"').next().unwrap_or("");
        assert!(dir.join(src).is_file(), "{src} is a file of the report");
    }
}

#[test]
fn table_sorts_by_query_and_by_click() {
    let Some(browser) = chromium() else { return };
    let dir = Scratch::new("sort");
    let index = report(&dir.0);
    let a = analysis();
    let written = ids(&rows(&load(browser, &file_url(&index, "")).dom));

    let by_duration = order_by(&a, "duration");
    assert_ne!(by_duration, written, "the test needs an order that differs");
    let sorted = load(browser, &file_url(&index, "?sort=duration"));
    assert!(sorted.console.is_empty(), "console: {:?}", sorted.console);
    assert_eq!(ids(&rows(&sorted.dom)), by_duration);

    // Two clicks on the id heading: ascending, then descending.
    let html = std::fs::read_to_string(&index).expect("read index.html");
    let clicks = "<script>var h = document.querySelector('th[data-key=id]'); h.click(); h.click();</script></body>";
    let clicked = dir.0.join("clicked.html");
    std::fs::write(&clicked, html.replace("</body>", clicks)).expect("write page");
    let loaded = load(browser, &file_url(&clicked, ""));
    assert!(loaded.console.is_empty(), "console: {:?}", loaded.console);
    let mut descending = written.clone();
    descending.sort_unstable_by(|x, y| y.cmp(x));
    assert_ne!(descending, written, "the test needs an order that differs");
    assert_eq!(ids(&rows(&loaded.dom)), descending);
    assert!(loaded.dom.contains("aria-sort=\"descending\""));
}
