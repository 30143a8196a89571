//! `dropscope fleet`: the fleet correlator over the JetStream stream or saved records;
//! findings as JSON lines on stdout, metrics, periodic reports.

use crate::cli::FleetArgs;
use dropscope::fleet::consume::{self, ConsumeOptions};
use dropscope::fleet::metrics::FleetMetrics;
use dropscope::fleet::{Correlator, FleetFinding, Partition, Settings, files, record, report};
use dropscope::live::metrics;
use dropscope::time::Span;
use futures_util::StreamExt;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// Records between two expiry sweeps when reading files (the stream sweeps on a timer).
const SWEEP_EVERY: u64 = 4096;
/// How often the stream's state is swept.
const SWEEP_TICK: Duration = Duration::from_secs(5);

fn span(d: Duration) -> Span {
    Span::from_secs_f64(d.as_secs_f64())
}

fn settings(args: &FleetArgs) -> Settings {
    Settings {
        clock_slack: span(args.clock_slack),
        state_ttl: span(args.state_ttl),
        max_clients: args.max_clients.max(1),
        ..Settings::default()
    }
}

/// Runs `dropscope fleet`.
pub fn fleet(args: FleetArgs) -> ExitCode {
    if args.of == 0 || args.instance >= args.of {
        eprintln!("dropscope: --instance must be below --of (instances 0 to N-1)");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("dropscope: tokio runtime: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(run(args))
}

/// What every record goes through: the correlator, stdout, the reports.
struct Sink {
    correlator: Correlator,
    out: io::BufWriter<io::Stdout>,
    part: Partition,
    report_dir: Option<PathBuf>,
}

impl Sink {
    fn record(&mut self, line: &[u8], default_probe: Option<&str>) -> io::Result<()> {
        match record::parse(line, default_probe) {
            Ok(rec) => {
                let found = self.correlator.push(rec, line);
                self.print(&found)
            }
            Err(_) => {
                self.correlator.bad_record();
                Ok(())
            }
        }
    }

    fn print(&mut self, found: &[FleetFinding]) -> io::Result<()> {
        for f in found {
            serde_json::to_writer(&mut self.out, f)?;
            self.out.write_all(b"\n")?;
        }
        if !found.is_empty() {
            self.out.flush()?;
        }
        Ok(())
    }

    fn report(&mut self) -> io::Result<()> {
        match &self.report_dir {
            Some(dir) => report::write(dir, self.part, &mut self.correlator).map(|_| ()),
            None => Ok(()),
        }
    }

    fn finish(&mut self) -> io::Result<()> {
        self.correlator.finish();
        self.out.flush()?;
        self.report()
    }
}

async fn run(args: FleetArgs) -> ExitCode {
    let part = Partition {
        instance: args.instance,
        of: args.of,
    };
    let metrics = Arc::new(FleetMetrics::new());
    if let Some(addr) = args.metrics {
        match metrics::serve(addr, metrics.clone()).await {
            Ok(bound) => eprintln!("dropscope: fleet metrics on http://{bound}/metrics"),
            Err(e) => {
                eprintln!("dropscope: metrics on {addr}: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let mut sink = Sink {
        correlator: Correlator::new(settings(&args), part, metrics),
        out: io::BufWriter::new(io::stdout()),
        part,
        report_dir: args.report_dir.clone(),
    };
    let result = match &args.nats {
        Some(url) => from_stream(&args, url, &mut sink).await,
        None => from_files(&args, &mut sink),
    };
    match result.and_then(|code| sink.finish().map(|_| code)) {
        Ok(code) => code,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dropscope: {e}");
            ExitCode::from(1)
        }
    }
}

/// The files, each with its probe id: the i-th `--probe-id`, else the file's stem.
fn tagged_files(args: &FleetArgs) -> Vec<(PathBuf, String)> {
    args.files
        .iter()
        .enumerate()
        .map(|(i, path)| {
            let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned());
            let probe = args.probe_ids.get(i).cloned().or(stem).unwrap_or_default();
            (path.clone(), probe)
        })
        .collect()
}

fn from_files(args: &FleetArgs, sink: &mut Sink) -> io::Result<ExitCode> {
    let files = tagged_files(args);
    if let Some((missing, _)) = files.iter().find(|(p, _)| !p.exists()) {
        eprintln!("dropscope: {}: no such file", missing.display());
        return Ok(ExitCode::from(3));
    }
    let mut failed: Option<io::Error> = None;
    let mut n = 0u64;
    let bad = std::cell::Cell::new(0u64);
    files::read_merged(
        &files,
        &mut |rec, raw| {
            if failed.is_some() {
                return;
            }
            let found = sink.correlator.push(rec, raw);
            n += 1;
            if n.is_multiple_of(SWEEP_EVERY) {
                sink.correlator.sweep();
            }
            if let Err(e) = sink.print(&found) {
                failed = Some(e);
            }
        },
        &mut || bad.set(bad.get() + 1),
    )?;
    for _ in 0..bad.get() {
        sink.correlator.bad_record();
    }
    sink.correlator.sweep();
    failed.map_or(Ok(ExitCode::SUCCESS), Err)
}

async fn from_stream(args: &FleetArgs, url: &str, sink: &mut Sink) -> io::Result<ExitCode> {
    use tokio::signal::unix::{SignalKind, signal};
    let opts = ConsumeOptions {
        url: url.to_string(),
        stream: args.stream.clone(),
        durable: format!("{}-{}-of-{}", args.consumer, args.instance, args.of),
    };
    let (consumer, pending) = match consume::open(&opts).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("dropscope: NATS {url}, stream {}: {e}", opts.stream);
            return Ok(ExitCode::from(3));
        }
    };
    if args.drain && pending == 0 {
        return Ok(ExitCode::SUCCESS);
    }
    let mut messages = consumer.messages().await.map_err(io::Error::other)?;
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sigint = signal(SignalKind::interrupt())?;
    let start = tokio::time::Instant::now() + args.report_every;
    let mut report = tokio::time::interval_at(start, args.report_every);
    let mut sweep = tokio::time::interval(SWEEP_TICK);
    loop {
        tokio::select! {
            m = messages.next() => match m {
                Some(Ok(msg)) => {
                    sink.record(&msg.payload, None)?;
                    let last = msg.info().is_ok_and(|i| i.pending == 0);
                    // An unacknowledged record is delivered again: the correlator's
                    // takeovers and bursts count each connection once.
                    let _ = msg.ack().await;
                    if args.drain && last {
                        return Ok(ExitCode::SUCCESS);
                    }
                }
                Some(Err(e)) => eprintln!("dropscope: reading the stream: {e}"),
                None => return Ok(ExitCode::SUCCESS),
            },
            _ = report.tick() => sink.report()?,
            _ = sweep.tick() => sink.correlator.sweep(),
            _ = sigterm.recv() => return Ok(ExitCode::SUCCESS),
            _ = sigint.recv() => return Ok(ExitCode::SUCCESS),
        }
    }
}
