//! `dropscope report` end to end: the real binary over real captures, its SVGs parsed and
//! checked against `dropscope analyze --format json` of the same capture.

use dropscope::report::svg::{Mark, style};
use dropscope::verdict::{Cause, Layer};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_dropscope");
/// Lanes the timeline draws at most (`timeline::MAX_LANES`).
const MAX_LANES: usize = 40;

fn capture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("captures")
        .join(name)
}

fn analyze(name: &str) -> Value {
    let out = Command::new(BIN)
        .args(["analyze", "--format", "json"])
        .arg(capture(name))
        .output()
        .expect("run dropscope analyze");
    serde_json::from_slice(&out.stdout).expect("analyze prints JSON")
}

/// A report directory, deleted when dropped.
struct Out(PathBuf);

impl Drop for Out {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl std::ops::Deref for Out {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

fn report(name: &str, tag: &str) -> Out {
    let dir = std::env::temp_dir().join(format!(
        "dropscope-report-{}-{name}-{tag}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let status = Command::new(BIN)
        .arg("report")
        .arg(capture(name))
        .arg("-o")
        .arg(&dir)
        .status()
        .expect("run dropscope report");
    assert!(status.success(), "report on {name} failed: {status}");
    Out(dir)
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// Text elements of an SVG: (content, fill, y).
fn texts(doc: &roxmltree::Document) -> Vec<(String, String, f64)> {
    doc.descendants()
        .filter(|n| n.has_tag_name("text"))
        .map(|n| {
            let content: String = n
                .descendants()
                .filter(|d| d.is_text())
                .filter_map(|d| d.text())
                .collect();
            let content = content.trim().to_string();
            let y = n.attribute("y").and_then(|y| y.parse().ok()).unwrap_or(0.0);
            (content, n.attribute("fill").unwrap_or("").to_string(), y)
        })
        .collect()
}

/// The top y of a shape element, whatever its kind.
fn shape_y(n: roxmltree::Node) -> Option<f64> {
    let attr = |a: &str| n.attribute(a).and_then(|v| v.parse::<f64>().ok());
    match n.tag_name().name() {
        "rect" => attr("y"),
        "circle" => attr("cy"),
        "line" => attr("y1"),
        "polygon" | "polyline" => n
            .attribute("points")?
            .split([' ', ','])
            .filter(|s| !s.is_empty())
            .nth(1)?
            .parse()
            .ok(),
        _ => None,
    }
}

/// Colours (fill or stroke) of the shapes drawn above `limit` (the plot, not the legend).
fn plot_colours(doc: &roxmltree::Document, limit: f64) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for n in doc.descendants().filter(|n| n.is_element()) {
        if shape_y(n).is_some_and(|y| y < limit) {
            for a in ["fill", "stroke"] {
                if let Some(c) = n.attribute(a) {
                    out.insert(c.to_string());
                }
            }
        }
    }
    out
}

fn conns(a: &Value) -> &Vec<Value> {
    a["connections"].as_array().expect("connections")
}

fn any(a: &Value, f: impl Fn(&Value) -> bool) -> bool {
    conns(a).iter().any(f)
}

fn packets(c: &Value, kinds: &[&str]) -> u64 {
    kinds
        .iter()
        .map(|k| c["packets"][k].as_u64().unwrap_or(0))
        .sum()
}

fn tcp_end(c: &Value, what: &str) -> bool {
    !c["tcp"]["client"][what].is_null() || !c["tcp"]["server"][what].is_null()
}

/// Which marks the analysis says a timeline over every connection must show.
fn expected_marks(a: &Value) -> Vec<(Mark, bool)> {
    vec![
        (
            Mark::Connect,
            any(a, |c| packets(c, &["CONNECT", "CONNACK"]) > 0),
        ),
        (Mark::Publish, any(a, |c| packets(c, &["PUBLISH"]) > 0)),
        (
            Mark::Ping,
            any(a, |c| packets(c, &["PINGREQ", "PINGRESP"]) > 0),
        ),
        (
            Mark::Disconnect,
            any(a, |c| packets(c, &["DISCONNECT"]) > 0),
        ),
        (
            Mark::Retransmission,
            any(a, |c| c["retransmissions"].as_u64() > Some(0)),
        ),
        (Mark::Fin, any(a, |c| tcp_end(c, "fin"))),
        (Mark::Rst, any(a, |c| tcp_end(c, "rst"))),
    ]
}

fn verdict_of(c: &Value) -> (Cause, Option<Layer>) {
    let v = &c["verdict"];
    let cause = serde_json::from_value(v["cause"].clone()).expect("cause");
    let layer = serde_json::from_value(v["layer"].clone()).expect("layer");
    (cause, layer)
}

/// Lanes, marks and verdict labels of the timeline match the analysis.
fn check_timeline(name: &str) {
    let a = analyze(name);
    let dir = report(name, "timeline");
    let svg = read(&dir, "timeline.svg");
    let doc = roxmltree::Document::parse(&svg).expect("timeline.svg is XML");
    let texts = texts(&doc);
    let lanes: Vec<&(String, String, f64)> =
        texts.iter().filter(|t| t.0.starts_with('#')).collect();
    let all = conns(&a);
    assert_eq!(lanes.len(), all.len().min(MAX_LANES), "{name}: lanes");
    if all.len() <= MAX_LANES {
        for c in all {
            let id = format!("#{} ", c["id"]);
            let lane = lanes.iter().find(|t| t.0.starts_with(&id));
            let lane = lane.unwrap_or_else(|| panic!("{name}: no lane {id}"));
            let (cause, layer) = verdict_of(c);
            let colour = style::hex(style::verdict_colour(cause, layer));
            let label = texts
                .iter()
                .find(|t| t.2 == lane.2 && t.0.starts_with(cause.name()));
            let label = label.unwrap_or_else(|| panic!("{name}: {id} has no {cause:?} label"));
            assert_eq!(label.1, colour, "{name}: {id} label colour");
        }
        let caption = texts
            .iter()
            .find(|t| t.0.starts_with("capture time (HH:MM:SS UTC"))
            .expect("time axis caption");
        let drawn = plot_colours(&doc, caption.2);
        for (mark, present) in expected_marks(&a) {
            assert_eq!(drawn.contains(&mark.hex()), present, "{name}: {mark:?}");
        }
    } else {
        let hidden = all.len() - MAX_LANES;
        let noted: usize = texts
            .iter()
            .filter_map(|t| t.0.strip_prefix("+ "))
            .filter_map(|t| t.split(' ').next()?.parse::<usize>().ok())
            .sum();
        assert_eq!(noted, hidden, "{name}: hidden connections counted");
    }
}

#[test]
fn timeline_lost_pingreq_shows_retransmissions_and_missed_deadline() {
    check_timeline("keepalive-lost-pingreq-client.pcap");
    let svg = read(
        &report("keepalive-lost-pingreq-client.pcap", "missed"),
        "timeline.svg",
    );
    assert!(svg.contains(&Mark::MissedDeadline.hex()));
}

#[test]
fn timeline_broker_sigterm() {
    check_timeline("broker-sigterm.pcap");
}

#[test]
fn timeline_nat_idle_expiry() {
    check_timeline("nat-idle-expiry.pcap");
}

#[test]
fn timeline_clean_and_takeover() {
    check_timeline("clean-disconnect-v5.pcap");
    check_timeline("takeover-v5.pcap");
    check_timeline("client-abort-rst.pcap");
}

#[test]
fn timeline_many_connections_is_summarized() {
    check_timeline("many-connections.pcap");
}

#[test]
fn other_charts_carry_the_analysis() {
    let name = "clustered-drops.pcap";
    let a = analyze(name);
    let dir = report(name, "charts");
    let causes = read(&dir, "causes.svg");
    let doc = roxmltree::Document::parse(&causes).expect("causes.svg is XML");
    let words: Vec<String> = texts(&doc).into_iter().map(|t| t.0).collect();
    for (cause, n) in a["summary"]["by_cause"].as_object().expect("by_cause") {
        let drop: Cause = serde_json::from_value(Value::String(cause.clone())).expect("cause");
        if drop.is_drop() {
            assert!(words.contains(cause), "causes.svg names {cause}");
            assert!(words.contains(&n.to_string()), "causes.svg counts {cause}");
        }
    }
    let drops = read(&dir, "drops.svg");
    let doc = roxmltree::Document::parse(&drops).expect("drops.svg is XML");
    assert!(texts(&doc).iter().any(|t| t.0.starts_with("cluster:")));
    let gaps = read(&dir, "idle-gaps.svg");
    let doc = roxmltree::Document::parse(&gaps).expect("idle-gaps.svg is XML");
    for ka in conns(&a).iter().filter_map(|c| c["keepalive"].as_u64()) {
        let want = format!("keepalive {ka} s");
        assert!(texts(&doc).iter().any(|t| t.0 == want), "{want}");
    }
    roxmltree::Document::parse(&read(&dir, "durations.svg")).expect("durations.svg is XML");
    let index = read(&dir, "index.html");
    // The timeline is inlined (its lanes carry ids that rows link to); the rest are images.
    assert!(
        index.contains("<figure id=\"timeline\">\n<svg "),
        "index inlines the timeline"
    );
    assert!(
        index.contains("href=\"timeline.svg\""),
        "index links timeline.svg"
    );
    for f in ["causes.svg", "drops.svg", "durations.svg", "idle-gaps.svg"] {
        assert!(index.contains(&format!("src=\"{f}\"")), "index shows {f}");
    }
    assert!(index.contains(&format!("<td>{}</td>", a["summary"]["drops"])));
}

#[test]
fn nat_bracket_is_drawn() {
    let dir = report("nat-idle-expiry.pcap", "bracket");
    let svg = read(&dir, "idle-gaps.svg");
    let doc = roxmltree::Document::parse(&svg).expect("idle-gaps.svg is XML");
    assert!(
        texts(&doc)
            .iter()
            .any(|t| t.0.contains("finding nat_timeout_bracket"))
    );
}

#[test]
fn two_runs_write_identical_files() {
    let name = "clustered-drops.pcap";
    let (one, two) = (report(name, "one"), report(name, "two"));
    let mut files: Vec<_> = std::fs::read_dir(&*one)
        .expect("report dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    files.sort();
    assert_eq!(files.len(), 6);
    for f in files {
        let f = f.to_string_lossy();
        assert_eq!(read(&one, &f), read(&two, &f), "{f} differs between runs");
    }
}

#[test]
fn charts_render_to_png() {
    if Command::new("rsvg-convert")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: rsvg-convert is not installed (apt-get install librsvg2-bin)");
        return;
    }
    let dir = report("nat-idle-expiry.pcap", "png");
    for f in ["timeline", "causes", "drops", "durations", "idle-gaps"] {
        let png = dir.join(format!("{f}.png"));
        let status = Command::new("rsvg-convert")
            .arg(dir.join(format!("{f}.svg")))
            .arg("-o")
            .arg(&png)
            .status()
            .expect("run rsvg-convert");
        assert!(status.success(), "{f}.svg renders");
        assert!(
            std::fs::metadata(&png).expect("png").len() > 1000,
            "{f}.png"
        );
    }
}
