//! NAT or outage. One connection whose first packet after a quiet spell was never
//! acknowledged fits both a NAT that forgot the mapping and a path that went dark. The other
//! connections through the same client address (the device, or the NAT's public address
//! seen from the broker) tell them apart: an outage kills them all at about the same moment
//! whatever their idle gaps, and a NAT whose timeout let a longer quiet spell pass cannot
//! have expired this one; while others kept working across the moment, the path was up.

use super::Windows;
use crate::tcp::IdleGap;
use crate::time::{Span, Timestamp};
use crate::verdict::{Cause, GapOutcome, Judged, Layer, NatReading, Recast};
use std::collections::HashMap;
use std::net::IpAddr;

/// Reads every `nat_idle_expiry` against the other connections through its client address.
pub fn nat_or_outage(conns: &[Judged], w: &Windows) -> Vec<Recast> {
    let mut by_address: HashMap<IpAddr, Vec<usize>> = HashMap::new();
    for (i, c) in conns.iter().enumerate() {
        by_address.entry(c.client.ip()).or_default().push(i);
    }
    conns
        .iter()
        .enumerate()
        .filter_map(|(i, c)| {
            let gap = killing_gap(c)?;
            let others = by_address[&c.client.ip()].iter().filter(|&&j| j != i);
            let (reading, why, related) = read(c, gap, others.map(|&j| &conns[j]), w);
            Some(Recast::NatOrOutage {
                index: i,
                reading,
                why,
                related,
            })
        })
        .collect()
}

/// The quiet spell that a `nat_idle_expiry` verdict says killed the connection.
fn killing_gap(c: &Judged) -> Option<IdleGap> {
    if c.verdict.cause != Cause::NatIdleExpiry || c.outage_reading.is_none() {
        return None;
    }
    c.idle_gaps
        .iter()
        .zip(&c.verdict.gap_outcomes)
        .find(|(_, o)| **o == GapOutcome::Killed)
        .map(|(g, _)| *g)
}

/// What the other connections through the address say of `c`, killed by `gap`.
fn read<'a>(
    c: &Judged,
    gap: IdleGap,
    others: impl Iterator<Item = &'a Judged>,
    w: &Windows,
) -> (NatReading, String, Option<usize>) {
    let (quiet, failed) = (gap.after.ts, gap.before.ts);
    let mut kept_working = None;
    let mut died_together = None;
    for o in others {
        if let Some(longer) = longest_survived(o).filter(|&s| s >= gap.seconds()) {
            let why = format!(
                "connection {} through the same address survived a quiet spell of {longer:.1} s, longer than this one's {:.1} s.",
                o.id,
                gap.seconds()
            );
            return (NatReading::Outage, why, Some(o.id));
        }
        let failure = network_failure(o);
        let together = failure.filter(|&(at, _)| at >= quiet && at <= failed + reach(o, w));
        if let Some((at, idle)) = together {
            let differ = idle * w.nat_margin < gap.seconds() || gap.seconds() * w.nat_margin < idle;
            if differ {
                died_together.get_or_insert((o.id, at, idle));
            }
        } else if failure.is_none_or(|(at, _)| at > failed) && o.start < failed && o.end > failed {
            kept_working.get_or_insert(o.id);
        }
    }
    match (died_together, kept_working) {
        (Some((id, at, idle)), None) => {
            let why = format!(
                "connection {id} through the same address failed at about the same moment ({:+.1} s) after {idle:.1} s of quiet, against this one's {:.1} s: a NAT times each mapping out on its own idle clock, an outage cuts them all at once.",
                (at - failed).as_secs_f64(),
                gap.seconds()
            );
            (NatReading::Outage, why, Some(id))
        }
        (None, Some(id)) => {
            let why = format!(
                "Connection {id} through the same address kept working across that moment, so the path was up."
            );
            (NatReading::Nat, why, Some(id))
        }
        _ => {
            let why = if c.client.ip().is_loopback() {
                "nothing else crossed the same path.".to_string()
            } else {
                "no other connection through the same address tells them apart.".to_string()
            };
            (NatReading::CannotTell, why, None)
        }
    }
}

/// The longest quiet spell a connection came through: an idle gap traffic went on after, or
/// one its client's PINGREQ ended and the broker answered.
fn longest_survived(c: &Judged) -> Option<f64> {
    let gaps = c
        .idle_gaps
        .iter()
        .zip(&c.verdict.gap_outcomes)
        .filter(|(_, o)| **o == GapOutcome::Survived)
        .map(|(g, _)| g.seconds());
    gaps.chain(c.pinged_idle.map(|p| p.seconds))
        .max_by(f64::total_cmp)
}

/// When a connection that dropped at the network layer first failed, and how long it had
/// been quiet before: its killing gap for a NAT expiry, its first retransmission otherwise
/// (it died while active).
fn network_failure(c: &Judged) -> Option<(Timestamp, f64)> {
    let v = &c.verdict;
    if v.layer != Some(Layer::Network) || !v.cause.is_drop() {
        return None;
    }
    if let Some(g) = killing_gap(c) {
        return Some((g.before.ts, g.seconds()));
    }
    let first = [&c.tcp.client, &c.tcp.server]
        .iter()
        .filter_map(|h| h.first_retransmission)
        .map(|r| r.ts)
        .min();
    Some((first.unwrap_or_else(|| c.drop_time()), 0.0))
}

