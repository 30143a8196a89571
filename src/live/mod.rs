//! The live driver: libpcap on an interface feeds the same `Analyzer` that reads files; tokio
//! runs the clock that calls `advance`, the event and report sinks, the metrics endpoint and
//! the signals. Only this module reads the wall clock.

pub mod capture;
mod clock;
mod driver;
pub mod events;
pub mod metrics;
pub mod ring;
pub mod stream;
pub mod window;

pub use capture::{CaptureError, CaptureSpec};
pub use stream::StreamSpec;

use crate::engine::{Analyzer, Config};
use crate::time::{Span, Timestamp};
use capture::Live;
use driver::Driver;
use metrics::Metrics;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How often the clock ticks `advance`, checks keepalives and emits retired connections.
const TICK: Duration = Duration::from_millis(250);
/// How often idle flows are looked for.
const IDLE_SWEEP: Duration = Duration::from_secs(30);
/// After a stop signal, how long the capture thread's last batches are waited for.
const DRAIN_WAIT: Duration = Duration::from_secs(2);

/// Everything `live` does besides the analysis itself.
pub struct LiveOptions {
    /// What to capture.
    pub capture: CaptureSpec,
    /// Where events go (stdout when `None`).
    pub events: Option<PathBuf>,
    /// Window of the periodic report.
    pub report_every: Duration,
    /// Where periodic reports go (none written when `None`).
    pub report_dir: Option<PathBuf>,
    /// Where the metrics endpoint listens.
    pub metrics: Option<SocketAddr>,
    /// Where `--keep` writes the packets around each drop.
    pub keep_dir: Option<PathBuf>,
    /// Seconds kept before a drop.
    pub keep: Span,
    /// Byte cap of the packet ring.
    pub ring_bytes: usize,
    /// Flows with no packet for this long are retired.
    pub flow_idle: Span,
    /// TLS key logs, re-read as they grow.
    pub keylogs: Vec<PathBuf>,
    /// Where records are published (`--publish`), if anywhere.
    pub publish: Option<crate::publish::PublishOptions>,
}

/// Why `live` stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// The capture could not start.
    #[error(transparent)]
    Capture(#[from] CaptureError),
    /// An output (events, report, kept packets, metrics socket) failed.
    #[error("{what}: {source}")]
    Output {
        /// Which output.
        what: String,
        /// The error.
        source: std::io::Error,
    },
}

impl LiveError {
    fn output(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> LiveError {
        let what = what.into();
        move |source| LiveError::Output { what, source }
    }
}

/// The wall clock as a capture timestamp (libpcap stamps packets with the same clock).
pub fn wall_now() -> Timestamp {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp::from_parts(d.as_secs() as i64, i64::from(d.subsec_nanos()))
}

/// Captures (or reads a stream) and analyzes until SIGINT or SIGTERM (or the capture or
/// stream ends), then flushes events, the final report and kept packets.
pub fn run(opts: LiveOptions, cfg: Config) -> Result<(), LiveError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(LiveError::output("tokio runtime"))?;
    runtime.block_on(run_async(opts, cfg))
}

async fn run_async(opts: LiveOptions, cfg: Config) -> Result<(), LiveError> {
    let mut live = match &opts.capture.read {
        Some(stream) => stream::start(&opts.capture, stream)?,
        None => capture::start(&opts.capture)?,
    };
    let metrics = Arc::new(Metrics::new());
    if let Some(addr) = opts.metrics {
        let bound = metrics::serve(addr, metrics.clone())
            .await
            .map_err(LiveError::output(format!("metrics on {addr}")))?;
        eprintln!("dropscope: metrics on http://{bound}/metrics");
    }
    let mut driver = Driver::new(&opts, Analyzer::new(cfg), metrics, live.linktype)?;
    let doing = if opts.capture.read.is_some() {
        "reading"
    } else {
        "capturing on"
    };
    eprintln!(
        "dropscope: {doing} {} ({})",
        opts.capture.interface, opts.capture.filter
    );
    let result = main_loop(&mut driver, &mut live, &opts).await;
    live.stop();
    drain_rest(&mut driver, &mut live).await;
    live.join();
    let finished = driver.finish(&live.counters);
    result.and(finished)
}

async fn main_loop(d: &mut Driver, live: &mut Live, opts: &LiveOptions) -> Result<(), LiveError> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut sigterm = signal(SignalKind::terminate()).map_err(LiveError::output("SIGTERM"))?;
    let mut sigint = signal(SignalKind::interrupt()).map_err(LiveError::output("SIGINT"))?;
    let mut tick = tokio::time::interval(TICK);
    let mut idle = tokio::time::interval(IDLE_SWEEP);
    let start = tokio::time::Instant::now() + opts.report_every;
    let mut report = tokio::time::interval_at(start, opts.report_every);
    loop {
        tokio::select! {
            batch = live.batches.recv() => match batch {
                Some(b) => d.batch(&b),
                None => return Ok(()),
            },
            _ = tick.tick() => d.tick(d.now(), &live.counters)?,
            _ = idle.tick() => d.evict_idle(),
            _ = report.tick() => d.report_window()?,
            _ = sigterm.recv() => return Ok(()),
            _ = sigint.recv() => return Ok(()),
        }
    }
}

/// Takes the batches the capture thread still had, for a bounded time.
async fn drain_rest(d: &mut Driver, live: &mut Live) {
    let rest = async {
        while let Some(b) = live.batches.recv().await {
            d.batch(&b);
        }
    };
    let _ = tokio::time::timeout(DRAIN_WAIT, rest).await;
}
