//! Recognising one TCP connection in two probes' analyses.
//!
//! The server's address is the same at both probes; the client's may differ (a NAT between
//! them). In order of strength: the client's initial sequence number (Linux NAT keeps it),
//! checked against the server's and the first bytes each way; for captures that start
//! mid-flow, the sequence numbers each side covered (they overlap only for the same
//! connection); last, with the clock offset known, the client id (or the fingerprint of the
//! first bytes) and a lifetime that overlaps. Each connection joins at most one other.

use super::clock::{self, ClockOffset};
use super::{Placement, VantagePoint};
use crate::session::Connection;
use crate::tcp::{HalfFacts, Side};
use crate::time::Span;
use crate::verdict::Judged;
use rustc_hash::FxHashMap;
use serde::Serialize;
use std::net::SocketAddr;

/// What recognised two records as one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchBasis {
    /// The same server, the same initial sequence numbers (and first bytes, when seen).
    InitialSequenceNumbers,
    /// The same server, and the sequence numbers both sides covered overlap (no SYN seen).
    SequenceNumbers,
    /// The same server and client id, lifetimes that overlap once the clocks are aligned.
    ClientIdAndTiming,
    /// The same server and first bytes each way, lifetimes that overlap.
    FingerprintAndTiming,
}

impl MatchBasis {
    /// The snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            MatchBasis::InitialSequenceNumbers => "initial_sequence_numbers",
            MatchBasis::SequenceNumbers => "sequence_numbers",
            MatchBasis::ClientIdAndTiming => "client_id_and_timing",
            MatchBasis::FingerprintAndTiming => "fingerprint_and_timing",
        }
    }
}

/// A client address before and after a NAT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct NatMapping {
    /// As the client-side probe saw it.
    #[serde(serialize_with = "super::addr")]
    pub private: SocketAddr,
    /// As the broker-side probe saw it.
    #[serde(serialize_with = "super::addr")]
    pub public: SocketAddr,
}

/// Two records of one connection: indexes into the two probes' connections.
#[derive(Debug, Clone, Copy)]
pub(super) struct Link {
    pub a: usize,
    pub b: usize,
    pub basis: MatchBasis,
}

/// What two probes share.
#[derive(Debug, Clone)]
pub(super) struct PairMatch {
    /// The probes (`a < b`).
    pub a: usize,
    pub b: usize,
    /// Whether `a` is the one nearer the clients.
    pub a_is_client_side: bool,
    pub links: Vec<Link>,
    /// `b`'s clock against `a`'s.
    pub offset: Option<ClockOffset>,
}

/// One real connection: its records, client-side probe first.
#[derive(Debug, Clone)]
pub(super) struct Group {
    /// (probe, connection index) of the client-side record, then the broker-side one.
    pub members: [(usize, usize); 2],
    /// The pair of probes that joined it (an index into the pairs).
    pub pair: usize,
    pub basis: MatchBasis,
}

impl Group {
    /// The client id, from whichever record read it.
    pub fn client_id(&self, points: &[VantagePoint]) -> Option<String> {
        self.members
            .iter()
            .find_map(|&(v, i)| conn(points, v, i).client_id.clone())
    }

    /// The NAT mapping, when the client's address differs between the two records.
    pub fn nat_mapping(&self, points: &[VantagePoint]) -> Option<NatMapping> {
        let [(vc, ic), (vb, ib)] = self.members;
        let (private, public) = (conn(points, vc, ic).client, conn(points, vb, ib).client);
        (private != public).then_some(NatMapping { private, public })
    }
}

pub(super) fn conn(points: &[VantagePoint], v: usize, i: usize) -> &Judged {
    &points[v].analysis.connections[i]
}