/// How long after the moment another connection may first fail and still have met the same
/// dark path: it fails at its next packet, which its keepalive bounds.
fn reach(c: &Judged, w: &Windows) -> Span {
    let keepalive = Span::from_secs(i64::from(c.keepalive_secs().unwrap_or(0)));
    keepalive.max(w.cluster)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::{Connection, TcpEnd, TcpEndKind};
    use crate::tcp::Side;
    use crate::verdict::{Thresholds, rejudge};

    use crate::evidence::frame_at as at;

    /// A client at `ip` (keepalive `ka`) whose connection had traffic until `quiet`, then
    /// nothing either way until its PINGREQ at `resumed`, which was retransmitted and never
    /// acknowledged; the capture shows nothing from the server after the quiet spell.
    fn died_after_quiet(id: usize, ip: &str, ka: u16, quiet: f64, resumed: f64) -> Connection {
        let mut c = Connection::sample(ka);
        c.id = id;
        c.client = format!("{ip}:{}", 40000 + id).parse().unwrap();
        let f = 100 * id as u64;
        c.idle_gaps = vec![IdleGap {
            after: at(f + 1, quiet),
            before: at(f + 2, resumed),
            resumed_by: Side::Client,
        }];
        let h = &mut c.tcp.client;
        h.unacked_bytes = 2;
        h.retransmissions = 4;
        h.first_retransmission = Some(at(f + 3, resumed + 0.2));
        h.retransmission_frames = vec![at(f + 3, resumed + 0.2), at(f + 4, resumed + 1.0)];
        h.last_segment = Some(at(f + 4, resumed + 1.0));
        c.tcp.server.last_segment = Some(at(f + 1, quiet));
        c.end = at(f + 4, resumed + 1.0).ts;
        c
    }

    /// A connection at `ip` that exchanged packets from 0 s to `until` and closed cleanly.
    fn kept_working(id: usize, ip: &str, until: f64) -> Connection {
        let mut c = Connection::sample(2);
        c.id = id;
        c.client = format!("{ip}:{}", 40000 + id).parse().unwrap();
        let end = at(100 * id as u64 + 50, until);
        c.end = end.ts;
        c.tcp.client.fin = Some(end);
        c.tcp_end = Some(TcpEnd {
            kind: TcpEndKind::Fin,
            by: Side::Client,
            at: end,
        });
        c
    }

    fn judged(conns: Vec<Connection>) -> Vec<Judged> {
        let t = Thresholds::default();
        let mut j: Vec<Judged> = conns.into_iter().map(|c| Judged::judge(c, &t)).collect();
        let recasts = nat_or_outage(&j, &Windows::default());
        rejudge(&mut j, &recasts);
        j
    }

    #[test]
    fn alone_it_cannot_tell_and_names_both() {
        let j = judged(vec![died_after_quiet(1, "10.0.0.2", 30, 1.0, 31.0)]);
        let v = &j[0].verdict;
        assert_eq!(v.cause, Cause::NatIdleExpiry);
        assert_eq!(v.alternative, Some(Cause::RetransmissionTimeout));
        assert!(v.explanation.contains("fits as well"), "{}", v.explanation);
    }

    #[test]
    fn another_connection_working_across_the_moment_makes_it_a_nat() {
        let j = judged(vec![
            died_after_quiet(1, "10.0.0.2", 30, 1.0, 31.0),
            kept_working(2, "10.0.0.2", 60.0),
        ]);
        let v = &j[0].verdict;
        assert_eq!((v.cause, v.alternative), (Cause::NatIdleExpiry, None));
        assert_eq!(v.related_connection, Some(2));
    }

    #[test]
    fn others_through_other_addresses_say_nothing() {
        let j = judged(vec![
            died_after_quiet(1, "10.0.0.2", 30, 1.0, 31.0),
            kept_working(2, "10.0.0.3", 60.0),
        ]);
        assert_eq!(j[0].verdict.alternative, Some(Cause::RetransmissionTimeout));
    }

    #[test]
    fn dying_at_the_same_moment_after_a_short_quiet_is_an_outage() {
        // The 5 s client died 1 s after the 30 s one: a NAT that kills after 30 s of quiet
        // would not have killed it; the path went dark for both.
        let j = judged(vec![
            died_after_quiet(1, "10.0.0.2", 30, 1.0, 31.0),
            died_after_quiet(2, "10.0.0.2", 5, 27.0, 32.0),
        ]);
        for c in &j {
            assert_eq!(c.verdict.cause, Cause::RetransmissionTimeout, "{}", c.id);
            assert_eq!(c.verdict.layer, Some(Layer::Network));
        }
        assert!(j[0].verdict.explanation.contains("outage"));
        assert!(
            j[0].verdict
                .gap_outcomes
                .iter()
                .all(|&o| o != GapOutcome::Killed),
            "an outage's gap feeds no NAT bracket"
        );
    }

    #[test]
    fn a_longer_quiet_spell_survived_through_the_same_address_is_an_outage() {
        let mut long_lived = kept_working(2, "10.0.0.2", 100.0);
        long_lived.idle_gaps = vec![IdleGap {
            after: at(210, 40.0),
            before: at(211, 85.0),
            resumed_by: Side::Client,
        }];
        let j = judged(vec![
            died_after_quiet(1, "10.0.0.2", 30, 1.0, 31.0),
            long_lived,
        ]);
        let v = &j[0].verdict;
        assert_ne!(v.cause, Cause::NatIdleExpiry);
        assert!(v.explanation.contains("45.0 s"), "{}", v.explanation);
    }

    #[test]
    fn two_connections_killed_after_equally_long_quiet_spells_stay_nat() {
        let j = judged(vec![
            died_after_quiet(1, "10.0.0.2", 30, 1.0, 31.0),
            died_after_quiet(2, "10.0.0.2", 30, 1.5, 31.5),
        ]);
        assert!(j.iter().all(|c| c.verdict.cause == Cause::NatIdleExpiry));
    }
}
