//! Command-line definitions.

use clap::{Args, Parser, Subcommand, ValueEnum};
use dropscope::verdict::Vocabulary;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Exit codes, as documented in `--help`.
pub const EXIT_CODES: &str = "\
Exit codes:
  0  analysis complete
  1  an output could not be written
  2  bad arguments (unknown option, bad filter)
  3  no analysis: an input is missing or is not a pcap/pcapng capture
  4  analysis complete, but a capture was truncated or corrupt: it covers what could be read";

/// Why did my MQTT connection drop? Reads packet captures and says, per connection, how it
/// ended: network (NAT, loss, resets) or protocol (keepalive, takeover, refusal, shutdown).
#[derive(Parser, Debug)]
#[command(name = "dropscope", version, after_help = EXIT_CODES)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Analyze captures: one table (or JSON) of MQTT connections with why each ended.
    #[command(after_help = EXIT_CODES)]
    Analyze(AnalyzeArgs),
    /// One device's connection history: a row per connect, disconnect and close.
    #[command(after_help = EXIT_CODES)]
    Trace(TraceArgs),
    /// Write SVG timing charts and an index.html for captures.
    #[command(after_help = EXIT_CODES)]
    Report(ReportArgs),
    /// Watch an interface (or a capture stream) live: events as they happen, metrics,
    /// packets kept around drops.
    Live(LiveArgs),
    /// Correlate the records of many probes (from a NATS JetStream stream or saved NDJSON):
    /// takeovers across gateways, mass closes across broker nodes, outages per site.
    Fleet(FleetArgs),
    /// Print a shell completion script: source <(dropscope completions bash), or save it
    /// where the shell looks for completions.
    Completions(CompletionsArgs),
    /// Print the man page (roff: dropscope man | man -l -), or write one page per command
    /// into a directory.
    Man(ManArgs),
}

/// `dropscope completions`.
#[derive(Args, Debug)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `dropscope man`.
#[derive(Args, Debug)]
pub struct ManArgs {
    /// Write dropscope.1 and a dropscope-COMMAND.1 for each command into this directory
    /// (e.g. /usr/local/share/man/man1) instead of printing dropscope.1.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Output formats of `analyze`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A readable table.
    Text,
    /// One JSON object.
    Json,
    /// One JSON object per line.
    Ndjson,
}

/// Whose words name the causes (`--vocabulary`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum VocabularyArg {
    /// The taxonomy's own names.
    Mqtt,
    /// AWS IoT Core `disconnectReason`.
    Aws,
    /// EMQX `reason`.
    Emqx,
    /// ApsaraMQ for MQTT action descriptions.
    Apsara,
}

impl From<VocabularyArg> for Vocabulary {
    fn from(v: VocabularyArg) -> Vocabulary {
        match v {
            VocabularyArg::Mqtt => Vocabulary::Mqtt,
            VocabularyArg::Aws => Vocabulary::Aws,
            VocabularyArg::Emqx => Vocabulary::Emqx,
            VocabularyArg::Apsara => Vocabulary::Apsara,
        }
    }
}