/// Matches every pair of probes.
pub(super) fn match_all(points: &[VantagePoint], placements: &[Placement]) -> Vec<PairMatch> {
    let mut pairs = Vec::new();
    for a in 0..points.len() {
        for b in a + 1..points.len() {
            let (ca, cb) = (
                &points[a].analysis.connections,
                &points[b].analysis.connections,
            );
            let (links, offset) = match_pair(ca, cb);
            let offset = offset.map(|o| o.named(points, a, b));
            let a_is_client_side = a_nearer_client(ca, cb, &links, placements[a], placements[b]);
            pairs.push(PairMatch {
                a,
                b,
                a_is_client_side,
                links,
                offset,
            });
        }
    }
    pairs
}

/// The links between two probes' connections, and `b`'s clock offset against `a`'s.
pub(super) fn match_pair(a: &[Judged], b: &[Judged]) -> (Vec<Link>, Option<ClockOffset>) {
    let mut m = Matcher {
        a,
        b,
        used_a: vec![false; a.len()],
        used_b: vec![false; b.len()],
        links: Vec::new(),
        index: Index::of(b),
    };
    m.link_where(MatchBasis::InitialSequenceNumbers, same_isns);
    m.link_where(MatchBasis::SequenceNumbers, overlapping_sequence_numbers);
    let rough = clock::estimate(a, b, &m.links).or_else(|| clock::rough_from_client_ids(a, b));
    if let Some(o) = &rough {
        m.link_by_timing(Span::from_secs_f64(o.seconds));
    }
    // An offset holds only through connections both probes saw.
    let offset = if m.links.is_empty() {
        None
    } else {
        clock::estimate(a, b, &m.links).or(rough)
    };
    (m.links, offset)
}

/// One probe's records by what a record of the other probe is looked up with, so that
/// matching costs a lookup per record, not a scan of the other capture.
struct Index<'a> {
    by_isn: FxHashMap<(SocketAddr, u32), Vec<usize>>,
    by_client_id: FxHashMap<(SocketAddr, Option<&'a str>), Vec<usize>>,
    by_server: FxHashMap<SocketAddr, Vec<usize>>,
}

impl<'a> Index<'a> {
    fn of(conns: &'a [Judged]) -> Index<'a> {
        let mut ix = Index {
            by_isn: FxHashMap::default(),
            by_client_id: FxHashMap::default(),
            by_server: FxHashMap::default(),
        };
        for (i, c) in conns.iter().enumerate() {
            for isn in [c.tcp.client.isn, c.tcp.server.isn].into_iter().flatten() {
                ix.by_isn.entry((c.server, isn)).or_default().push(i);
            }
            let id = (c.server, c.client_id.as_deref());
            ix.by_client_id.entry(id).or_default().push(i);
            ix.by_server.entry(c.server).or_default().push(i);
        }
        ix
    }

    /// The records that may be `c`: with its server and one of its ISNs for an ISN match, else
    /// with its server and its client id or none (every record of its server when `c` has
    /// no client id).
    fn candidates(&self, c: &Connection, basis: MatchBasis) -> Vec<usize> {
        if basis == MatchBasis::InitialSequenceNumbers {
            let isns = [c.tcp.client.isn, c.tcp.server.isn].into_iter().flatten();
            let mut out: Vec<usize> = isns
                .flat_map(|isn| indexes(self.by_isn.get(&(c.server, isn))).iter().copied())
                .collect();
            out.sort_unstable();
            out.dedup();
            return out;
        }
        match c.client_id.as_deref() {
            Some(id) => {
                let mut out = indexes(self.by_client_id.get(&(c.server, Some(id)))).to_vec();
                out.extend_from_slice(indexes(self.by_client_id.get(&(c.server, None))));
                out
            }
            None => indexes(self.by_server.get(&c.server)).to_vec(),
        }
    }
}

fn indexes(found: Option<&Vec<usize>>) -> &[usize] {
    found.map_or(&[], Vec::as_slice)
}

struct Matcher<'a> {
    a: &'a [Judged],
    b: &'a [Judged],
    used_a: Vec<bool>,
    used_b: Vec<bool>,
    links: Vec<Link>,
    index: Index<'a>,
}

