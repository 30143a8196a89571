//! `dropscope analyze`: the table, JSON or NDJSON of every connection and why it ended.

use crate::cli::{AnalyzeArgs, Format};
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
    match written.and_then(|_| out.flush()) {
        Err(e) => super::output_failed(&e).unwrap_or(ExitCode::SUCCESS),
        Ok(()) => super::warn_and_exit(&analysis),
    }
}
