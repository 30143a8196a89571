//! JSON and NDJSON views.

use super::json_out;
use crate::engine::Analysis;
use serde::Serialize;
use std::io::{self, Write};

/// The whole analysis as one JSON object; with `packets` (`--packets`), every MQTT packet
/// too, in frame order, under `"packets"`.
pub fn write_json(
    a: &Analysis,
    packets: Option<&[serde_json::Value]>,
    out: &mut impl Write,
) -> io::Result<()> {
    #[derive(Serialize)]
    struct WithPackets<'a> {
        #[serde(flatten)]
        analysis: &'a Analysis,
        packets: &'a [serde_json::Value],
    }
    match packets {
        Some(packets) => json_out::to_writer_pretty(
            &mut *out,
            &WithPackets {
                analysis: a,
                packets,
            },
        )?,
        None => json_out::to_writer_pretty(&mut *out, a)?,
    }
    writeln!(out)
}

#[derive(Serialize)]
struct Line<'a, T: Serialize> {
    record: &'static str,
    #[serde(flatten)]
    body: &'a T,
}

/// One JSON object per line: with `packets` (`--packets`) each MQTT packet first
/// (`"record": "packet"`, in frame order), then each connection (`"record": "connection"`),
/// each finding (`"record": "finding"`) and the summary (`"record": "summary"`).
pub fn write_ndjson(
    a: &Analysis,
    packets: Option<&[serde_json::Value]>,
    out: &mut impl Write,
) -> io::Result<()> {
    for p in packets.into_iter().flatten() {
        line(out, "packet", p)?;
    }
    for c in &a.connections {
        line(out, "connection", c)?;
    }
    for f in &a.findings {
        line(out, "finding", f)?;
    }
    line(out, "summary", &a.summary)
}

fn line<T: Serialize>(out: &mut impl Write, record: &'static str, body: &T) -> io::Result<()> {
    json_out::to_writer(&mut *out, &Line { record, body })?;
    writeln!(out)
}
