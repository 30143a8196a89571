//! The `dropscope` command: parse arguments, run the library, map errors to exit codes.

mod cli;
mod live_cmd;
mod report_cmd;

use clap::Parser;
use cli::{AnalyzeArgs, Cli, Command, Format, InputArgs, TraceArgs};
use dropscope::source::{self, SourceError, Timeline};
use dropscope::{Analysis, Analyzer, Config};
use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Analyze(args) => analyze(args),
        Command::Trace(args) => trace(args),
        Command::Report(args) => report_cmd::report(args),
        Command::Live(args) => live_cmd::live(args),
    }
}

/// The engine configuration the input options ask for.
pub fn config(input: &InputArgs, full_timeline: bool) -> Config {
    let mut cfg = Config::default();
    input.ports.apply(&mut cfg);
    cfg.keep_usernames = input.show_usernames;
    cfg.max_flows = input.max_flows.max(1);
    cfg.reassembly_cap = input.reassembly_cap;
    cfg.max_packet = input.max_packet;
    cfg.max_connections = input.max_connections;
    // Timelines are for views that draw or list packets; verdicts never read them, so
    // without such a view none is kept and memory stays with the connection records.
    cfg.timeline = if full_timeline {
        (usize::MAX, 0)
    } else {
        (0, 0)
    };
    cfg
}

/// Reads the inputs through the engine; `Err` carries the exit code already reported.
pub fn run(input: &InputArgs, cfg: Config) -> Result<Analysis, ExitCode> {
    let paths = source::expand_inputs(&input.captures).map_err(|e| fail(&e))?;
    let mut timeline = Timeline::open(&paths, input.filter.as_deref()).map_err(|e| fail(&e))?;
    let mut analyzer = Analyzer::new(cfg);
    let progress = progress_bar(&paths);
    let mut seen = 0u64;
    timeline.for_each(|frame| {
        analyzer.push(&frame);
        seen += frame.data.len() as u64 + 16;
        if let Some(p) = &progress
            && seen >= 1 << 20
        {
            p.inc(seen);
            seen = 0;
        }
    });
    if let Some(p) = progress {
        p.finish_and_clear();
    }
    let names = paths.iter().map(|p| p.display().to_string()).collect();
    let warnings = timeline.warnings().to_vec();
    let mut analysis = analyzer.finish(names, warnings, timeline.frames_read());
    if input.anonymize {
        let key = match &input.anonymize_key {
            Some(k) => k.as_bytes().to_vec(),
            None => random_key().to_vec(),
        };
        dropscope::report::anonymize::anonymize(&mut analysis, &key);
    }
    Ok(analysis)
}

/// A key for `--anonymize` without `--anonymize-key`: std's per-process random hasher seed.
fn random_key() -> [u8; 8] {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new()
        .hash_one(std::process::id())
        .to_le_bytes()
}

fn progress_bar(paths: &[std::path::PathBuf]) -> Option<indicatif::ProgressBar> {
    let total: u64 = paths
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    if !io::stderr().is_terminal() || total < 64 << 20 {
        return None;
    }
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    Some(bar)
}

fn fail(e: &SourceError) -> ExitCode {
    eprintln!("dropscope: {e}");
    match e {
        SourceError::BadFilter { .. } => ExitCode::from(2),
        _ => ExitCode::from(3),
    }
}

fn analyze(args: AnalyzeArgs) -> ExitCode {
    let cfg = config(&args.input, args.packets || args.timeline);
    let mut analysis = match run(&args.input, cfg) {
        Ok(a) => a,
        Err(code) => return code,
    };
    analysis.apply_vocabulary(args.vocabulary);
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let written = match (args.format, args.packets) {
        (Format::Text, true) => dropscope::report::write_packets(&analysis, &mut out),
        (Format::Text, false) => dropscope::report::write_table(&analysis, &mut out),
        (Format::Json, _) => {
            strip_timelines(&mut analysis, args.timeline);
            dropscope::report::write_json(&analysis, &mut out)
        }
        (Format::Ndjson, _) => {
            strip_timelines(&mut analysis, args.timeline);
            dropscope::report::write_ndjson(&analysis, &mut out)
        }
    };
    if let Err(e) = written.and_then(|_| out.flush()) {
        if e.kind() == io::ErrorKind::BrokenPipe {
            return ExitCode::SUCCESS;
        }
        eprintln!("dropscope: writing output: {e}");
        return ExitCode::from(1);
    }
    warn_and_exit(&analysis)
}

/// Reports read warnings on stderr (whatever the format: stdout may be a file) and gives
/// the exit code: 4 when a capture could be read only in part, else 0.
pub fn warn_and_exit(analysis: &Analysis) -> ExitCode {
    for w in &analysis.warnings {
        eprintln!("dropscope: warning: {w}");
    }
    if analysis.warnings.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(4)
    }
}

fn strip_timelines(a: &mut Analysis, keep: bool) {
    if !keep {
        a.connections.iter_mut().for_each(|c| c.timeline.clear());
    }
}

fn trace(args: TraceArgs) -> ExitCode {
    let analysis = match run(&args.input, config(&args.input, false)) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let at = |s: f64| dropscope::time::Timestamp((s * 1e9) as i64);
    let rows = dropscope::report::trace::trace(
        &analysis,
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
        dropscope::report::trace::write_trace(&rows, &mut out)
    };
    match written.and_then(|_| out.flush()) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
            eprintln!("dropscope: writing output: {e}");
            ExitCode::from(1)
        }
        _ => warn_and_exit(&analysis),
    }
}
