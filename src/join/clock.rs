//! The clock offset between two probes, from the connections they share.
//!
//! A request seen at probe A then B and its reply seen at B then A: the path delay between
//! the probes adds to one difference and subtracts from the other, so half their sum is the
//! offset (what NTP does with its four timestamps): the SYN and SYN-ACK, or, when a capture
//! started mid-flow, the CONNECT and CONNACK. The median over the shared connections is the
//! estimate; the median absolute deviation its spread.

use super::VantagePoint;
use super::matching::Link;
use crate::session::Connection;
use crate::tcp::Side;
use crate::time::Timestamp;
use crate::verdict::Judged;
use serde::Serialize;
use std::collections::HashMap;

/// What an offset was estimated from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OffsetBasis {
    /// Request/reply pairs (SYN/SYN-ACK, CONNECT/CONNACK) of the connections both saw.
    RequestReply,
    /// Only the starts of connections with a client id unique at both probes (rough: it
    /// includes the path delay and any difference in when the captures started).
    ClientIdStarts,
}

/// How far one probe's clock reads ahead of another's.
#[derive(Debug, Clone, Serialize)]
pub struct ClockOffset {
    /// The probe whose clock is the reference.
    pub from: String,
    /// The other probe.
    pub to: String,
    /// `to`'s clock minus `from`'s, seconds.
    pub seconds: f64,
    /// The median absolute deviation of the samples, seconds.
    pub spread_seconds: f64,
    /// How many request/reply pairs gave a sample.
    pub samples: usize,
    /// What the samples were.
    pub basis: OffsetBasis,
    #[serde(skip)]
    from_index: usize,
}

impl ClockOffset {
    /// The offset with the probes' names.
    pub(super) fn named(mut self, points: &[VantagePoint], from: usize, to: usize) -> Self {
        self.from = points[from].name.clone();
        self.to = points[to].name.clone();
        self.from_index = from;
        self
    }

    /// The other probe's clock minus probe `v`'s (one of the two).
    pub fn seconds_from(&self, v: usize) -> f64 {
        if v == self.from_index {
            self.seconds
        } else {
            -self.seconds
        }
    }
}

/// The offset of `b`'s clock against `a`'s from the request/reply pairs of linked records.
pub(super) fn estimate(a: &[Judged], b: &[Judged], links: &[Link]) -> Option<ClockOffset> {
    let samples = links
        .iter()
        .flat_map(|l| samples(&a[l.a], &b[l.b]))
        .collect();
    from_samples(samples, OffsetBasis::RequestReply)
}

/// Times at two probes of one packet from the client, then of one from the server.
type Pair = ((Timestamp, Timestamp), (Timestamp, Timestamp));

/// The most a request/reply pair's two differences may disagree, seconds: twice the
/// one-way delay between the probes. More means one probe saw a copy the other did not (a
/// SYN-ACK lost between them and retransmitted a second later).
const MAX_PAIR_DISAGREEMENT: f64 = 0.5;

/// One connection's offset samples: for each request/reply pair both probes saw, half the
/// sum of the two time differences, seconds. The pairs: the SYN and SYN-ACK, the CONNECT
/// and CONNACK, the last payload each way when both probes saw the same last bytes (a copy
/// lost between them is retransmitted, and the last copy is the one both saw), and, without
/// a handshake, the first segment each way when both start at the same sequence number.
pub(super) fn samples(a: &Connection, b: &Connection) -> Vec<f64> {
    let handshake = |c: &Connection| Some((c.handshake.syn?.ts, c.handshake.syn_ack?.ts));
    let connect = |c: &Connection| Some((c.connect?.ts, c.connack?.at.ts));
    let pairs = [
        handshake(a).zip(handshake(b)),
        connect(a).zip(connect(b)),
        last_payloads(a, b),
        handshake(a)
            .is_none()
            .then(|| first_segments(a, b))
            .flatten(),
    ];
    let diff = |x: Timestamp, y: Timestamp| (y - x).as_secs_f64();
    pairs
        .into_iter()
        .flatten()
        .map(|((aq, ar), (bq, br))| (diff(aq, bq), diff(ar, br)))
        .filter(|(fwd, rev)| (fwd - rev).abs() <= MAX_PAIR_DISAGREEMENT)
        .map(|(fwd, rev)| (fwd + rev) / 2.0)
        .collect()
}

