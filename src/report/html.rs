//! The `index.html` view: the summary, the findings grouped by kind, the charts (the
//! timeline inlined, so links can scroll to a connection's lane) and every connection with
//! its cause and the Wireshark filter of its evidence, in a table sortable by any column.
//! Everything is inline (styles and a small script): the page opens with no network, and
//! reads in full with scripts off (the table is then in its written order, drops first).

use super::digest::{self, FindingGroup};
use super::svg::{self, Chart, style};
use super::wireshark::frame_filter;
use crate::correlate::{FindingKind, Summary};
use crate::engine::Analysis;
use crate::time::Timestamp;
use crate::verdict::Judged;
use std::collections::BTreeSet;
use std::io::{self, Write};

/// Most connections listed in the table (drops first); the rest are counted. At this many
/// rows the page still loads and sorts in a browser in about a second.
pub const MAX_ROWS: usize = 20_000;

/// Groups of at most this many findings are shown open; bigger ones fold to their title.
const OPEN_GROUP: usize = 3;

/// The chart inlined into the page, so that `#conn-N` links scroll to its lanes.
const INLINE_CHART: &str = "timeline.svg";

const HEAD: &str = r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>dropscope report</title>
<style>
body { font-family: sans-serif; margin: 2em; color: #212121; max-width: 1240px; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #cfd8dc; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #eceff1; }
td.n { text-align: right; }
figure { margin: 2em 0; }
img, figure svg { max-width: 100%; height: auto; border: 1px solid #eceff1; }
details { margin: 0.3em 0; }
summary { cursor: pointer; }
code.filter { user-select: all; background: #f5f5f5; padding: 1px 3px; }
#connections { font-size: 0.85em; width: 100%; }
#connections td.why { min-width: 18em; }
#connections th[data-key] { cursor: pointer; user-select: none; }
#connections th[aria-sort=ascending]::after { content: " \25B2"; }
#connections th[aria-sort=descending]::after { content: " \25BC"; }
tr:target { background: #fff8e1; }
svg .lane:target { fill: #ffca28; fill-opacity: 0.35; }
</style>
</head>
<body>
"#;

/// Sorts the connections table by a clicked header (again: the other way), or by
/// `?sort=KEY&order=desc` in the page's address. Numeric columns compare by `data-v`.
const SCRIPT: &str = r#"<script>
(function () {
  var table = document.getElementById("connections");
  if (!table) { return; }
  var heads = table.tHead.rows[0].cells;
  var body = table.tBodies[0];
  function value(row, i, numeric) {
    var cell = row.cells[i];
    var v = cell.hasAttribute("data-v") ? cell.getAttribute("data-v") : cell.textContent;
    return numeric ? parseFloat(v) : v;
  }
  function sortBy(i, descending) {
    var numeric = heads[i].getAttribute("data-type") === "num";
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = value(a, i, numeric), y = value(b, i, numeric);
      var d = numeric ? x - y : (x < y ? -1 : x > y ? 1 : 0);
      if (descending) { d = -d; }
      return d !== 0 ? d : value(a, 0, true) - value(b, 0, true);
    });
    rows.forEach(function (r) { body.appendChild(r); });
    for (var j = 0; j < heads.length; j++) { heads[j].removeAttribute("aria-sort"); }
    heads[i].setAttribute("aria-sort", descending ? "descending" : "ascending");
  }
  Array.prototype.forEach.call(heads, function (th, i) {
    if (!th.hasAttribute("data-key")) { return; }
    th.addEventListener("click", function () {
      sortBy(i, th.getAttribute("aria-sort") === "ascending");
    });
  });
  var query = new URLSearchParams(window.location.search);
  var key = query.get("sort");
  Array.prototype.forEach.call(heads, function (th, i) {
    if (key !== null && th.getAttribute("data-key") === key) {
      sortBy(i, query.get("order") === "desc");
    }
  });
})();
</script>
"#;

/// Writes the index page; `charts` beside it are linked by file name, the timeline inlined.
pub fn write_index(a: &Analysis, charts: &[Chart], out: &mut impl Write) -> io::Result<()> {
    out.write_all(HEAD.as_bytes())?;
    writeln!(out, "<h1>dropscope report</h1>")?;
    let files: Vec<String> = a.captures.iter().map(|c| escape(c)).collect();
    writeln!(out, "<p>Captures: {}</p>", files.join(", "))?;
    summary(&a.summary, out)?;
    findings(a, out)?;
    figures(charts, out)?;
    connections(a, out)?;
    for w in &a.warnings {
        writeln!(out, "<p>Warning: {}</p>", escape(&w.to_string()))?;
    }
    out.write_all(SCRIPT.as_bytes())?;
    writeln!(out, "</body>\n</html>")
}

fn row(out: &mut impl Write, name: &str, value: &str) -> io::Result<()> {
    writeln!(
        out,
        "<tr><th>{}</th><td>{}</td></tr>",
        escape(name),
        escape(value)
    )
}

fn summary(s: &Summary, out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "<h2>Summary</h2>\n<table>")?;
    row(out, "connections", &s.connections.to_string())?;
    row(out, "drops", &s.drops.to_string())?;
    row(out, "drops by layer", &pairs(s.drops_by_layer.iter()))?;
    row(out, "connections by cause", &pairs(s.by_cause.iter()))?;
    row(out, "recovered by reconnecting", &s.recoveries.to_string())?;
    row(out, "messages published", &s.messages_published.to_string())?;
    let d = &s.duration;
    row(
        out,
        "session duration",
        &stats(d.min, d.mean, d.max, d.count),
    )?;
    let r = &s.time_to_reconnect;
    let spread = digest::Quantiles::of(&s.reconnect_waits).map_or(String::new(), |q| {
        format!(" (median {:.3} s, p90 {:.3} s)", q.median, q.p90)
    });
    row(
        out,
        "time to reconnect",
        &(stats(r.min, r.mean, r.max, r.count) + &spread),
    )?;
    writeln!(out, "</table>")
}

fn stats(min: f64, mean: f64, max: f64, count: usize) -> String {
    format!("min {min} s, mean {mean} s, max {max} s ({count} values)")
}

fn pairs<'a>(it: impl Iterator<Item = (&'a &'static str, &'a usize)>) -> String {
    let v: Vec<String> = it.map(|(k, n)| format!("{k} {n}")).collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

/// One `<details>` per kind of finding: its name and count (for reconnects, the digest of
/// all of them), unfolding to every finding of the kind.
fn findings(a: &Analysis, out: &mut impl Write) -> io::Result<()> {
    let groups = digest::group_findings(&a.findings);
    if groups.is_empty() {
        return Ok(());
    }
    writeln!(out, "<h2>Findings</h2>")?;
    for g in &groups {
        finding_group(a, g, out)?;
    }
    Ok(())
}

fn finding_group(a: &Analysis, g: &FindingGroup, out: &mut impl Write) -> io::Result<()> {
    let n = g.findings.len();
    let open = if n <= OPEN_GROUP { " open" } else { "" };
    let digest = match g.kind {
        FindingKind::Reconnects => digest::reconnects(a).map(|r| format!(": {}", r.sentence())),
        _ => None,
    };
    writeln!(
        out,
        "<details{open}><summary><b>{}</b> ({n}){}</summary>\n<ul>",
        g.kind.name(),
        escape(digest.as_deref().unwrap_or(""))
    )?;
    for f in &g.findings {
        writeln!(out, "<li>{}</li>", escape(&f.explanation))?;
    }
    writeln!(out, "</ul></details>")
}

/// The timeline inlined, then the other charts as images.
fn figures(charts: &[Chart], out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "<h2>Charts</h2>")?;
    let (inline, linked): (Vec<&Chart>, Vec<&Chart>) =
        charts.iter().partition(|c| c.file == INLINE_CHART);
    for c in inline {
        writeln!(out, "<figure id=\"timeline\">\n{}", inline_svg(&c.svg))?;
        caption(c, out)?;
    }
    for c in linked {
        writeln!(
            out,
            "<figure><img src=\"{}\" alt=\"{}\">",
            c.file,
            escape(c.title)
        )?;
        caption(c, out)?;
    }
    Ok(())
}

