//! `dropscope analyze`: the table, JSON or NDJSON of every connection and why it ended.

use crate::cli::{AnalyzeArgs, Format};
use dropscope::Analysis;
use dropscope::join::{self, VantagePoint};
use dropscope::publish::{PublishOptions, Publisher, RecordKind};
use dropscope::report::{self, present};
use std::io::{self, Write};
use std::path::Path;
use std::process::ExitCode;

/// Runs `dropscope analyze`.
pub fn analyze(args: AnalyzeArgs) -> ExitCode {
    if args.join {
        return joined(&args);
    }
    let cfg = super::config(&args.input, args.packets || args.timeline);
    let analysis = match super::run(&args.input, cfg) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let mut p = super::presentation(&args.input, args.vocabulary.into());
    p.drop_timelines = args.format != Format::Text && !args.timeline && !args.packets;
    let mut shown = present(&analysis, &p);
    let packets = (args.packets && args.format != Format::Text).then(|| {
        let rows = packet_values(&shown);
        if !args.timeline {
            let owned = shown.to_mut();
            owned
                .connections
                .iter_mut()
                .for_each(|c| c.connection.timeline.clear());
        }
        rows
    });
    let threads = super::threads(&args.input);
    let mut out = io::BufWriter::new(io::stdout().lock());
    let written = match (args.format, args.packets) {
        (Format::Text, true) => report::write_packets(&shown, &mut out),
        (Format::Text, false) => report::write_table(&shown, args.all, &mut out),
        (Format::Json, _) => report::write_json(&shown, packets.as_deref(), threads, &mut out),
        (Format::Ndjson, _) => report::write_ndjson(&shown, packets.as_deref(), threads, &mut out),
    };
    let code = match written.and_then(|_| out.flush()) {
        Err(e) => super::output_failed(&e).unwrap_or(ExitCode::SUCCESS),
        Ok(()) => super::warn_and_exit(&analysis),
    };
    let code = match args.publish.options() {
        Some(opts) => publish(opts, &shown).unwrap_or(code),
        None => code,
    };
    // The process ends here: its exit frees the records at once, where dropping them one
    // by one took 15 ms of a one-second analysis (18,000 connections).
    std::mem::forget(shown);
    std::mem::forget(analysis);
    code
}

/// The `--packets` rows as JSON values, taken before the timelines they come from are
/// dropped from the output.
fn packet_values(a: &Analysis) -> Vec<serde_json::Value> {
    report::packet_rows(a)
        .iter()
        .filter_map(|r| serde_json::to_value(r).ok())
        .collect()
}

/// Sends the connection records and findings to NATS, then tells on stderr how many were
/// published; `Some` exit code when the publisher could not start.
fn publish(opts: PublishOptions, shown: &Analysis) -> Option<ExitCode> {
    let mut publisher = match Publisher::start(opts) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("dropscope: publishing: {e}");
            return Some(ExitCode::from(1));
        }
    };
    for c in &shown.connections {
        publisher.send(RecordKind::Connection, c.end, c);
    }
    let last_end = shown.connections.iter().map(|c| c.end).max();
    for f in &shown.findings {
        let time = f.time.or(last_end).unwrap_or_default();
        publisher.send(RecordKind::Finding, time, f);
    }
    let url = publisher.url().to_string();
    let t = publisher.finish();
    eprintln!(
        "dropscope: published {} of {} records to {url}; {} not published",
        t.published, t.emitted, t.lost
    );
    None
}

/// `analyze --join`: each input is one vantage point, analysed alone; then joined.
fn joined(args: &AnalyzeArgs) -> ExitCode {
    let p = super::presentation(&args.input, args.vocabulary.into());
    let mut points = Vec::new();
    for path in &args.input.captures {
        let mut one = args.input.clone();
        one.captures = vec![path.clone()];
        let analysis = match super::run(&one, super::config(&one, false)) {
            Ok(a) => a,
            Err(code) => return code,
        };
        let mut name = vantage_name(path);
        if points.iter().any(|v: &VantagePoint| v.name == name) {
            name = format!("{name}#{}", points.len() + 1);
        }
        let analysis = present(&analysis, &p).into_owned();
        points.push(VantagePoint { name, analysis });
    }
    let joined = join::join(&points);
    let mut out = io::BufWriter::new(io::stdout().lock());
    let written = match args.format {
        Format::Text => join::write_joined_table(&joined, &mut out),
        Format::Json => join::write_joined_json(&joined, &mut out),
        Format::Ndjson => join::write_joined_ndjson(&joined, &mut out),
    };
    if let Err(e) = written.and_then(|_| out.flush()) {
        return super::output_failed(&e).unwrap_or(ExitCode::SUCCESS);
    }
    points
        .iter()
        .map(|v| super::warn_and_exit(&v.analysis))
        .find(|code| *code != ExitCode::SUCCESS)
        .unwrap_or(ExitCode::SUCCESS)
}

/// A vantage point's name: its file's name without the capture extensions.
fn vantage_name(path: &Path) -> String {
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let mut name = name.as_str();
    for ext in [".gz", ".pcapng", ".pcap", ".cap"] {
        name = name.strip_suffix(ext).unwrap_or(name);
    }
    if name == "-" {
        "stdin".into()
    } else {
        name.to_string()
    }
}
