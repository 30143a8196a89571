//! `dropscope live`: options, then the library's live driver; errors mapped to exit codes.

use crate::cli::LiveArgs;
use dropscope::Config;
use dropscope::live::{self, CaptureError, CaptureSpec, LiveError, LiveOptions, StreamSpec};
use dropscope::source::SourceError;
use dropscope::time::Span;
use std::process::ExitCode;
use std::time::Duration;

fn default_filter(args: &LiveArgs) -> String {
    let mut ports = vec![1883, 8883];
    ports.extend(&args.ports.mqtt);
    ports.extend(&args.ports.tls);
    ports.dedup();
    let terms: Vec<String> = ports.iter().map(|p| format!("tcp port {p}")).collect();
    terms.join(" or ")
}

fn span(d: Duration) -> Span {
    Span::from_secs_f64(d.as_secs_f64())
}

/// Timeline entries kept per connection from its start and before its end. Verdicts read
/// facts, not the timeline; a window's report only draws it, so live keeps a short one and a
/// window of many connections stays small.
const LIVE_TIMELINE: (usize, usize) = (16, 32);

fn config(args: &LiveArgs) -> Config {
    let mut cfg = Config::default();
    args.ports.apply(&mut cfg);
    cfg.max_flows = args.max_flows.max(1);
    cfg.reassembly_cap = args.reassembly_cap;
    cfg.linger = span(args.linger);
    cfg.judge_half_closed = true;
    cfg.timeline = LIVE_TIMELINE;
    cfg
}

/// What to capture: the interface, or the stream of `--read` (which is filtered only when
/// asked, as `analyze` is).
fn capture(args: &LiveArgs) -> CaptureSpec {
    let read = args.read.as_ref().map(|path| StreamSpec {
        path: path.clone(),
        follow: args.follow,
    });
    let (interface, filter) = match (&read, &args.interface) {
        (Some(r), _) => (
            r.path.display().to_string(),
            args.filter.clone().unwrap_or_default(),
        ),
        (None, interface) => (
            interface.clone().unwrap_or_default(),
            args.filter.clone().unwrap_or_else(|| default_filter(args)),
        ),
    };
    CaptureSpec {
        interface,
        filter,
        buffer_size: args.buffer_size,
        snaplen: args.snaplen,
        read,
    }
}

fn options(args: &LiveArgs) -> LiveOptions {
    LiveOptions {
        capture: capture(args),
        events: args.events.clone(),
        report_every: args.report_every,
        report_dir: args.report_dir.clone(),
        metrics: args.metrics,
        keep_dir: args.keep.clone(),
        keep: span(args.keep_seconds),
        ring_bytes: args.ring_bytes,
        flow_idle: span(args.flow_idle),
        keylogs: args.keylogs.clone(),
        publish: args.publish.options(),
    }
}

/// Runs `dropscope live`.
pub fn live(args: LiveArgs) -> ExitCode {
    match live::run(options(&args), config(&args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => exit_code(&e),
    }
}

fn exit_code(e: &LiveError) -> ExitCode {
    if let LiveError::Output { source, .. } = e
        && source.kind() == std::io::ErrorKind::BrokenPipe
    {
        return ExitCode::SUCCESS;
    }
    eprintln!("dropscope: {e}");
    match e {
        LiveError::Capture(CaptureError::Permission { .. }) => ExitCode::from(3),
        LiveError::Capture(CaptureError::Input(
            SourceError::BadFilter { .. } | SourceError::BadInput(_),
        )) => ExitCode::from(2),
        LiveError::Capture(CaptureError::Input(_)) => ExitCode::from(3),
        LiveError::Capture(_) => ExitCode::from(2),
        LiveError::Output { .. } => ExitCode::from(1),
    }
}