/// Options that choose what is read and how it is judged.
#[derive(Args, Debug, Clone)]
pub struct InputArgs {
    /// Capture files (pcap, pcapng, optionally gzip-compressed), directories of a rotated
    /// capture, or - for standard input (tcpdump -U -w - | dropscope analyze -); all are
    /// merged into one timeline by timestamp.
    #[arg(required = true)]
    pub captures: Vec<PathBuf>,
    /// BPF filter applied by libpcap after frames are numbered (e.g. 'tcp port 1883').
    #[arg(long)]
    pub filter: Option<String>,
    /// Which ports carry MQTT.
    #[command(flatten)]
    pub ports: PortArgs,
    /// TLS key log (NSS format, as SSLKEYLOGFILE writes it) to decrypt MQTT over TLS; may
    /// be given several times. Secrets inside pcapng captures are read without it.
    #[arg(long = "keylog", value_name = "FILE")]
    pub keylogs: Vec<PathBuf>,
    /// Show CONNECT user names (passwords are never read out).
    #[arg(long)]
    pub show_usernames: bool,
    /// Most TCP flows tracked at once.
    #[arg(long, default_value_t = 200_000)]
    pub max_flows: usize,
    /// Out-of-order bytes buffered per flow direction.
    #[arg(long, default_value_t = 256 * 1024)]
    pub reassembly_cap: usize,
    /// Longest MQTT packet reassembled, bytes.
    #[arg(long, default_value_t = 1 << 20)]
    pub max_packet: usize,
    /// Replace client ids, user names and IP addresses in every output by keyed
    /// pseudonyms (consistent within the run), for sharing a report.
    #[arg(long)]
    pub anonymize: bool,
    /// Key for --anonymize, to get the same pseudonyms in several runs (default: a random
    /// key per run).
    #[arg(long, value_name = "KEY", requires = "anonymize")]
    pub anonymize_key: Option<String>,
    /// Most connection records kept; further connections are counted, not kept.
    #[arg(long, default_value_t = 200_000)]
    pub max_connections: usize,
    /// Most records kept of connections never established (SYNs refused, unanswered, or
    /// their SYN-ACK never acknowledged); further ones are counted, not kept.
    #[arg(long, default_value_t = 20_000)]
    pub max_attempts: usize,
    /// Threads that analyze (flows shared out by address; the output is the same for any
    /// number). Default: the cores available. Standard input is read on one.
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
}

/// `dropscope analyze`.
#[derive(Args, Debug)]
pub struct AnalyzeArgs {
    /// The inputs.
    #[command(flatten)]
    pub input: InputArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Name causes in a broker's words.
    #[arg(long, value_enum, default_value_t = VocabularyArg::Mqtt)]
    pub vocabulary: VocabularyArg,
    /// List every MQTT packet (frame, time, connection, direction, type, details).
    #[arg(long)]
    pub packets: bool,
    /// Include each connection's timeline (packets and TCP events) in JSON output.
    #[arg(long)]
    pub timeline: bool,
    /// Text output: print every row in ID order and every finding. Without it, a capture of
    /// more than 50 connections prints the summary first, the findings grouped by kind
    /// (reconnects as one distribution), then 40 rows, drops first.
    #[arg(long)]
    pub all: bool,
    /// Each input (file or directory) is one vantage point of the same traffic (e.g. the
    /// client's gateway and the broker): each is analysed alone, then the same connections
    /// are joined into one verdict from both views (text or JSON).
    #[arg(long, conflicts_with = "packets")]
    pub join: bool,
    /// Publishing the records to NATS.
    #[command(flatten)]
    pub publish: PublishArgs,
}

/// Publishing records to a NATS JetStream stream (`--publish`), for `analyze` and `live`.
#[derive(Args, Debug)]
pub struct PublishArgs {
    /// Also send each connection record, event and finding, tagged with the probe id and
    /// clock, to this NATS server's JetStream (nats://HOST:4222), on the subjects
    /// dropscope.PROBE.connection|event|finding.
    #[arg(long, value_name = "URL")]
    pub publish: Option<String>,
    /// This probe's id in the subjects and records (default: the host name).
    #[arg(long, value_name = "ID")]
    pub probe_id: Option<String>,
    /// JetStream stream to publish into, created if missing (subjects dropscope.>).
    #[arg(
        long,
        value_name = "NAME",
        default_value = "DROPSCOPE",
        requires = "publish"
    )]
    pub publish_stream: String,
    /// Retention of a stream created by this probe: records older than this are dropped.
    #[arg(long, default_value = "7d", value_parser = parse_duration, requires = "publish")]
    pub publish_max_age: Duration,
    /// Size cap of a stream created by this probe, bytes; the oldest records go first.
    #[arg(long, default_value_t = 1 << 30, requires = "publish")]
    pub publish_max_bytes: i64,
    /// Records queued while NATS is slow or away; records beyond are counted as lost.
    #[arg(long, default_value_t = 100_000, requires = "publish")]
    pub publish_queue: usize,
    /// At the end, how long queued records may still take to reach NATS.
    #[arg(long, default_value = "30s", value_parser = parse_duration, requires = "publish")]
    pub publish_wait: Duration,
}

