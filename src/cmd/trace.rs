//! `dropscope trace`: one device's connect, disconnect and close history.

use crate::cli::TraceArgs;
use dropscope::report::{self, present};
use dropscope::time::Timestamp;
use dropscope::verdict::Vocabulary;
use std::io::{self, Write};
use std::process::ExitCode;

/// Runs `dropscope trace`.
pub fn trace(args: TraceArgs) -> ExitCode {
    let analysis = match super::run(&args.input, super::config(&args.input, false)) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let shown = present(
        &analysis,
        &super::presentation(&args.input, Vocabulary::Mqtt),
    );
    let at = |s: f64| Timestamp((s * 1e9) as i64);
    let rows = report::trace::trace(
        &shown,
        &args.client_id,
        args.since.map(at),
        args.until.map(at),
    );
    let mut out = io::BufWriter::new(io::stdout().lock());
    let written = if args.json {
        serde_json::to_writer_pretty(&mut out, &rows)
            .map_err(io::Error::from)
            .and_then(|_| writeln!(out))
    } else {
        report::trace::write_trace(&rows, &mut out)
    };
    match written.and_then(|_| out.flush()) {
        Err(e) => super::output_failed(&e).unwrap_or_else(|| super::warn_and_exit(&analysis)),
        Ok(()) => super::warn_and_exit(&analysis),
    }
}
