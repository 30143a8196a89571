//! What became of each idle gap of a judged connection: computed once, after the verdict
//! (and again if the second pass re-judges it), and read by the NAT bracket and the charts.

use super::{Cause, Layer, Verdict};
use crate::session::Connection;
use crate::tcp::IdleGap;
use serde::Serialize;

/// What became of an idle gap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GapOutcome {
    /// Traffic went on after it.
    Survived,
    /// It ended in the packet that met a dead NAT mapping.
    Killed,
    /// It came after the connection had already failed (retransmission backoff): no evidence
    /// either way about the NAT timeout.
    AfterFailure,
}

/// The idle gap that killed a `nat_idle_expiry` connection: the one its evidence ends.
fn killing_gap<'a>(c: &'a Connection, v: &Verdict) -> Option<&'a IdleGap> {
    if v.cause != Cause::NatIdleExpiry {
        return None;
    }
    c.idle_gaps
        .iter()
        .find(|g| v.evidence.contains(&g.before.frame()))
}

/// The frame after which a connection's gaps no longer count as survived: the gap that
/// killed it, or for any other network drop its first retransmission.
fn survival_cutoff(c: &Connection, v: &Verdict) -> u64 {
    if let Some(g) = killing_gap(c, v) {
        return g.before.frame();
    }
    let network = v.layer == Some(Layer::Network);
    let first_retransmission = [&c.tcp.client, &c.tcp.server]
        .iter()
        .filter_map(|h| h.first_retransmission.map(|r| r.frame()))
        .min();
    match (network, first_retransmission) {
        (true, Some(f)) => f,
        _ => u64::MAX,
    }
}

/// Every idle gap's outcome, in the order of `c.idle_gaps`.
pub(super) fn gap_outcomes(c: &Connection, v: &Verdict) -> Vec<GapOutcome> {
    let killer = killing_gap(c, v).map(|g| g.before.frame());
    let cutoff = survival_cutoff(c, v);
    c.idle_gaps
        .iter()
        .map(|g| {
            if Some(g.before.frame()) == killer {
                GapOutcome::Killed
            } else if g.before.frame() < cutoff {
                GapOutcome::Survived
            } else {
                GapOutcome::AfterFailure
            }
        })
        .collect()
}
