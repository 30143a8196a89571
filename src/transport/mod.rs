//! The transport stage: what a TCP connection carries, and the MQTT byte stream inside it.
//!
//! It sits between `tcp` (ordered bytes per direction) and `session` (MQTT packets). It
//! recognises the carrier on any port from the client's first bytes, turns each direction's
//! bytes into what the session reads ([`Delivery`]), and reports its own facts as events.
//! Each carrier is one module and one arm of [`Transport`]; nothing below or above changes
//! when one is added.

mod plain;
mod secure;
pub mod tls;
pub mod ws;

use crate::evidence::FrameRef;
use crate::tcp::{Side, StreamEvent, TcpEvent, TcpEventKind};
use secure::Secure;
use serde::Serialize;
use tls::TlsFacts;
use ws::{WsEvent, WsFacts, WsOutput, WsTransport};

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
    /// MQTT over WebSocket.
    Ws,
    /// MQTT over WebSocket inside TLS.
    Wss,
}

impl TransportKind {
    /// The lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            TransportKind::Tcp => "tcp",
            TransportKind::Tls => "tls",
            TransportKind::Ws => "ws",
            TransportKind::Wss => "wss",
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
    /// A WebSocket fact for the timeline.
    Ws(&'a WsEvent),
    /// A TCP event for the timeline.
    Tcp(TcpEvent),
}

/// The carrier of one connection.
pub enum Transport {
    /// Not known yet: decided by the client's first bytes.
    Undecided {
        /// The capture holds the connection's start.
        start_seen: bool,
        /// The server port is named as MQTT's: bytes that are no other carrier's greeting
        /// are plain MQTT (a capture that starts mid-flow), not another protocol.
        mqtt_port: bool,
    },
    /// Plain MQTT.
    Plain,
    /// Read as plain MQTT on a port not named MQTT, whose first bytes were an MQTT packet
    /// other than CONNECT (a capture that starts mid-flow, a PINGREQ-first client): kept
    /// only if its server is known to speak MQTT from another connection.
    Tentative,
    /// MQTT over WebSocket.
    Ws(Box<WsTransport>),
    /// MQTT (or WebSocket) inside TLS, decrypted or read without keys.
    Tls(Box<Secure>),
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
/// ClientHello, a WebSocket upgrade request): settles which side is the client when the
/// capture starts after the SYN.
pub fn is_client_greeting(payload: &[u8]) -> bool {
    plain::is_greeting(payload)
        || tls::looks_like_client_hello(payload)
        || ws::looks_like_upgrade(payload)
}

impl Transport {
    /// The carrier a connection to a server port starts with.
    pub fn for_port(hint: PortHint, start_seen: bool) -> Transport {
        match hint {
            PortHint::Mqtt => Transport::Undecided {
                start_seen,
                mqtt_port: true,
            },
            PortHint::Tls => Transport::Tls(Box::new(Secure::new(start_seen))),
            PortHint::None => Transport::Undecided {
                start_seen,
                mqtt_port: false,
            },
        }
    }

    /// Whether the flow reads as MQTT only if its server is known to speak it.
    pub fn is_tentative(&self) -> bool {
        matches!(self, Transport::Tentative)
    }

    /// Whether the flow is known not to be MQTT.
    pub fn is_other(&self) -> bool {
        match self {
            Transport::Other => true,
            Transport::Ws(w) => w.is_not_mqtt(),
            Transport::Tls(t) => t.is_not_mqtt(),
            _ => false,
        }
    }

    /// The carrier's name, once decided; `None` for a flow that is not MQTT.
    pub fn kind(&self) -> Option<TransportKind> {
        match self {
            Transport::Plain | Transport::Tentative => Some(TransportKind::Tcp),
            Transport::Ws(w) if w.is_not_mqtt() => None,
            Transport::Ws(_) => Some(TransportKind::Ws),
            Transport::Tls(t) if t.is_not_mqtt() => None,
            Transport::Tls(t) if t.is_ws() => Some(TransportKind::Wss),
            Transport::Tls(t) if offers_only_http(t.facts()) => None,
            Transport::Tls(t) if t.inferred_ws() => Some(TransportKind::Wss),
            Transport::Tls(_) => Some(TransportKind::Tls),
            Transport::Undecided {
                mqtt_port: true, ..
            } => Some(TransportKind::Tcp),
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

    /// The WebSocket facts, for MQTT over WebSocket (plain or inside TLS).
    pub fn ws_facts(&self) -> Option<&WsFacts> {
        match self {
            Transport::Ws(w) => Some(w.facts()),
            Transport::Tls(t) => t.ws_facts(),
            _ => None,
        }
    }

    /// Decides an undecided carrier from one side's first payload: a CONNECT is plain
    /// MQTT, a ClientHello TLS and an HTTP upgrade WebSocket, on any port (a WebSocket
    /// listener given by `--port` included); anything else is plain MQTT on an MQTT port,
    /// tentatively MQTT elsewhere when it starts like an MQTT packet, and not MQTT otherwise.
    pub fn sniff(&mut self, side: Side, payload: &[u8]) {
        let Transport::Undecided {
            start_seen,
            mqtt_port,
        } = *self
        else {
            return;
        };
        if payload.is_empty() {
            return;
        }
        *self = match side {
            Side::Client if plain::is_greeting(payload) => Transport::Plain,
            Side::Client if tls::looks_like_client_hello(payload) => {
                Transport::Tls(Box::new(Secure::new(start_seen)))
            }
            Side::Client if ws::looks_like_upgrade(payload) => Transport::Ws(Box::default()),
            _ if mqtt_port => Transport::Plain,
            _ if crate::mqtt::plausible_start(payload) => Transport::Tentative,
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
            Transport::Plain | Transport::Tentative => plain::deliver(ev, out),
            Transport::Tls(t) => t.on_event(&ev, keys, out),
            Transport::Ws(w) => ws_event(w, ev, out),
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
            t.finish(out);
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

/// One TCP event of a WebSocket connection.
fn ws_event(w: &mut WsTransport, ev: StreamEvent<'_>, out: &mut impl FnMut(Delivery<'_>)) {
    match ev {
        StreamEvent::Data { side, bytes, at } => {
            w.data(side, bytes, at, &mut |o| out(ws_delivery(&o)))
        }
        StreamEvent::Gap { side, len, at } => w.gap(side, len, at, &mut |o| out(ws_delivery(&o))),
        StreamEvent::Tcp(e) => {
            ws_tcp_end(w, e, out);
            out(Delivery::Tcp(e));
        }
    }
}

/// Tells a WebSocket reader of its side's FIN or RST (a close with no Close frame first is
/// a fact of its own).
fn ws_tcp_end(w: &mut WsTransport, e: TcpEvent, out: &mut impl FnMut(Delivery<'_>)) {
    if matches!(e.kind, TcpEventKind::Fin | TcpEventKind::Rst) {
        w.closed(e.side, e.at, &mut |o| out(ws_delivery(&o)));
    }
}

/// What the session reads of a WebSocket reader's output.
fn ws_delivery<'a>(o: &'a WsOutput<'a>) -> Delivery<'a> {
    match *o {
        WsOutput::Mqtt { side, bytes, at } => Delivery::Mqtt { side, bytes, at },
        WsOutput::Gap { side, len, at } => Delivery::Gap { side, len, at },
        WsOutput::Event(ref e) => Delivery::Ws(e),
    }
}
