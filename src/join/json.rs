//! The joined result as one JSON object or as NDJSON records.

use super::Joined;
use serde::Serialize;
use std::io::{self, Write};

/// Writes the joined result as one pretty-printed JSON object.
pub fn write_joined_json(j: &Joined, out: &mut impl Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, j)?;
    writeln!(out)
}

#[derive(Serialize)]
struct Line<'a, T: Serialize> {
    record: &'static str,
    #[serde(flatten)]
    body: &'a T,
}

/// Writes one JSON line per record: `vantage`, `clock_offset`, `joined_connection`,
/// `unmatched` (each the object of the same name in the JSON output, with a `record` key).
pub fn write_joined_ndjson(j: &Joined, out: &mut impl Write) -> io::Result<()> {
    for v in &j.vantages {
        line("vantage", v, out)?;
    }
    for o in &j.clock_offsets {
        line("clock_offset", o, out)?;
    }
    for c in &j.connections {
        line("joined_connection", c, out)?;
    }
    for s in &j.unmatched {
        line("unmatched", s, out)?;
    }
    Ok(())
}

fn line<T: Serialize>(record: &'static str, body: &T, out: &mut impl Write) -> io::Result<()> {
    serde_json::to_writer(&mut *out, &Line { record, body })?;
    writeln!(out)
}
