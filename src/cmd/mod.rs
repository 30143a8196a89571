//! One handler per command, and what they share: reading the inputs through the engine,
//! the presentation the options ask for, and the exit code of read warnings.

pub mod analyze;
pub mod fleet;
pub mod live;
pub mod report;
pub mod shell;
pub mod trace;

use crate::cli::InputArgs;
use dropscope::engine;
use dropscope::report::Presentation;
use dropscope::source::{self, ReadWarning, SourceError, Timeline};
use dropscope::transport::tls::decrypt::{KeyLog, KeyLogCounts, KeyLogFile};
use dropscope::verdict::Vocabulary;
use dropscope::{Analysis, Analyzer, Config};
use std::io::{self, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// The engine configuration the input options ask for.
pub fn config(input: &InputArgs, full_timeline: bool) -> Config {
    let mut cfg = Config::default();
    input.ports.apply(&mut cfg);
    cfg.keep_usernames = input.show_usernames;
    cfg.max_flows = input.max_flows.max(1);
    cfg.reassembly_cap = input.reassembly_cap;
    cfg.max_packet = input.max_packet;
    cfg.max_connections = input.max_connections;
    cfg.max_attempts = input.max_attempts;
    // Timelines are for views that draw or list packets; verdicts never read them, so
    // without such a view none is kept and memory stays with the connection records.
    cfg.timeline = if full_timeline {
        (usize::MAX, 0)
    } else {
        (0, 0)
    };
    cfg
}

/// How the input options ask every view to present the analysis.
pub fn presentation(input: &InputArgs, vocabulary: Vocabulary) -> Presentation {
    Presentation {
        vocabulary,
        anonymize_key: input.anonymize.then(|| match &input.anonymize_key {
            Some(k) => k.as_bytes().to_vec(),
            None => random_key().to_vec(),
        }),
        drop_timelines: false,
    }
}

/// Reads the inputs through the engine; `Err` carries the exit code already reported.
pub fn run(input: &InputArgs, cfg: Config) -> Result<Analysis, ExitCode> {
    let paths = source::expand_inputs(&input.captures).map_err(|e| fail(&e))?;
    let mut keys = KeyLog::default();
    load_keys(&mut keys, &input.keylogs, &paths)?;
    let threads = threads_for(input, &paths);
    let filter = input.filter.as_deref();
    if threads > 1 {
        return run_threaded(threads, &paths, filter, cfg, keys);
    }
    let mut analyzer = Analyzer::new(cfg);
    *analyzer.keys_mut() = keys;
    let mut timeline = Timeline::open(&paths, filter).map_err(|e| fail(&e))?;
    read_all(&mut timeline, &mut analyzer, &paths);
    let names = paths.iter().map(|p| p.display().to_string()).collect();
    Ok(analyzer.finish(names, timeline.warnings().to_vec(), timeline.frames_read()))
}

/// With `threads` cores: the flows sharded between engines, which get the frames one of
/// two ways (measured in the README, "Speed and memory"). Input that reads again cheaply is
/// read whole by every engine, so no frame crosses to another core's cache; other input
/// (pcapng, gzip, a named pipe) is read by one thread that hands its frames to the others.
/// A file still being written is read by each engine as far as it has grown when that engine
/// gets there, so its last frames may be seen by some shards and not others.
fn run_threaded(
    threads: usize,
    paths: &[PathBuf],
    filter: Option<&str>,
    cfg: Config,
    keys: KeyLog,
) -> Result<Analysis, ExitCode> {
    let keys = Arc::new(keys);
    let (analyzer, (warnings, frames)) = if source::rereads_cheaply(paths) {
        let read = |analyzer: &mut Analyzer, shard: engine::Shard| {
            // One progress bar: the first shard's read stands for every shard's.
            read_frames(paths, filter, shard.index() == 0, |frame| {
                analyzer.push(&frame)
            })
        };
        engine::analyze_sharded(threads, &cfg, keys, read)
    } else {
        let read = |sink: &mut dyn FnMut(source::Frame<'_>)| read_frames(paths, filter, true, sink);
        let (analyzer, read) = engine::analyze_pipelined(threads - 1, &cfg, keys, read);
        read.map(|read| (analyzer, read))
    }
    .map_err(|e| fail(&e))?;
    let names = paths.iter().map(|p| p.display().to_string()).collect();
    Ok(analyzer.finish(names, warnings, frames))
}

/// Reads every frame of `paths` into `sink`, with a progress bar when `shown`; gives the
/// read warnings and the number of frames read.
fn read_frames(
    paths: &[PathBuf],
    filter: Option<&str>,
    shown: bool,
    mut sink: impl FnMut(source::Frame<'_>),
) -> Result<(Vec<ReadWarning>, u64), SourceError> {
    let mut timeline = Timeline::open(paths, filter)?;
    let mut progress = shown.then(|| ReadProgress::new(paths));
    timeline.for_each(|frame| {
        if let Some(progress) = &mut progress {
            progress.frame(frame.data.len());
        }
        sink(frame);
    });
    if let Some(progress) = progress {
        progress.finish();
    }
    Ok((timeline.warnings().to_vec(), timeline.frames_read()))
}

/// The threads an analysis runs on: [`threads`], but one for standard input or a named
/// pipe, which can be read only once.
fn threads_for(input: &InputArgs, paths: &[PathBuf]) -> usize {
    if paths.iter().any(|p| source::reads_once(p)) {
        return 1;
    }
    threads(input)
}

/// The threads asked for: `--threads`, else the cores available.
pub fn threads(input: &InputArgs) -> usize {
    input
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1)
}

/// Feeds every frame of `timeline` to `analyzer`, with the key logs a pcapng stream carries
/// as they come.
fn read_all(timeline: &mut Timeline, analyzer: &mut Analyzer, paths: &[PathBuf]) {
    let streamed = timeline.take_secrets();
    let mut streamed_keys = KeyLogCounts::default();
    let mut progress = ReadProgress::new(paths);
    timeline.for_each(|frame| {
        if let Some(rx) = &streamed {
            for text in rx.try_iter() {
                streamed_keys += analyzer.keys_mut().add_dsb(&text);
            }
        }
        analyzer.push(&frame);
        progress.frame(frame.data.len());
    });
    progress.finish();
    say_skipped("in standard input", streamed_keys);
}

/// The progress bar of a long read on a terminal, advanced by each frame's bytes (and its
/// 16-byte record header) a megabyte at a time.
struct ReadProgress {
    bar: Option<indicatif::ProgressBar>,
    seen: u64,
}

impl ReadProgress {
    fn new(paths: &[PathBuf]) -> ReadProgress {
        ReadProgress {
            bar: progress_bar(paths),
            seen: 0,
        }
    }

    fn frame(&mut self, captured: usize) {
        self.seen += captured as u64 + 16;
        if let Some(bar) = &self.bar
            && self.seen >= 1 << 20
        {
            bar.inc(self.seen);
            self.seen = 0;
        }
    }

    fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Fills the key log from the `--keylog` files and the captures' own secrets (pcapng
/// Decryption Secrets Blocks, which need no flag); says on stderr what was skipped.
pub fn load_keys(
    keys: &mut KeyLog,
    files: &[PathBuf],
    captures: &[PathBuf],
) -> Result<(), ExitCode> {
    for path in files {
        let mut file = KeyLogFile::new(path);
        let mut n = file.read_new(keys).map_err(|e| {
            eprintln!("dropscope: key log {}: {e}", path.display());
            ExitCode::from(2)
        })?;
        n += file.finish(keys);
        say_skipped(&path.display().to_string(), n);
    }
    // Standard input is read once: its secrets come with its frames (see `run`).
    for c in captures.iter().filter(|c| c.as_os_str() != source::STDIN) {
        let mut n = KeyLogCounts::default();
        // An unreadable capture is reported by the capture reader.
        let _ = source::pcapng_tls_key_logs(c, &mut |text| n += keys.add_dsb(text));
        say_skipped(&format!("in {}", c.display()), n);
    }
    Ok(())
}

/// Tells about key log lines that were skipped for being malformed.
pub fn say_skipped(name: &str, n: KeyLogCounts) {
    if n.bad > 0 {
        eprintln!(
            "dropscope: key log {name}: {} malformed lines skipped ({} used)",
            n.bad, n.used
        );
    }
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
        SourceError::BadFilter { .. } | SourceError::BadInput(_) => ExitCode::from(2),
        _ => ExitCode::from(3),
    }
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

/// The exit code of an output error: a closed pipe (`| head`) ends quietly.
pub fn output_failed(e: &io::Error) -> Option<ExitCode> {
    if e.kind() == io::ErrorKind::BrokenPipe {
        return None;
    }
    eprintln!("dropscope: writing output: {e}");
    Some(ExitCode::from(1))
}
