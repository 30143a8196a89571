//! The text layout of `dropscope analyze`: small captures print every row in ID order, then
//! findings, then the summary; bigger ones print the summary and the findings by kind first,
//! then a limited table with drops first; `--all` prints everything; every drop carries the
//! Wireshark filter of its evidence. Checked against `--format json` of the same input.

use dropscope::report::{SMALL_CAPTURE, TABLE_ROWS, frame_filter};
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_dropscope");
/// More than `SMALL_CAPTURE` connections with drops, reconnects and a takeover.
const BIG: [&str; 3] = [
    "many-connections.pcap",
    "irregular-drops.pcap",
    "takeover-v311.pcap",
];

fn captures(names: &[&str]) -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("captures");
    names.iter().map(|n| dir.join(n)).collect()
}

fn run(names: &[&str], extra: &[&str]) -> String {
    let out = Command::new(BIN)
        .arg("analyze")
        .args(captures(names))
        .args(extra)
        .output()
        .expect("run dropscope analyze");
    assert!(out.status.success(), "analyze failed: {}", out.status);
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

fn json(names: &[&str]) -> Value {
    serde_json::from_str(&run(names, &["--format", "json"])).expect("JSON")
}

fn conns(a: &Value) -> &Vec<Value> {
    a["connections"].as_array().expect("connections")
}

fn is_drop(c: &Value) -> bool {
    !matches!(
        c["verdict"]["cause"].as_str(),
        Some("client_disconnect" | "open_at_end")
    )
}

/// The connection ids of the table rows, in printed order.
fn row_ids(text: &str) -> Vec<u64> {
    text.lines()
        .skip_while(|l| !l.trim_start().starts_with("ID  CLIENT ID"))
        .skip(1)
        .take_while(|l| !l.is_empty() && !l.starts_with("  +"))
        .filter(|l| !l.starts_with("        "))
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect()
}

fn line_of(text: &str, prefix: &str) -> usize {
    text.lines()
        .position(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting {prefix:?} in:\n{text}"))
}

fn evidence(c: &Value) -> Vec<u64> {
    c["verdict"]["evidence"]
        .as_array()
        .expect("evidence")
        .iter()
        .filter_map(Value::as_u64)
        .collect()
}

/// Every dropped connection prints `filter: <the filter of its evidence>` after its row.
fn assert_filters(text: &str, a: &Value) {
    for c in conns(a).iter().filter(|c| is_drop(c)) {
        let want = frame_filter(&evidence(c)).expect("a drop has evidence");
        assert!(
            text.contains(&format!("        filter: {want}\n")),
            "connection {} has `filter: {want}`",
            c["id"]
        );
    }
}

#[test]
fn small_capture_reads_as_before_with_filters() {
    let names = ["keepalive-lost-pingreq-client.pcap"];
    let (text, a) = (run(&names, &[]), json(&names));
    assert!(conns(&a).len() <= SMALL_CAPTURE);
    let ids: Vec<u64> = conns(&a).iter().filter_map(|c| c["id"].as_u64()).collect();
    assert_eq!(row_ids(&text), ids, "every row, in ID order");
    assert!(text.starts_with("  ID  CLIENT ID"), "the table comes first");
    assert!(line_of(&text, "Summary:") > line_of(&text, "  ID  CLIENT ID"));
    assert!(text.contains("filter: frame.number in {32 44 61}\n"));
    assert_filters(&text, &a);
}

#[test]
fn big_capture_puts_summary_and_findings_first_and_limits_the_table() {
    let (text, a) = (run(&BIG, &[]), json(&BIG));
    let all = conns(&a);
    assert!(all.len() > SMALL_CAPTURE);
    assert_eq!(line_of(&text, "Summary:"), 0, "the summary comes first");
    let findings = line_of(&text, "Findings by kind:");
    let table = line_of(&text, "  ID  CLIENT ID");
    assert!(findings < table, "findings before the table");

    let shown = row_ids(&text);
    assert_eq!(shown.len(), TABLE_ROWS);
    let drops: Vec<u64> = all
        .iter()
        .filter(|c| is_drop(c))
        .filter_map(|c| c["id"].as_u64())
        .collect();
    assert!(!drops.is_empty() && drops.len() < TABLE_ROWS);
    assert_eq!(shown[..drops.len()], drops[..], "drops first, in ID order");
    assert!(!shown.windows(2).all(|w| w[0] < w[1]), "not plain ID order");
    let left_out = all.len() - TABLE_ROWS;
    assert!(text.contains(&format!(
        "  + {left_out} rows left out (0 dropped, {left_out} clean or open); --all prints every row in ID order\n"
    )));
    assert_filters(&text, &a);
}

#[test]
fn big_capture_sums_up_reconnects() {
    let (text, a) = (run(&BIG, &[]), json(&BIG));
    let reconnects: Vec<&Value> = a["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["kind"] == "reconnects")
        .collect();
    assert!(
        reconnects.len() >= 2,
        "the input has several reconnect findings"
    );
    let line = text
        .lines()
        .find(|l| l.starts_with("  reconnects ("))
        .expect("one reconnects line");
    assert!(line.starts_with(&format!(
        "  reconnects ({0}): {0} clients connected more than once",
        reconnects.len()
    )));
    for word in [
        "min",
        "median",
        "p90",
        "max",
        "most connections: \"irregular-1\" 6",
    ] {
        assert!(line.contains(word), "{word} in {line}");
    }
    for f in &reconnects {
        let sentence = f["explanation"].as_str().expect("explanation");
        assert!(
            !text.contains(sentence),
            "per-client line folded: {sentence}"
        );
    }
}

#[test]
fn all_prints_every_row_in_id_order_and_every_finding() {
    let (text, a) = (run(&BIG, &["--all"]), json(&BIG));
    let ids: Vec<u64> = conns(&a).iter().filter_map(|c| c["id"].as_u64()).collect();
    assert_eq!(row_ids(&text), ids);
    for f in a["findings"].as_array().expect("findings") {
        let sentence = f["explanation"].as_str().expect("explanation");
        assert!(text.contains(&format!("  - {sentence}\n")), "{sentence}");
    }
    assert!(!text.contains("rows left out"));
    assert_filters(&text, &a);
}

#[test]
fn help_names_the_thresholds() {
    let out = Command::new(BIN)
        .args(["analyze", "--help"])
        .output()
        .expect("run dropscope analyze --help");
    let help = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        help.contains(&format!("more than {SMALL_CAPTURE} connections")),
        "{help}"
    );
    assert!(
        help.contains(&format!("then {TABLE_ROWS} rows, drops first")),
        "{help}"
    );
}
