//! The transport stage: what a TCP connection carries, and the MQTT byte stream inside it.
//!
//! It sits between `tcp` (ordered bytes per direction) and `session` (MQTT packets). It
//! recognises the carrier on any port from the client's first bytes, turns each direction's
//! bytes into what the session reads ([`Delivery`]), and reports its own facts as events.
//! Each carrier is one module and one arm of [`Transport`]; nothing below or above changes
//! when one is added.

mod plain;
pub mod tls;
pub mod ws;

use crate::evidence::FrameRef;
use crate::tcp::{Side, StreamEvent, TcpEvent};
use serde::Serialize;
use tls::{TlsFacts, TlsOutput, TlsTransport};

pub use tls::decrypt::KeyLog;

pub use tls::{InferredPacket, TlsEvent};

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
    /// TLS decrypted with the session keys: the MQTT bytes were read as in plaintext.
    Decrypted,
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
    /// A TLS fact for the timeline.
    Tls(TlsEvent),
    /// A TCP event for the timeline.
    Tcp(TcpEvent),
}

/// The carrier of one connection.
pub enum Transport {
    /// Not known yet: decided by the client's first bytes.
    Undecided {
        /// The capture holds the connection's start.
        start_seen: bool,
    },
    /// Plain MQTT.
    Plain,
    /// MQTT inside TLS, read without keys.
    Tls(Box<TlsTransport>),
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

/// Whether a payload is a client's first words for some carrier (an MQTT CONNECT, a TLS
/// ClientHello): settles which side is the client when the capture starts after the SYN.
pub fn is_client_greeting(payload: &[u8]) -> bool {
    plain::is_greeting(payload) || tls::looks_like_client_hello(payload)
}

impl Transport {
    /// The carrier a connection to a server port starts with.
    pub fn for_port(hint: PortHint, start_seen: bool) -> Transport {
        match hint {
            PortHint::Mqtt => Transport::Plain,
            PortHint::Tls => Transport::Tls(Box::new(TlsTransport::new(start_seen))),
            PortHint::None => Transport::Undecided { start_seen },
        }
    }

    /// Whether the flow is known not to be MQTT.
    pub fn is_other(&self) -> bool {
        matches!(self, Transport::Other)
    }

    /// The carrier's name, once decided; `None` for a flow that is not MQTT.
    pub fn kind(&self) -> Option<TransportKind> {
        match self {
            Transport::Plain => Some(TransportKind::Tcp),
            Transport::Tls(t) if offers_only_http(t.facts()) => None,
            Transport::Tls(_) => Some(TransportKind::Tls),
            Transport::Undecided { .. } | Transport::Other => None,
        }
    }

    /// The TLS facts, for a TLS connection.
    pub fn tls_facts(&self) -> Option<&TlsFacts> {
        match self {
            Transport::Tls(t) => Some(t.facts()),
            _ => None,
        }
    }

    /// Decides an undecided carrier from one side's first payload: a CONNECT is plain
    /// MQTT and a ClientHello TLS, on any port; anything else is not MQTT.
    pub fn sniff(&mut self, side: Side, payload: &[u8]) {
        let Transport::Undecided { start_seen } = *self else {
            return;
        };
        if payload.is_empty() {
            return;
        }
        *self = match side {
            Side::Client if plain::is_greeting(payload) => Transport::Plain,
            Side::Client if tls::looks_like_client_hello(payload) => {
                Transport::Tls(Box::new(TlsTransport::new(start_seen)))
            }
            _ => Transport::Other,
        };
    }

    /// Takes one event of the TCP stage and delivers what the session reads; `keys` is the
    /// TLS key log (empty when none was given).
    pub fn on_event(
        &mut self,
        ev: StreamEvent<'_>,
        keys: &KeyLog,
        out: &mut impl FnMut(Delivery<'_>),
    ) {
        match self {
            Transport::Plain => plain::deliver(ev, out),
            Transport::Tls(t) => {
                t.on_event(&ev, keys, &mut |o| out(tls_delivery(o)));
                if let StreamEvent::Tcp(e) = ev {
                    out(Delivery::Tcp(e));
                }
            }
            Transport::Undecided { .. } | Transport::Other => {
                if let StreamEvent::Tcp(t) = ev {
                    out(Delivery::Tcp(t));
                }
            }
        }
    }

    /// The connection is being retired: delivers whatever the carrier still holds.
    pub fn finish(&mut self, out: &mut impl FnMut(Delivery<'_>)) {
        if let Transport::Tls(t) = self {
            t.finish(&mut |o| out(tls_delivery(o)));
        }
    }
}

/// A TLS client that offered only web protocols by ALPN (`h2`, `http/1.1`…) is a browser or
/// an HTTPS client, not MQTT: AWS IoT's MQTT on 443 offers `x-amzn-mqtt-ca`, other MQTT
/// clients offer `mqtt` or nothing. (WebSocket inside TLS offers `http/1.1` too; it is told
/// apart by its upgrade, not by ALPN, once the WebSocket arm reads it.)
fn offers_only_http(f: &TlsFacts) -> bool {
    !f.alpn_offered.is_empty()
        && f.alpn_offered
            .iter()
            .all(|p| p.starts_with("http/") || p == "h2" || p == "h3")
}

fn tls_delivery(o: TlsOutput<'_>) -> Delivery<'_> {
    match o {
        TlsOutput::Inferred(p) => Delivery::Inferred(p),
        TlsOutput::Event(e) => Delivery::Tls(e),
        TlsOutput::Plain { side, bytes, at } => Delivery::Mqtt { side, bytes, at },
        TlsOutput::Gap { side, len, at } => Delivery::Gap { side, len, at },
    }
}