impl PublishArgs {
    /// The publisher's options, when `--publish` is given.
    pub fn options(&self) -> Option<dropscope::publish::PublishOptions> {
        let url = self.publish.clone()?;
        Some(dropscope::publish::PublishOptions {
            url,
            probe: self
                .probe_id
                .clone()
                .unwrap_or_else(dropscope::publish::default_probe_id),
            stream: self.publish_stream.clone(),
            max_age: self.publish_max_age,
            max_bytes: self.publish_max_bytes,
            queue: self.publish_queue,
            wait: self.publish_wait,
        })
    }
}

/// `dropscope fleet`.
#[derive(Args, Debug)]
pub struct FleetArgs {
    /// Saved records to correlate instead of the stream: NDJSON as `analyze --format ndjson`
    /// or `live` writes it, or records saved from the stream.
    #[arg(required_unless_present = "nats", conflicts_with = "nats")]
    pub files: Vec<PathBuf>,
    /// Probe id of the records of each file that carry none, in the order of the files
    /// (default: the file's name without its extension).
    #[arg(long = "probe-id", value_name = "ID")]
    pub probe_ids: Vec<String>,
    /// Read the records from this NATS server's JetStream (nats://HOST:4222).
    #[arg(long, value_name = "URL")]
    pub nats: Option<String>,
    /// The JetStream stream the probes publish into.
    #[arg(long, value_name = "NAME", default_value = "DROPSCOPE")]
    pub stream: String,
    /// Durable consumer name prefix; instance K of N consumes as NAME-K-of-N, so a restarted
    /// instance goes on where it stopped.
    #[arg(long, value_name = "NAME", default_value = "dropscope-fleet")]
    pub consumer: String,
    /// With --nats: stop once every record the stream holds has been read, instead of
    /// following it.
    #[arg(long, requires = "nats")]
    pub drain: bool,
    /// This instance's share: K of --of N (client ids and sites are split by hash).
    #[arg(long, default_value_t = 0)]
    pub instance: u32,
    /// How many instances share the work.
    #[arg(long = "of", default_value_t = 1)]
    pub of: u32,
    /// Serve fleet metrics for Prometheus on this address (e.g. 127.0.0.1:9884).
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<SocketAddr>,
    /// Directory for the periodic fleet reports (fleet-TIME.json and .txt) and the final one.
    #[arg(long, value_name = "DIR")]
    pub report_dir: Option<PathBuf>,
    /// How often a fleet report is written.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub report_every: Duration,
    /// State of a client id (or site, or broker node) not seen for this long, in record
    /// time, is forgotten.
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    pub state_ttl: Duration,
    /// Most client ids tracked at once; the least recently seen are forgotten first.
    #[arg(long, default_value_t = 200_000)]
    pub max_clients: usize,
    /// How far two probes' clocks may differ, added to every cross-probe window.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub clock_slack: Duration,
}

