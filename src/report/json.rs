//! JSON and NDJSON views.

use crate::engine::Analysis;
use serde::Serialize;
use std::io::{self, Write};

/// The whole analysis as one JSON object.
pub fn write_json(a: &Analysis, out: &mut impl Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, a)?;
    writeln!(out)
}

#[derive(Serialize)]
struct Line<'a, T: Serialize> {
    record: &'static str,
    #[serde(flatten)]
    body: &'a T,
}

/// One JSON object per line: each connection (`"record": "connection"`), then each finding
/// (`"record": "finding"`), then the summary (`"record": "summary"`).
pub fn write_ndjson(a: &Analysis, out: &mut impl Write) -> io::Result<()> {
    for c in &a.connections {
        line(out, "connection", c)?;
    }
    for f in &a.findings {
        line(out, "finding", f)?;
    }
    line(out, "summary", &a.summary)
}

fn line<T: Serialize>(out: &mut impl Write, record: &'static str, body: &T) -> io::Result<()> {
    serde_json::to_writer(&mut *out, &Line { record, body })?;
    writeln!(out)
}