fn caption(c: &Chart, out: &mut impl Write) -> io::Result<()> {
    writeln!(
        out,
        "<figcaption>{} (<a href=\"{1}\">{1}</a>)</figcaption></figure>",
        escape(c.title),
        c.file
    )
}

/// An SVG document as an element of the page. The HTML parser puts `<svg>` in the SVG
/// namespace by itself, so the `xmlns` attribute (the one URL in the document) is left out.
fn inline_svg(svg: &str) -> String {
    svg.replacen(" xmlns=\"http://www.w3.org/2000/svg\"", "", 1)
}

/// The columns of the connections table: (sort key, heading, numeric).
const COLUMNS: [(&str, &str, bool); 9] = [
    ("id", "id", true),
    ("client", "client id", false),
    ("path", "client → server", false),
    ("start", "start (s)", true),
    ("duration", "duration (s)", true),
    ("cause", "cause", false),
    ("layer", "layer", false),
    ("why", "why", false),
    ("filter", "Wireshark filter", false),
];

/// Every connection (up to `MAX_ROWS`), drops first, each with its cause, evidence filter
/// and a link to its lane in the timeline.
fn connections(a: &Analysis, out: &mut impl Write) -> io::Result<()> {
    writeln!(
        out,
        "<h2>Connections</h2>\n<p>Every connection with its cause, drops first. Click a column heading to sort by it (again for the other way). <i>lane</i> scrolls to the connection in the timeline; a filter selects the verdict's evidence frames in Wireshark.</p>"
    )?;
    writeln!(out, "<table id=\"connections\">\n<thead><tr>")?;
    for (key, heading, numeric) in COLUMNS {
        let kind = if numeric { "num" } else { "text" };
        writeln!(
            out,
            "<th data-key=\"{key}\" data-type=\"{kind}\" title=\"sort by {heading}\">{heading}</th>"
        )?;
    }
    writeln!(out, "<th>timeline</th></tr></thead>\n<tbody>")?;
    let (drops, rest): (Vec<&Judged>, Vec<&Judged>) = a
        .connections
        .iter()
        .partition(|c| c.verdict.cause.is_drop());
    let laned: BTreeSet<usize> = svg::laned(&a.connections).into_iter().collect();
    let origin = a
        .connections
        .iter()
        .map(|c| c.start)
        .min()
        .unwrap_or_default();
    for c in drops.iter().chain(rest.iter()).take(MAX_ROWS) {
        connection_row(c, origin, laned.contains(&c.id), out)?;
    }
    writeln!(out, "</tbody>\n</table>")?;
    if a.connections.len() > MAX_ROWS {
        writeln!(
            out,
            "<p>+ {} more connections; <code>dropscope analyze --format json</code> lists them all.</p>",
            a.connections.len() - MAX_ROWS
        )?;
    }
    Ok(())
}

