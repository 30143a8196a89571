//! `dropscope live`: options, then the library's live driver; errors mapped to exit codes.

use clap::Args;
use dropscope::Config;
use dropscope::live::{self, CaptureError, CaptureSpec, LiveError, LiveOptions};
use dropscope::time::Span;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Exit codes of `live`.
pub const LIVE_EXIT_CODES: &str = "\
Exit codes:
  0  stopped by SIGINT/SIGTERM (or the capture ended); events, report and kept packets flushed
  1  an output could not be written
  2  bad arguments (unknown interface, bad filter, bad address)
  3  no permission to capture: run as root or grant the binary CAP_NET_RAW";

/// `dropscope live`.
#[derive(Args, Debug)]
#[command(after_help = LIVE_EXIT_CODES)]
pub struct LiveArgs {
    /// Interface to capture on.
    #[arg(short = 'i', long = "interface")]
    pub interface: String,
    /// BPF filter (default: tcp port 1883 or tcp port 8883, plus every --port and --tls-port).
    #[arg(long)]
    pub filter: Option<String>,
    /// Which ports carry MQTT.
    #[command(flatten)]
    pub ports: crate::cli::PortArgs,
    /// Write events (NDJSON) to this file instead of stdout.
    #[arg(long, value_name = "PATH")]
    pub events: Option<PathBuf>,
    /// Length of a report window (e.g. 30s, 5m, 1h).
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub report_every: Duration,
    /// Directory for the JSON report of each window and the final one.
    #[arg(long, value_name = "DIR")]
    pub report_dir: Option<PathBuf>,
    /// Serve Prometheus metrics on this address (e.g. 127.0.0.1:9883).
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<SocketAddr>,
    /// Keep recent packets and write each dropped connection's last seconds as a pcap here.
    #[arg(long, value_name = "DIR")]
    pub keep: Option<PathBuf>,
    /// Seconds of packets kept before a drop.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub keep_seconds: Duration,
    /// Byte cap of the packet ring behind --keep.
    #[arg(long, default_value_t = 64 << 20)]
    pub ring_bytes: usize,
    /// libpcap buffer size, bytes.
    #[arg(long, default_value_t = 16 << 20)]
    pub buffer_size: i32,
    /// Bytes captured per packet.
    #[arg(long, default_value_t = 65535)]
    pub snaplen: i32,
    /// Most TCP flows tracked at once.
    #[arg(long, default_value_t = 200_000)]
    pub max_flows: usize,
    /// Out-of-order bytes buffered per flow direction.
    #[arg(long, default_value_t = 256 * 1024)]
    pub reassembly_cap: usize,
    /// Flows with no packet for this long are retired (judged and forgotten).
    #[arg(long, default_value = "15m", value_parser = parse_duration)]
    pub flow_idle: Duration,
    /// A closed flow waits this long for its last packets before it is judged.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub linger: Duration,
}

/// Parses `30s`, `5m`, `1h`, `250ms` or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().map_err(|_| format!("not a duration: {s:?}"))?;
    let secs = match unit {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => {
            return Err(format!(
                "unknown unit {unit:?} in {s:?} (use ms, s, m or h)"
            ));
        }
    };
    if secs <= 0.0 || !secs.is_finite() {
        return Err(format!("duration must be positive: {s:?}"));
    }
    Ok(Duration::from_secs_f64(secs))
}

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
    cfg.timeline = LIVE_TIMELINE;
    cfg
}

fn options(args: &LiveArgs) -> LiveOptions {
    LiveOptions {
        capture: CaptureSpec {
            interface: args.interface.clone(),
            filter: args.filter.clone().unwrap_or_else(|| default_filter(args)),
            buffer_size: args.buffer_size,
            snaplen: args.snaplen,
        },
        events: args.events.clone(),
        report_every: args.report_every,
        report_dir: args.report_dir.clone(),
        metrics: args.metrics,
        keep_dir: args.keep.clone(),
        keep: span(args.keep_seconds),
        ring_bytes: args.ring_bytes,
        flow_idle: span(args.flow_idle),
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
        LiveError::Capture(_) => ExitCode::from(2),
        LiveError::Output { .. } => ExitCode::from(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("0s").is_err());
    }
}
