//! The plain arm: MQTT bytes directly on TCP.

use super::Delivery;
use crate::mqtt;
use crate::tcp::StreamEvent;

/// Whether a client's first payload is an MQTT CONNECT.
pub(super) fn is_greeting(payload: &[u8]) -> bool {
    mqtt::looks_like_connect(payload)
}

/// Hands the TCP stage's bytes, gaps and events on unchanged.
pub(super) fn deliver(ev: StreamEvent<'_>, out: &mut impl FnMut(Delivery<'_>)) {
    out(match ev {
        StreamEvent::Data { side, bytes, at } => Delivery::Mqtt { side, bytes, at },
        StreamEvent::Gap { side, len, at } => Delivery::Gap { side, len, at },
        StreamEvent::Tcp(t) => Delivery::Tcp(t),
    });
}