/// `dropscope trace`.
#[derive(Args, Debug)]
pub struct TraceArgs {
    /// The inputs.
    #[command(flatten)]
    pub input: InputArgs,
    /// The device's MQTT client id.
    #[arg(long)]
    pub client_id: String,
    /// Only rows at or after this capture time (seconds since the epoch, as in JSON output).
    #[arg(long)]
    pub since: Option<f64>,
    /// Only rows at or before this capture time (seconds since the epoch).
    #[arg(long)]
    pub until: Option<f64>,
    /// Print the rows as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Ports that carry MQTT, for every command that reads traffic.
#[derive(Args, Debug, Clone)]
pub struct PortArgs {
    /// More ports that carry MQTT (1883 always does; a CONNECT is detected on any port).
    #[arg(long = "port", value_name = "PORT")]
    pub mqtt: Vec<u16>,
    /// More ports that carry MQTT over TLS (8883 always does).
    #[arg(long = "tls-port", value_name = "PORT")]
    pub tls: Vec<u16>,
}

impl PortArgs {
    /// Adds the ports to an engine configuration.
    pub fn apply(&self, cfg: &mut dropscope::Config) {
        cfg.mqtt_ports.extend(&self.mqtt);
        cfg.tls_ports.extend(&self.tls);
    }
}

/// `dropscope report`.
#[derive(Args, Debug)]
pub struct ReportArgs {
    /// The inputs.
    #[command(flatten)]
    pub input: InputArgs,
    /// Directory to write the charts and index.html into.
    #[arg(short = 'o', long = "output")]
    pub output: PathBuf,
}

/// Exit codes of `live`.
pub const LIVE_EXIT_CODES: &str = "\
Exit codes:
  0  stopped by SIGINT/SIGTERM (or the capture or --read stream ended); events, report and
     kept packets flushed
  1  an output could not be written
  2  bad arguments (unknown interface, bad filter, bad address)
  3  no permission to capture: run as root or grant the binary CAP_NET_RAW; or the --read
     input is missing or not a capture";

/// `dropscope live`.
#[derive(Args, Debug)]
#[command(after_help = LIVE_EXIT_CODES)]
pub struct LiveArgs {
    /// Interface to capture on.
    #[arg(
        short = 'i',
        long = "interface",
        required_unless_present = "read",
        conflicts_with = "read"
    )]
    pub interface: Option<String>,
    /// Read a capture stream instead of an interface: - for standard input (ssh gw tcpdump
    /// -U -w - | dropscope live --read -), which ends when the pipe closes, or a pcap/pcapng
    /// file, read to its end. Packet timestamps are the clock; frames are numbered as
    /// Wireshark numbers the same bytes.
    #[arg(long, value_name = "FILE")]
    pub read: Option<PathBuf>,
    /// With --read FILE: follow the file as it grows (as tail -f) until SIGINT/SIGTERM.
    #[arg(long, requires = "read")]
    pub follow: bool,
    /// BPF filter (default on an interface: tcp port 1883 or tcp port 8883, plus every
    /// --port and --tls-port; with --read, none: applied after frames are numbered).
    #[arg(long)]
    pub filter: Option<String>,
    /// Which ports carry MQTT.
    #[command(flatten)]
    pub ports: PortArgs,
    /// TLS key log (NSS format) to decrypt MQTT over TLS, re-read as it grows so that keys
    /// a device writes during the capture are used; may be given several times.
    #[arg(long = "keylog", value_name = "FILE")]
    pub keylogs: Vec<PathBuf>,
    /// Append events (NDJSON) to this file instead of writing them to stdout.
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
    /// libpcap buffer size, bytes. In immediate mode the kernel ring has one slot of the
    /// snapshot length per packet, so 64 MB holds about a thousand packets: a few
    /// milliseconds at 300,000 packets/s, enough for the capture thread's 1 ms naps.
    #[arg(long, default_value_t = 64 << 20)]
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
    /// Publishing the records to NATS.
    #[command(flatten)]
    pub publish: PublishArgs,
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
        "d" => n * 86400.0,
        _ => {
            return Err(format!(
                "unknown unit {unit:?} in {s:?} (use ms, s, m, h or d)"
            ));
        }
    };
    if secs <= 0.0 || !secs.is_finite() {
        return Err(format!("duration must be positive: {s:?}"));
    }
    Ok(Duration::from_secs_f64(secs))
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