impl Matcher<'_> {
    /// Links each unlinked record of `a` to the first unlinked candidate of `b` for which
    /// `same` holds.
    fn link_where(&mut self, basis: MatchBasis, same: fn(&Connection, &Connection) -> bool) {
        for (ia, ca) in self.a.iter().enumerate() {
            if self.used_a[ia] {
                continue;
            }
            let found = self
                .index
                .candidates(ca, basis)
                .into_iter()
                .find(|&ib| !self.used_b[ib] && same(ca, &self.b[ib]));
            if let Some(ib) = found {
                self.link(ia, ib, basis);
            }
        }
    }

    /// Links records with the same client id (or the same first bytes) whose lifetimes
    /// overlap once `b`'s clock is set back by `offset`: the closest in time.
    fn link_by_timing(&mut self, offset: Span) {
        for (ia, ca) in self.a.iter().enumerate() {
            if self.used_a[ia] {
                continue;
            }
            let best = self
                .index
                .candidates(ca, MatchBasis::ClientIdAndTiming)
                .into_iter()
                .filter(|&ib| !self.used_b[ib])
                .filter_map(|ib| timing_basis(ca, &self.b[ib], offset).map(|(b, d)| (ib, b, d)))
                .min_by_key(|&(_, _, distance)| distance);
            if let Some((ib, basis, _)) = best {
                self.link(ia, ib, basis);
            }
        }
    }

    fn link(&mut self, a: usize, b: usize, basis: MatchBasis) {
        self.used_a[a] = true;
        self.used_b[b] = true;
        self.links.push(Link { a, b, basis });
    }
}

/// Slack allowed around two lifetimes compared across probes (clock estimate, path delay).
const TIMING_SLACK: Span = Span::from_secs(1);

/// Whether two records the sequence numbers did not link are one connection by client id
/// or first bytes and overlapping lifetimes; with how far apart their ends are. Two records
/// that both hold the handshake are never linked so: their initial sequence numbers differ
/// both ways, so they are two connections (a reconnect, a takeover's newcomer).
fn timing_basis(a: &Connection, b: &Connection, offset: Span) -> Option<(MatchBasis, i64)> {
    if a.tcp.client.isn.is_some() && b.tcp.client.isn.is_some() {
        return None;
    }
    let basis = match (&a.client_id, &b.client_id) {
        (Some(x), Some(y)) if x != y => return None,
        (Some(_), Some(_)) => MatchBasis::ClientIdAndTiming,
        _ if same_heads(a, b) == Some(true) => MatchBasis::FingerprintAndTiming,
        _ => return None,
    };
    let (b_start, b_end) = (b.start.0 - offset.0, b.drop_time().0 - offset.0);
    let overlap =
        a.start.0 <= b_end + TIMING_SLACK.0 && b_start <= a.drop_time().0 + TIMING_SLACK.0;
    let distance = (a.start.0 - b_start).abs() + (a.drop_time().0 - b_end).abs();
    overlap.then_some((basis, distance))
}

/// One side's initial sequence number is the same (the other side's too where both records
/// hold it, unless a middlebox rewrote the client's: firewalls that randomise sequence
/// numbers do so for the inside host), and so are the first bytes each way where both
/// records hold them.
fn same_isns(a: &Connection, b: &Connection) -> bool {
    let same = |s: Side| {
        let (x, y) = (a.half(s).isn, b.half(s).isn);
        x.is_some() && x == y
    };
    let server_agrees = a
        .tcp
        .server
        .isn
        .zip(b.tcp.server.isn)
        .is_none_or(|(x, y)| x == y);
    ((same(Side::Client) && server_agrees) || same(Side::Server)) && same_heads(a, b) != Some(false)
}

/// Whether the first bytes each way are the same (None when a record lacks them).
fn same_heads(a: &Connection, b: &Connection) -> Option<bool> {
    let pairs = [Side::Client, Side::Server].map(|s| a.half(s).head.zip(b.half(s).head));
    let known: Vec<(u64, u64)> = pairs.into_iter().flatten().collect();
    (!known.is_empty()).then(|| known.iter().all(|(x, y)| x == y))
}

