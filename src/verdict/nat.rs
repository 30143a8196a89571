//! The NAT idle expiry rule: after a quiet spell longer than any the connection survived,
//! the first packet either way failed (never acknowledged, answered by a RST, or the
//! broker's close unanswered), and nothing shows the path was up both ways.

use super::rules::{Thresholds, client_answered_close, frames, stuck_sender, verdict};
use super::{Actor, Cause, Layer, Verdict};
use crate::evidence::FrameRef;
use crate::session::{Connection, TcpEndKind};
use crate::tcp::Side;

/// How the first packet after an idle gap failed.
#[derive(Clone, Copy)]
enum Failure {
    /// Data from this side was retransmitted and never acknowledged, from this frame on.
    Unacked(Side, FrameRef),
    /// A RST from this side (or a device claiming to be it).
    Rst(Side, FrameRef),
    /// The server closed and the client never answered (not even at the TCP level).
    UnansweredClose(FrameRef),
}

impl Failure {
    fn frame(self) -> FrameRef {
        match self {
            Failure::Unacked(_, f) | Failure::Rst(_, f) | Failure::UnansweredClose(f) => f,
        }
    }
}

fn failure(c: &Connection, t: &Thresholds) -> Option<Failure> {
    if let Some(side) = stuck_sender(c)
        && let Some(first) = c.half(side).first_retransmission
    {
        return Some(Failure::Unacked(side, first));
    }
    let end = c.close()?;
    match end.kind {
        TcpEndKind::Rst => Some(Failure::Rst(end.by, end.at)),
        TcpEndKind::Fin if end.by == Side::Server && !client_answered_close(c, end, t) => {
            Some(Failure::UnansweredClose(end.at))
        }
        TcpEndKind::Fin => None,
    }
}

/// The idle gap that ended with the failing packet, if it is long enough and longer than
/// every gap the connection survived, and the longest survived gap.
fn killing_gap(
    c: &Connection,
    t: &Thresholds,
    fail: Failure,
) -> Option<(crate::tcp::IdleGap, f64)> {
    let at = fail.frame().frame();
    let floor = t.nat_gap_floor.as_secs_f64();
    let i = c
        .idle_gaps
        .iter()
        .rposition(|g| g.before.frame() <= at && g.seconds() >= floor)?;
    let gap = c.idle_gaps[i];
    let survived = c.idle_gaps[..i]
        .iter()
        .map(|g| g.seconds())
        .fold(0.0, f64::max);
    let fits = match fail {
        Failure::Unacked(side, first) => {
            side == gap.resumed_by
                && gap.before.frame() < first.frame()
                && !heard_back_after(c, side, first)
        }
        Failure::Rst(side, rst) => side != gap.resumed_by && rst.frame() > gap.before.frame(),
        Failure::UnansweredClose(fin) => gap.before.frame() == fin.frame(),
    };
    // A connection that already survived an idle as long as its keepalive did not die of
    // idleness when the next keepalive came due: the packet was lost some other way.
    let keepalive = f64::from(c.keepalive_secs().unwrap_or(0));
    let idled_a_keepalive =
        (keepalive > 0.0 && survived >= 0.9 * keepalive) || survived_a_ping_cadence(c, &gap);
    (fits && gap.seconds() > survived * t.nat_gap_margin && !idled_a_keepalive)
        .then_some((gap, survived))
}

/// Whether a packet from the other side crossed this capture point after `side`'s first
/// unacknowledged retransmission: the path back was working through the quiet spell's end,
/// and a NAT that forgets a mapping forgets it both ways. The data was lost one way.
fn heard_back_after(c: &Connection, side: Side, first: FrameRef) -> bool {
    c.half(side.other())
        .last_segment
        .is_some_and(|s| s.frame() > first.frame())
}

/// Whether, before `gap`, a quiet spell ended by the client's PINGREQ was answered: the NAT
/// let an idle as long as the client's ping cadence pass, so a longer silence later means
/// the next ping was lost or never sent, not that the mapping expired (this reads the
/// keepalive from the wire when the CONNECT is encrypted or before the capture).
fn survived_a_ping_cadence(c: &Connection, gap: &crate::tcp::IdleGap) -> bool {
    c.pinged_idle
        .is_some_and(|p| p.pingreq.frame() <= gap.after.frame())
}

pub(super) fn nat_idle_expiry(c: &Connection, t: &Thresholds) -> Option<Verdict> {
    let fail = failure(c, t)?;
    let (gap, survived) = killing_gap(c, t, fail)?;
    let mut v = verdict(
        Cause::NatIdleExpiry,
        Layer::Network,
        Some(Actor::Middlebox),
        "first_packet_after_idle_gap_failed",
    );
    v.evidence = frames([Some(gap.after), Some(gap.before), Some(fail.frame())]);
    let answer = match fail {
        Failure::Rst(_, f) => format!("was answered by a RST (frame {})", f.frame()),
        Failure::Unacked(..) => "was never acknowledged, only retransmitted".into(),
        Failure::UnansweredClose(_) => {
            "was the broker's close, which the client never acknowledged (its own packets after the gap never arrived)".into()
        }
    };
    let before = if survived > 0.0 {
        format!("the longest idle it had survived was {survived:.1} s")
    } else {
        "it had never been idle that long".to_string()
    };
    v.explanation = format!(
        "After {:.1} s with no packet either way ({before}), the first packet (frame {}) {answer}: \
         the NAT mapping or firewall state had expired.",
        gap.seconds(),
        gap.before.frame()
    );
    if let Some(k) = c.keepalive_secs().filter(|&k| k > 0) {
        v.hints.push(format!(
            "keepalive {k} s: keep it below the NAT idle timeout (under {:.0} s here)",
            gap.seconds()
        ));
    }
    Some(v)
}
