//! The verdict stage: why each connection ended, in the taxonomy of
//! `shared/docs/taxonomy.md`, decided by a pure function of the connection's facts.

mod gaps;
mod judged;
mod keepalive;
mod nat;
mod rules;
mod syn;
mod tls;
mod vantage;
mod vocabulary;
mod ws;

pub use gaps::GapOutcome;
pub use judged::{Judged, NatReading, Recast, rejudge};
pub use rules::{Thresholds, classify, outage_reading};
pub use vocabulary::{Vocabulary, describe};

use crate::transport::Basis;
use serde::Serialize;

/// The rule of a connection of which the capture holds only the close: `unknown` alone,
/// a shutdown when its server closed many at once.
pub const ONLY_THE_CLOSE: &str = "only_the_close_in_capture";

/// Why a connection ended.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// The client sent DISCONNECT, then TCP closed.
    ClientDisconnect,
    /// CONNACK refused the connection.
    ConnectRefused,
    /// The server sent an MQTT 5 DISCONNECT with a reason.
    ServerDisconnect,
    /// The server closed after the client owed it a packet for about 1.5 × keepalive.
    KeepaliveTimeout,
    /// Another connection took over the client id.
    SessionTakenOver,
    /// The server closed right after the client broke the protocol.
    ProtocolViolation,
    /// The server closed many connections at once.
    ServerShutdown,
    /// The server closed without an MQTT reason.
    ServerClose,
    /// The client closed TCP without DISCONNECT.
    ClientClose,
    /// A RST ended it with no MQTT reason before.
    Reset,
    /// An idle gap, then the first packet met a dead NAT mapping.
    NatIdleExpiry,
    /// Unacknowledged data retransmitted until the sender gave up.
    RetransmissionTimeout,
    /// The TLS handshake never completed: a fatal alert or an abort inside it.
    TlsHandshakeFailed,
    /// The client's SYN was answered by a RST: the connection never existed.
    TcpRefused,
    /// Still up when the capture ended.
    OpenAtEnd,
    /// Nothing fits.
    Unknown,
}

impl Cause {
    /// All causes, in taxonomy order.
    pub const ALL: [Cause; 16] = [
        Cause::ClientDisconnect,
        Cause::ConnectRefused,
        Cause::ServerDisconnect,
        Cause::KeepaliveTimeout,
        Cause::SessionTakenOver,
        Cause::ProtocolViolation,
        Cause::ServerShutdown,
        Cause::ServerClose,
        Cause::ClientClose,
        Cause::Reset,
        Cause::NatIdleExpiry,
        Cause::RetransmissionTimeout,
        Cause::TlsHandshakeFailed,
        Cause::TcpRefused,
        Cause::OpenAtEnd,
        Cause::Unknown,
    ];

    /// The snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            Cause::ClientDisconnect => "client_disconnect",
            Cause::ConnectRefused => "connect_refused",
            Cause::ServerDisconnect => "server_disconnect",
            Cause::KeepaliveTimeout => "keepalive_timeout",
            Cause::SessionTakenOver => "session_taken_over",
            Cause::ProtocolViolation => "protocol_violation",
            Cause::ServerShutdown => "server_shutdown",
            Cause::ServerClose => "server_close",
            Cause::ClientClose => "client_close",
            Cause::Reset => "reset",
            Cause::NatIdleExpiry => "nat_idle_expiry",
            Cause::RetransmissionTimeout => "retransmission_timeout",
            Cause::TlsHandshakeFailed => "tls_handshake_failed",
            Cause::TcpRefused => "tcp_refused",
            Cause::OpenAtEnd => "open_at_end",
            Cause::Unknown => "unknown",
        }
    }

    /// Whether this cause is a drop (not a clean end, not still open).
    pub fn is_drop(self) -> bool {
        !matches!(self, Cause::ClientDisconnect | Cause::OpenAtEnd)
    }
}

/// What must be fixed.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Layer {
    /// The path failed.
    Network,
    /// An MQTT endpoint decided to end it.
    Protocol,
    /// Nothing went wrong.
    None,
}

impl Layer {
    /// The snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            Layer::Network => "network",
            Layer::Protocol => "protocol",
            Layer::None => "none",
        }
    }
}

/// Who ended the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Actor {
    /// The MQTT client.
    Client,
    /// The broker.
    Server,
    /// A device on the path (NAT, firewall).
    Middlebox,
}

impl Actor {
    /// The snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            Actor::Client => "client",
            Actor::Server => "server",
            Actor::Middlebox => "middlebox",
        }
    }
}

/// Where the capture was taken, judged from handshake timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Vantage {
    /// Near the client: SYN → SYN-ACK takes the path's round trip, SYN-ACK → ACK almost none.
    Client,
    /// Near the broker: the opposite.
    Server,
    /// Somewhere between.
    Between,
    /// No handshake in the capture.
    Unknown,
}

/// A keepalive deadline the client missed.
#[derive(Debug, Clone, Serialize)]
pub struct MissingPing {
    /// When a packet from the client was due.
    pub due: crate::time::Timestamp,
    /// The client's last MQTT packet before it.
    pub after_frame: u64,
    /// Whether the client sent something that never arrived (network) or sent nothing.
    pub sent: bool,
}

/// Why one connection ended.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    /// The taxonomy's cause.
    pub cause: Cause,
    /// The layer to fix; null for `unknown`.
    pub layer: Option<Layer>,
    /// Who ended it.
    pub side: Option<Actor>,
    /// CONNACK or DISCONNECT reason code.
    pub code: Option<u16>,
    /// Frames that decided it.
    pub evidence: Vec<u64>,
    /// The rule that fired.
    pub rule: &'static str,
    /// One readable sentence.
    pub explanation: String,
    /// Keepalive deadlines the client missed before the end.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missing_pingreqs: Vec<MissingPing>,
    /// How the facts behind it were seen: `plaintext`, or `inferred` from TLS record sizes.
    pub basis: Basis,
    /// The other cause that fits as well when the wire cannot tell them apart.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alternative: Option<Cause>,
    /// Known broker behaviours the wire points at.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hints: Vec<String>,
    /// Where the capture was taken.
    pub vantage: Vantage,
    /// The other connection involved (a takeover's newcomer).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub related_connection: Option<usize>,
    /// The cause in the chosen broker's words (set by the report layer's vocabulary).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broker_reason: Option<&'static str>,
    /// What became of each idle gap (in the order of the connection's `idle_gaps`): derived
    /// once from the verdict, read by the NAT bracket and the charts.
    #[serde(skip)]
    pub gap_outcomes: Vec<GapOutcome>,
}
