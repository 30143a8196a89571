//! The keepalive rule: the client owed the broker a packet for its keepalive and none
//! arrived, because the client stalled (protocol) or what it sent was lost (network).

use super::rules::{Thresholds, actor, client_answered_close, frames, verdict};
use super::{Cause, Layer, MissingPing, Verdict};
use crate::session::Connection;
use crate::tcp::Side;
use crate::time::Span;

/// When the client owed the broker a packet and none arrived in time, or what it sent was lost.
pub(super) fn keepalive_timeout(c: &Connection, t: &Thresholds) -> Option<Verdict> {
    let keepalive = c.keepalive_secs().filter(|&k| k > 0)?;
    keepalive_verdict(c, t, f64::from(keepalive))
}

/// The keepalive timeout verdict for a keepalive of `keepalive` seconds, if it fits.
pub(super) fn keepalive_verdict(c: &Connection, t: &Thresholds, keepalive: f64) -> Option<Verdict> {
    let end = c.close()?;
    let last = c.last_client_packet.or(c.connack.map(|a| a.at))?;
    let silence = (end.at.ts - last.ts).as_secs_f64();
    let client_lost = c.half(Side::Client).unacked_bytes > 0 && c.tcp.client.retransmissions > 0;
    let server_closed = end.by == Side::Server;
    let overdue = server_closed && silence >= keepalive * t.keepalive_ratio;
    if !overdue && !client_lost {
        return None;
    }
    if client_lost && !server_closed && c.unanswered_pingreqs.is_empty() {
        return None;
    }
    let dead_path = client_lost || !client_answered_close(c, end, t);
    let layer = if dead_path {
        Layer::Network
    } else {
        Layer::Protocol
    };
    let mut v = verdict(
        Cause::KeepaliveTimeout,
        layer,
        Some(actor(end.by)),
        "client_silent_past_keepalive",
    );
    let due = last.ts + Span::from_secs_f64(keepalive);
    v.missing_pingreqs.push(MissingPing {
        due,
        after_frame: last.frame(),
        sent: client_lost,
    });
    v.evidence = frames(
        [Some(last), Some(end.at)]
            .into_iter()
            .chain(c.unanswered_pingreqs.iter().map(|p| Some(*p)))
            .chain(c.tcp.client.retransmission_frames.last().map(|r| Some(*r))),
    );
    v.explanation = if client_lost {
        format!(
            "The client sent packets (PINGREQ or data, {} retransmissions) that were never \
             acknowledged; the connection died for keepalive ({} s) because they never arrived.",
            c.tcp.client.retransmissions, keepalive
        )
    } else if dead_path {
        format!(
            "No packet from the client for {silence:.1} s (keepalive {keepalive} s, {:.2} × keepalive); \
             the broker closed and the client never acknowledged the close: the path to the client was dead.",
            silence / keepalive
        )
    } else {
        format!(
            "No packet from the client for {silence:.1} s (keepalive {keepalive} s, {:.2} × keepalive): \
             no PINGREQ was sent; the client's TCP stack still acknowledged the close, so the \
             client application stalled.",
            silence / keepalive
        )
    };
    if !client_lost && sent_pings_on_time(c, keepalive) && silence < keepalive {
        v.hints.push(
            "PINGREQs were sent on time and the broker still closed for keepalive: look at the broker".into(),
        );
    }
    Some(v)
}

fn sent_pings_on_time(c: &Connection, _keepalive: f64) -> bool {
    c.keepalive_misses.is_empty() && c.packets.get(crate::mqtt::PacketKind::PingReq) > 0
}
