//! JSON and NDJSON views.

use super::json_out;
use crate::engine::{Analysis, AnalysisView};
use serde::Serialize;
use std::io::{self, Write};

/// The whole analysis as one JSON object; with `packets` (`--packets`), every MQTT packet
/// too, in frame order, under `"packets"`. With `threads` above one, the connections are
/// written on that many threads (the same bytes).
pub fn write_json(
    a: &Analysis,
    packets: Option<&[serde_json::Value]>,
    threads: usize,
    out: &mut impl Write,
) -> io::Result<()> {
    #[derive(Serialize)]
    struct WithPackets<'a, C> {
        #[serde(flatten)]
        analysis: AnalysisView<'a, C>,
        packets: &'a [serde_json::Value],
    }
    match (packets, threads > 1) {
        (Some(packets), true) => json_out::to_writer_pretty_spliced(
            &mut *out,
            &WithPackets {
                analysis: a.with_connections(json_out::Hole),
                packets,
            },
            &a.connections,
            threads,
        )?,
        (Some(packets), false) => json_out::to_writer_pretty(
            &mut *out,
            &WithPackets {
                analysis: a.with_connections(&a.connections),
                packets,
            },
        )?,
        (None, true) => json_out::to_writer_pretty_spliced(
            &mut *out,
            &a.with_connections(json_out::Hole),
            &a.connections,
            threads,
        )?,
        (None, false) => json_out::to_writer_pretty(&mut *out, a)?,
    }
    writeln!(out)
}

/// One NDJSON line: the record's kind, then its fields.
#[derive(Serialize)]
struct Line<'a, T: Serialize> {
    record: &'static str,
    #[serde(flatten)]
    body: &'a T,
}

/// One JSON object per line: with `packets` (`--packets`) each MQTT packet first
/// (`"record": "packet"`, in frame order), then each connection (`"record": "connection"`),
/// each finding (`"record": "finding"`) and the summary (`"record": "summary"`). With
/// `threads` above one, the connections' lines are written on that many threads (the same
/// bytes).
pub fn write_ndjson(
    a: &Analysis,
    packets: Option<&[serde_json::Value]>,
    threads: usize,
    out: &mut impl Write,
) -> io::Result<()> {
    let packet = |body| Line {
        record: "packet",
        body,
    };
    json_out::to_writer_lines(&mut *out, packets.into_iter().flatten().map(packet))?;
    let connection = |body| Line {
        record: "connection",
        body,
    };
    if threads > 1 {
        let lines: Vec<_> = a.connections.iter().map(connection).collect();
        json_out::to_writer_lines_spliced(&mut *out, &lines, threads)?;
    } else {
        json_out::to_writer_lines(&mut *out, a.connections.iter().map(connection))?;
    }
    let finding = |body| Line {
        record: "finding",
        body,
    };
    json_out::to_writer_lines(&mut *out, a.findings.iter().map(finding))?;
    json_out::to_writer_lines(
        &mut *out,
        [Line {
            record: "summary",
            body: &a.summary,
        }],
    )
}
