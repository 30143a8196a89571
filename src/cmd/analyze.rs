//! `dropscope analyze`: the table, JSON or NDJSON of every connection and why it ended.

use crate::cli::{AnalyzeArgs, Format};
use dropscope::Analysis;
use dropscope::publish::{PublishOptions, Publisher, RecordKind};
use dropscope::report::{self, present};
use std::io::{self, Write};
use std::process::ExitCode;

/// Runs `dropscope analyze`.
pub fn analyze(args: AnalyzeArgs) -> ExitCode {
    let cfg = super::config(&args.input, args.packets || args.timeline);
    let analysis = match super::run(&args.input, cfg) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let mut p = super::presentation(&args.input, args.vocabulary.into());
    p.drop_timelines = args.format != Format::Text && !args.timeline;
    let shown = present(&analysis, &p);
    let mut out = io::BufWriter::new(io::stdout().lock());
    let written = match (args.format, args.packets) {
        (Format::Text, true) => report::write_packets(&shown, &mut out),
        (Format::Text, false) => report::write_table(&shown, args.all, &mut out),
        (Format::Json, _) => report::write_json(&shown, &mut out),
        (Format::Ndjson, _) => report::write_ndjson(&shown, &mut out),
    };
    let code = match written.and_then(|_| out.flush()) {
        Err(e) => super::output_failed(&e).unwrap_or(ExitCode::SUCCESS),
        Ok(()) => super::warn_and_exit(&analysis),
    };
    match args.publish.options() {
        Some(opts) => publish(opts, &shown).unwrap_or(code),
        None => code,
    }
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
