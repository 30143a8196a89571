//! Connections that never existed: the client's SYN refused by a RST, or sent again and
//! again into silence. Judged from the handshake alone, before the MQTT rules.

use super::rules::{frames, verdict};
use super::{Actor, Cause, Layer, Verdict};
use crate::session::Connection;
use crate::tcp::Side;

/// The client's SYN answered by a RST: nothing listened (the broker down, or on another
/// port), or a middlebox refused it. Its TTL tells which when the server's host spoke on
/// other connections (the cross-connection view); alone it is taken as the server's host.
pub(super) fn tcp_refused(c: &Connection) -> Option<Verdict> {
    let syn = c.handshake.syn?;
    let rst = c
        .half(Side::Server)
        .rst
        .as_deref()
        .filter(|_| c.handshake.syn_ack.is_none())?;
    if c.half(Side::Client).bytes > 0 || c.half(Side::Server).bytes > 0 {
        return None;
    }
    let mut v = verdict(
        Cause::TcpRefused,
        Layer::Protocol,
        Some(Actor::Server),
        "syn_answered_by_rst",
    );
    v.evidence = frames([Some(syn), Some(rst.at)]);
    v.explanation = format!(
        "The client's SYN (frame {}) was answered by a RST (frame {}): nothing was listening on {}, so the connection never existed.",
        syn.frame(),
        rst.at.frame(),
        c.server
    );
    Some(v)
}

/// The client's SYN sent again and again and never answered (no SYN-ACK, no RST): nothing
/// on the path to the broker let it through, or nothing came back. The connection never
/// existed; it is a retransmission timeout of the one byte a SYN stands for. A single SYN at
/// the capture's end proves nothing and is left to the other rules.
pub(super) fn syn_unanswered(c: &Connection) -> Option<Verdict> {
    let syn = c.handshake.syn.filter(|_| c.handshake.syn_ack.is_none())?;
    let client = c.half(Side::Client);
    let server = c.half(Side::Server);
    let silent_server = server.segments == 0 && server.rst.is_none();
    if client.segments < 2 || client.bytes > 0 || !silent_server || client.rst.is_some() {
        return None;
    }
    let last = client.last_segment?;
    let mut v = verdict(
        Cause::RetransmissionTimeout,
        Layer::Network,
        Some(Actor::Client),
        "syn_never_answered",
    );
    v.evidence = frames([Some(syn), Some(last)]);
    v.explanation = format!(
        "The client sent its SYN {} times over {:.1} s (frames {} to {}) and nothing answered: the broker {} was unreachable on the path (a blackhole, a host down, a firewall dropping), so the connection never existed.",
        client.segments,
        (last.ts - syn.ts).as_secs_f64(),
        syn.frame(),
        last.frame(),
        c.server
    );
    Some(v)
}
