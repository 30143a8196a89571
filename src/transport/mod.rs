//! The transport stage: what a TCP connection carries, and the MQTT byte stream inside it.
//!
//! It sits between `tcp` (ordered bytes per direction) and `session` (MQTT packets). It
//! recognises the carrier on any port from the client's first bytes, turns each direction's
//! bytes into what the session reads ([`Delivery`]), and reports its own facts as events.
//! Each carrier is one module and one arm of [`Transport`]; nothing below or above changes
//! when one is added.

mod plain;
mod tls_port;

use crate::evidence::FrameRef;
use crate::mqtt::PacketKind;
use crate::tcp::{Side, StreamEvent, TcpEvent};
use serde::Serialize;

/// What a connection carries, as reports name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TransportKind {
    /// MQTT directly on TCP.
    Tcp,
    /// MQTT inside TLS.
    Tls,
}

impl TransportKind {
    /// The lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            TransportKind::Tcp => "tcp",
            TransportKind::Tls => "tls",
        }
    }
}

/// How the MQTT facts of a connection were seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Basis {
    /// The MQTT bytes were on the wire.
    Plaintext,
    /// MQTT packets inferred from encrypted record sizes, direction and timing.
    Inferred,
}

/// An MQTT packet the transport inferred without reading it (TLS without keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct InferredPacket {
    /// The frame that completed it.
    #[serde(flatten)]
    pub at: FrameRef,
    /// Who sent it.
    pub side: Side,
    /// The packet type the size, direction and position point at.
    pub kind: PacketKind,
    /// Why this type, in a few words.
    pub reason: &'static str,
}

/// What the transport hands to the session, in stream order per direction.
#[derive(Debug, Clone, Copy)]
pub enum Delivery<'a> {
    /// MQTT bytes from one side (plaintext or decrypted).
    Mqtt {
        /// The sender.
        side: Side,
        /// The bytes.
        bytes: &'a [u8],
        /// The frame that carried them.
        at: FrameRef,
    },
    /// MQTT bytes of one side that the capture does not hold.
    Gap {
        /// The sender.
        side: Side,
        /// How many bytes.
        len: u64,
        /// The frame where the gap became known.
        at: FrameRef,
    },
    /// A packet inferred from the transport's framing.
    Inferred(InferredPacket),
    /// A TCP event for the timeline.
    Tcp(TcpEvent),
}

/// The carrier of one connection.
pub enum Transport {
    /// Not known yet: decided by the client's first bytes.
    Undecided,
    /// Plain MQTT.
    Plain,
    /// MQTT inside TLS, on a port named for it: read at the TCP level.
    TlsPort,
    /// Not MQTT: the flow is tracked only to stay ignored.
    Other,
}

/// Which carrier a server port is configured for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortHint {
    /// A plain MQTT port (1883, `--port`).
    Mqtt,
    /// A TLS port (8883, `--tls-port`).
    Tls,
    /// Any other port: recognised from the bytes.
    None,
}

/// Whether a payload is a client's first words for some carrier (an MQTT CONNECT): settles
/// which side is the client when the capture starts after the SYN.
pub fn is_client_greeting(payload: &[u8]) -> bool {
    plain::is_greeting(payload)
}

impl Transport {
    /// The carrier a connection to a server port starts with.
    pub fn for_port(hint: PortHint) -> Transport {
        match hint {
            PortHint::Mqtt => Transport::Plain,
            PortHint::Tls => Transport::TlsPort,
            PortHint::None => Transport::Undecided,
        }
    }

    /// Whether the connection carries MQTT (in any carrier), as far as is known.
    pub fn carries_mqtt(&self) -> bool {
        matches!(self, Transport::Plain | Transport::TlsPort)
    }

    /// Whether the flow is known not to be MQTT.
    pub fn is_other(&self) -> bool {
        matches!(self, Transport::Other)
    }

    /// The carrier's name, once decided.
    pub fn kind(&self) -> Option<TransportKind> {
        match self {
            Transport::Plain => Some(TransportKind::Tcp),
            Transport::TlsPort => Some(TransportKind::Tls),
            Transport::Undecided | Transport::Other => None,
        }
    }

    /// Decides an undecided carrier from one side's first payload.
    pub fn sniff(&mut self, side: Side, payload: &[u8]) {
        if matches!(self, Transport::Undecided) && !payload.is_empty() {
            *self = if side == Side::Client && plain::is_greeting(payload) {
                Transport::Plain
            } else {
                Transport::Other
            };
        }
    }

    /// Takes one event of the TCP stage and delivers what the session reads.
    pub fn on_event(&mut self, ev: StreamEvent<'_>, out: &mut impl FnMut(Delivery<'_>)) {
        match self {
            Transport::Plain => plain::deliver(ev, out),
            Transport::TlsPort => tls_port::deliver(ev, out),
            Transport::Undecided | Transport::Other => {
                if let StreamEvent::Tcp(t) = ev {
                    out(Delivery::Tcp(t));
                }
            }
        }
    }
}