/// The last payload each way at both probes, when both saw it end at the same sequence
/// number.
fn last_payloads(a: &Connection, b: &Connection) -> Option<Pair> {
    let last = |c: &Connection, side: Side| {
        let h = c.half(side);
        Some((h.last_data?.ts, h.seq_span()?.1))
    };
    let mut times = [(Timestamp(0), Timestamp(0)); 2];
    for (slot, side) in times.iter_mut().zip([Side::Client, Side::Server]) {
        let ((ta, ea), (tb, eb)) = (last(a, side)?, last(b, side)?);
        if ea != eb {
            return None;
        }
        *slot = (ta, tb);
    }
    let [(aq, bq), (ar, br)] = times;
    Some(((aq, ar), (bq, br)))
}

/// The first captured segment of each side at both probes, when they are the same segments.
fn first_segments(a: &Connection, b: &Connection) -> Option<Pair> {
    let first = |c: &Connection, side: Side| {
        let h = c.half(side);
        Some((h.first_segment?.ts, h.first_seq?))
    };
    let mut times = [(Timestamp(0), Timestamp(0)); 2];
    for (slot, side) in times.iter_mut().zip([Side::Client, Side::Server]) {
        let ((ta, sa), (tb, sb)) = (first(a, side)?, first(b, side)?);
        if sa != sb {
            return None;
        }
        *slot = (ta, tb);
    }
    let [(aq, bq), (ar, br)] = times;
    Some(((aq, ar), (bq, br)))
}

/// A rough offset when no connection could be linked by sequence numbers: the start
/// differences of the connections whose client id appears once at each probe.
pub(super) fn rough_from_client_ids(a: &[Judged], b: &[Judged]) -> Option<ClockOffset> {
    let (in_a, in_b) = (once_by_client_id(a), once_by_client_id(b));
    let samples = in_a
        .iter()
        .filter_map(|(id, ia)| {
            let (ia, ib) = ((*ia)?, (*in_b.get(id)?)?);
            (a[ia].server == b[ib].server).then(|| (b[ib].start - a[ia].start).as_secs_f64())
        })
        .collect();
    from_samples(samples, OffsetBasis::ClientIdStarts)
}

/// Each client id's connection index, None for an id seen more than once.
fn once_by_client_id(conns: &[Judged]) -> HashMap<&str, Option<usize>> {
    let mut seen: HashMap<&str, Option<usize>> = HashMap::new();
    for (i, c) in conns.iter().enumerate() {
        if let Some(id) = c.client_id.as_deref() {
            seen.entry(id).and_modify(|e| *e = None).or_insert(Some(i));
        }
    }
    seen
}

fn from_samples(mut samples: Vec<f64>, basis: OffsetBasis) -> Option<ClockOffset> {
    let seconds = median(&mut samples)?;
    let mut deviations: Vec<f64> = samples.iter().map(|s| (s - seconds).abs()).collect();
    Some(ClockOffset {
        from: String::new(),
        to: String::new(),
        seconds,
        spread_seconds: median(&mut deviations).unwrap_or(0.0),
        samples: samples.len(),
        basis,
        from_index: 0,
    })
}

fn median(xs: &mut [f64]) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    Some(if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    })
}

/// Each probe's clock against the first probe's, chained through the pairs that share
/// connections (None for a probe no chain reaches).
pub(super) fn offsets_from_first(
    n: usize,
    pairs: &[super::matching::PairMatch],
) -> Vec<Option<f64>> {
    let mut off = vec![None; n];
    if let Some(first) = off.first_mut() {
        *first = Some(0.0);
    }
    for _ in 0..n {
        for p in pairs {
            let Some(o) = &p.offset else { continue };
            match (off[p.a], off[p.b]) {
                (Some(x), None) => off[p.b] = Some(x + o.seconds_from(p.a)),
                (None, Some(y)) => off[p.a] = Some(y + o.seconds_from(p.b)),
                _ => {}
            }
        }
    }
    off
}
