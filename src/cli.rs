//! Command-line definitions.

use clap::{Args, Parser, Subcommand, ValueEnum};
use dropscope::verdict::Vocabulary;
use std::path::PathBuf;

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
    Report(crate::report_cmd::ReportArgs),
    /// Watch an interface live: events as they happen, metrics, packets kept around drops.
    Live(crate::live_cmd::LiveArgs),
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

/// Options that choose what is read and how it is judged.
#[derive(Args, Debug)]
pub struct InputArgs {
    /// Capture files (pcap, pcapng, optionally gzip-compressed) or directories of a rotated
    /// capture; all are merged into one timeline by timestamp.
    #[arg(required = true)]
    pub captures: Vec<PathBuf>,
    /// BPF filter applied by libpcap after frames are numbered (e.g. 'tcp port 1883').
    #[arg(long)]
    pub filter: Option<String>,
    /// Which ports carry MQTT.
    #[command(flatten)]
    pub ports: PortArgs,
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
    #[arg(long, value_enum, default_value_t = Vocabulary::Mqtt)]
    pub vocabulary: Vocabulary,
    /// List every MQTT packet (frame, time, connection, direction, type, details).
    #[arg(long)]
    pub packets: bool,
    /// Include each connection's timeline (packets and TCP events) in JSON output.
    #[arg(long)]
    pub timeline: bool,
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
#[derive(Args, Debug)]
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
