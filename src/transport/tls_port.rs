//! The TLS arm at the TCP level: a port named as TLS, read for its TCP facts only.

use super::Delivery;
use crate::tcp::StreamEvent;

/// Hands on the TCP events; the encrypted bytes are not read.
pub(super) fn deliver(ev: StreamEvent<'_>, out: &mut impl FnMut(Delivery<'_>)) {
    if let StreamEvent::Tcp(t) = ev {
        out(Delivery::Tcp(t));
    }
}
