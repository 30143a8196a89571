//! TLS and what it carries: the TLS arm's decrypted bytes are MQTT, or WebSocket (`wss://`)
//! when the client's first plaintext is an HTTP upgrade; without keys, packets are inferred.

use super::tls::decrypt::KeyLog;
use super::tls::{TlsFacts, TlsOutput, TlsTransport};
use super::ws::{self, WsFacts, WsTransport};
use super::{Delivery, ws_delivery, ws_tcp_end};
use crate::evidence::FrameRef;
use crate::tcp::{Side, StreamEvent};

/// What the decrypted bytes are.
enum Inner {
    /// No plaintext yet.
    Undecided,
    /// MQTT.
    Mqtt,
    /// MQTT over WebSocket.
    Ws(Box<WsTransport>),
}

/// One connection read as TLS, with what its plaintext carries.
pub struct Secure {
    tls: TlsTransport,
    inner: Inner,
}

impl Secure {
    /// A TLS connection (see [`TlsTransport::new`]).
    pub fn new(start_seen: bool) -> Self {
        Secure {
            tls: TlsTransport::new(start_seen),
            inner: Inner::Undecided,
        }
    }

    /// The TLS facts.
    pub fn facts(&self) -> &TlsFacts {
        self.tls.facts()
    }

    /// The WebSocket facts, when the plaintext is WebSocket.
    pub fn ws_facts(&self) -> Option<&WsFacts> {
        match &self.inner {
            Inner::Ws(w) => Some(w.facts()),
            _ => None,
        }
    }

    /// Whether the plaintext is WebSocket (`wss://`).
    pub fn is_ws(&self) -> bool {
        matches!(self.inner, Inner::Ws(_))
    }

    /// Whether records read without keys show WebSocket inside: nothing was decrypted, and
    /// the first records are an HTTP upgrade's.
    pub fn inferred_ws(&self) -> bool {
        matches!(self.inner, Inner::Undecided) && self.tls.inferred_ws()
    }

    /// Whether the plaintext is WebSocket that is not MQTT's.
    pub fn is_not_mqtt(&self) -> bool {
        matches!(&self.inner, Inner::Ws(w) if w.is_not_mqtt())
    }

    /// Takes the TCP stage's next event.
    pub fn on_event(
        &mut self,
        ev: &StreamEvent<'_>,
        keys: &KeyLog,
        out: &mut impl FnMut(Delivery<'_>),
    ) {
        let inner = &mut self.inner;
        self.tls.on_event(ev, keys, &mut |o| deliver(inner, o, out));
        if let StreamEvent::Tcp(e) = *ev {
            if let Inner::Ws(w) = inner {
                ws_tcp_end(w, e, out);
            }
            out(Delivery::Tcp(e));
        }
    }

    /// Delivers what the TLS arm still holds.
    pub fn finish(&mut self, out: &mut impl FnMut(Delivery<'_>)) {
        let inner = &mut self.inner;
        self.tls.finish(&mut |o| deliver(inner, o, out));
    }

    /// Bytes held.
    pub fn buffered(&self) -> usize {
        self.tls.buffered()
            + match &self.inner {
                Inner::Ws(w) => w.buffered(),
                _ => 0,
            }
    }
}

fn deliver(inner: &mut Inner, o: TlsOutput<'_>, out: &mut impl FnMut(Delivery<'_>)) {
    match o {
        TlsOutput::Inferred(p) => out(Delivery::Inferred(p)),
        TlsOutput::Event(e) => out(Delivery::Tls(e)),
        TlsOutput::Plain { side, bytes, at } => plain(inner, side, bytes, at, out),
        TlsOutput::Gap { side, len, at } => match inner {
            Inner::Ws(w) => w.gap(side, len, at, &mut |o| out(ws_delivery(&o))),
            _ => out(Delivery::Gap { side, len, at }),
        },
    }
}

fn plain(
    inner: &mut Inner,
    side: Side,
    bytes: &[u8],
    at: FrameRef,
    out: &mut impl FnMut(Delivery<'_>),
) {
    if let Inner::Undecided = inner {
        *inner = if side == Side::Client && ws::looks_like_upgrade(bytes) {
            Inner::Ws(Box::default())
        } else {
            Inner::Mqtt
        };
    }
    match inner {
        Inner::Ws(w) => w.data(side, bytes, at, &mut |o| out(ws_delivery(&o))),
        _ => out(Delivery::Mqtt { side, bytes, at }),
    }
}