fn connection_row(
    c: &Judged,
    origin: Timestamp,
    laned: bool,
    out: &mut impl Write,
) -> io::Result<()> {
    let v = &c.verdict;
    let (label, colour) = svg::verdict_label(c);
    let class = if v.cause.is_drop() { "drop" } else { "clean" };
    let start = (c.start - origin).as_secs_f64();
    let duration = c.duration.as_secs_f64();
    let filter = frame_filter(&v.evidence).map_or(String::new(), |f| {
        format!("<code class=\"filter\">{}</code>", escape(&f))
    });
    let lane = if laned {
        format!("<a href=\"#{}\">lane</a>", svg::lane_id(c.id))
    } else {
        String::new()
    };
    writeln!(
        out,
        "<tr id=\"row-{0}\" class=\"{class}\"><td class=\"n\" data-v=\"{0}\">{0}</td><td>{1}</td><td>{2} → {3}</td><td class=\"n\" data-v=\"{start}\">{start:.3}</td><td class=\"n\" data-v=\"{duration}\">{duration:.3}</td><td style=\"color:{4}\">{5}</td><td>{6}</td><td class=\"why\">{7}</td><td>{filter}</td><td>{lane}</td></tr>",
        c.id,
        escape(c.client_id.as_deref().unwrap_or("-")),
        c.client,
        c.server,
        style::hex(colour),
        escape(&label),
        v.layer.map_or("-", |l| l.name()),
        escape(&v.explanation),
    )
}

/// Escapes text for HTML.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(ch),
        }
    }
    out
}