/// Both directions' covered sequence numbers overlap (and the client ids do not differ).
fn overlapping_sequence_numbers(a: &Connection, b: &Connection) -> bool {
    let ids_differ = matches!((&a.client_id, &b.client_id), (Some(x), Some(y)) if x != y);
    !ids_differ
        && [Side::Client, Side::Server]
            .iter()
            .all(|&s| spans_overlap(a.half(s), b.half(s)) == Some(true))
}

/// Whether two records of one side covered overlapping sequence numbers.
pub(super) fn spans_overlap(a: &HalfFacts, b: &HalfFacts) -> Option<bool> {
    let ((a0, a1), (b0, b1)) = (a.seq_span()?, b.seq_span()?);
    Some(!(b0.after(a1) || a0.after(b1)))
}

/// Whether the two records of one side count sequence numbers alike (no middlebox
/// rewrote them): the same initial sequence number, or overlapping spans.
pub(super) fn same_seq_space(a: &HalfFacts, b: &HalfFacts) -> bool {
    match (a.isn, b.isn) {
        (Some(x), Some(y)) => x == y,
        _ => spans_overlap(a, b) == Some(true),
    }
}

/// Which probe is nearer the clients: their placements, else the linked handshakes (the
/// SYN → SYN-ACK time is longer nearer the client), else the order given.
fn a_nearer_client(
    a: &[Judged],
    b: &[Judged],
    links: &[Link],
    pa: Placement,
    pb: Placement,
) -> bool {
    match (pa, pb) {
        (Placement::ClientSide, p) if p != Placement::ClientSide => return true,
        (p, Placement::BrokerSide) if p != Placement::BrokerSide => return true,
        (Placement::BrokerSide, _) | (_, Placement::ClientSide) => return false,
        _ => {}
    }
    let longer = links
        .iter()
        .filter_map(|l| {
            let (x, y) = (
                a[l.a].handshake.server_rtt()?,
                b[l.b].handshake.server_rtt()?,
            );
            Some(i64::from(x.0 > y.0) - i64::from(x.0 < y.0))
        })
        .sum::<i64>();
    longer >= 0
}

/// The real connections seen by two probes (one group per link, client-side record first),
/// and the records no link holds, by probe. A record is linked by the first pair of probes
/// that matched it. Groups come in order of their first record's start on the first probe's
/// clock (`offsets`, each probe's clock against the first's).
pub(super) fn groups(
    points: &[VantagePoint],
    pairs: &[PairMatch],
    offsets: &[Option<f64>],
) -> (Vec<Group>, Vec<(usize, usize)>) {
    let mut grouped: Vec<Vec<bool>> = points
        .iter()
        .map(|p| vec![false; p.analysis.connections.len()])
        .collect();
    let mut out = Vec::new();
    for (n, p) in pairs.iter().enumerate() {
        for l in &p.links {
            if grouped[p.a][l.a] || grouped[p.b][l.b] {
                continue;
            }
            grouped[p.a][l.a] = true;
            grouped[p.b][l.b] = true;
            let (x, y) = ((p.a, l.a), (p.b, l.b));
            let members = if p.a_is_client_side { [x, y] } else { [y, x] };
            out.push(Group {
                members,
                pair: n,
                basis: l.basis,
            });
        }
    }
    let start = |(v, i): (usize, usize)| {
        let shift = offsets.get(v).copied().flatten().unwrap_or(0.0);
        conn(points, v, i).start.as_secs_f64() - shift
    };
    out.sort_by(|x, y| start(x.members[0]).total_cmp(&start(y.members[0])));
    let alone = grouped
        .iter()
        .enumerate()
        .flat_map(|(v, flags)| {
            let mut lone: Vec<(usize, usize)> = (0..flags.len())
                .filter(|&i| !flags[i])
                .map(|i| (v, i))
                .collect();
            lone.sort_by(|&x, &y| start(x).total_cmp(&start(y)));
            lone
        })
        .collect();
    (out, alone)
}
