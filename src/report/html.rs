//! The `index.html` view: the summary table, the findings, the charts and the dropped
//! connections, all read from one `Analysis`.

use super::svg::{Chart, style};
use crate::correlate::Summary;
use crate::engine::Analysis;
use crate::verdict::Judged;
use std::io::{self, Write};

/// Most dropped connections listed in the table; the rest are counted.
const MAX_ROWS: usize = 500;

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
img { max-width: 100%; border: 1px solid #eceff1; }
</style>
</head>
<body>
"#;

/// Writes the index page; `charts` are linked by file name, beside it.
pub fn write_index(a: &Analysis, charts: &[Chart], out: &mut impl Write) -> io::Result<()> {
    out.write_all(HEAD.as_bytes())?;
    writeln!(out, "<h1>dropscope report</h1>")?;
    let files: Vec<String> = a.captures.iter().map(|c| escape(c)).collect();
    writeln!(out, "<p>Captures: {}</p>", files.join(", "))?;
    summary(&a.summary, out)?;
    findings(a, out)?;
    for c in charts {
        writeln!(
            out,
            "<figure><img src=\"{0}\" alt=\"{1}\"><figcaption>{1} (<a href=\"{0}\">{0}</a>)</figcaption></figure>",
            c.file,
            escape(c.title)
        )?;
    }
    dropped(a, out)?;
    for w in &a.warnings {
        writeln!(out, "<p>Warning: {}</p>", escape(&w.to_string()))?;
    }
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
    row(
        out,
        "time to reconnect",
        &stats(r.min, r.mean, r.max, r.count),
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

fn findings(a: &Analysis, out: &mut impl Write) -> io::Result<()> {
    if a.findings.is_empty() {
        return Ok(());
    }
    writeln!(out, "<h2>Findings</h2>\n<ul>")?;
    for f in &a.findings {
        writeln!(out, "<li>{}</li>", escape(&f.explanation))?;
    }
    writeln!(out, "</ul>")
}

fn dropped(a: &Analysis, out: &mut impl Write) -> io::Result<()> {
    let drops: Vec<&Judged> = a
        .connections
        .iter()
        .filter(|c| c.verdict.cause.is_drop())
        .collect();
    if drops.is_empty() {
        return writeln!(out, "<h2>Dropped connections</h2>\n<p>None.</p>");
    }
    writeln!(
        out,
        "<h2>Dropped connections</h2>\n<table>\n<tr><th>id</th><th>client id</th><th>client → server</th><th>duration</th><th>verdict</th><th>layer</th><th>why</th><th>frames</th></tr>"
    )?;
    for c in drops.iter().take(MAX_ROWS) {
        connection_row(c, out)?;
    }
    writeln!(out, "</table>")?;
    if drops.len() > MAX_ROWS {
        writeln!(
            out,
            "<p>+ {} more; <code>dropscope analyze --format json</code> lists them all.</p>",
            drops.len() - MAX_ROWS
        )?;
    }
    Ok(())
}

fn connection_row(c: &Judged, out: &mut impl Write) -> io::Result<()> {
    let v = &c.verdict;
    let (label, colour) = super::svg::verdict_label(c);
    let frames: Vec<String> = v.evidence.iter().map(u64::to_string).collect();
    writeln!(
        out,
        "<tr><td class=\"n\">{}</td><td>{}</td><td>{} → {}</td><td class=\"n\">{}</td><td style=\"color:{}\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        c.id,
        escape(c.client_id.as_deref().unwrap_or("-")),
        c.client,
        c.server,
        c.duration,
        style::hex(colour),
        escape(&label),
        v.layer.map_or("-", |l| l.name()),
        escape(&v.explanation),
        frames.join(", ")
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
