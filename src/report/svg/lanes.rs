//! Which connections get a lane on the timeline, in what order, and which of their marks are
//! drawn. Pure functions of the analysis, so the chart's cost is the lanes shown and the
//! marks kept, whatever the number of connections.

use super::style::Mark;
use crate::mqtt::PacketKind;
use crate::session::What;
use crate::tcp::{Side, TcpEventKind};
use crate::time::{Span, Timestamp};
use crate::transport::ws::WsEventKind;
use crate::verdict::Judged;
use std::collections::{BTreeMap, BTreeSet};

/// Marks of one kind from one side closer than this many pixels are drawn once.
pub const SAMPLE_PX: f64 = 3.0;

/// The lanes to draw and what was left out.
#[derive(Debug)]
pub struct Plan<'a> {
    /// Connections with a lane, top to bottom.
    pub lanes: Vec<&'a Judged>,
    /// Dropped connections left out for room.
    pub hidden_drops: usize,
    /// Clean or open connections left out, by cause name.
    pub hidden_clean: BTreeMap<&'static str, usize>,
}

/// Whether a connection ended in a drop.
pub fn dropped(c: &Judged) -> bool {
    c.verdict.cause.is_drop()
}

/// Chooses at most `max` lanes: dropped connections first, then the rest; within each,
/// grouped by client id (groups in order of their first connection), each group by start.
pub fn plan(conns: &[Judged], max: usize) -> Plan<'_> {
    let mut first: BTreeMap<(bool, &str), Timestamp> = BTreeMap::new();
    for c in conns {
        if let Some(id) = c.client_id.as_deref() {
            let t = first.entry((!dropped(c), id)).or_insert(c.start);
            *t = (*t).min(c.start);
        }
    }
    let mut order: Vec<&Judged> = conns.iter().collect();
    order.sort_by_key(|c| {
        let clean = !dropped(c);
        let group = c
            .client_id
            .as_deref()
            .map_or(c.start, |id| first[&(clean, id)]);
        (clean, group, c.client_id.as_deref(), c.start, c.id)
    });
    let hidden = order.split_off(max.min(order.len()));
    let mut plan = Plan {
        lanes: order,
        hidden_drops: 0,
        hidden_clean: BTreeMap::new(),
    };
    for c in hidden {
        if dropped(c) {
            plan.hidden_drops += 1;
        } else {
            let cause = c.verdict.cause.name();
            *plan.hidden_clean.entry(cause).or_default() += 1;
        }
    }
    plan
}

/// One mark to draw on a lane.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Placed {
    /// What it marks.
    pub mark: Mark,
    /// Who sent it; `None` spans the lane (keepalive deadlines).
    pub side: Option<Side>,
    /// When.
    pub at: Timestamp,
}

/// The mark of a timeline entry, if it has one.
fn mark_of(what: &What) -> Option<Mark> {
    match what {
        What::Mqtt(p) => Some(match p.kind() {
            PacketKind::Connect | PacketKind::ConnAck => Mark::Connect,
            PacketKind::Publish => Mark::Publish,
            PacketKind::PingReq | PacketKind::PingResp => Mark::Ping,
            PacketKind::Disconnect => Mark::Disconnect,
            _ => Mark::OtherMqtt,
        }),
        What::Tcp(TcpEventKind::Retransmission) => Some(Mark::Retransmission),
        What::Tcp(TcpEventKind::Fin) => Some(Mark::Fin),
        What::Tcp(TcpEventKind::Rst) => Some(Mark::Rst),
        What::Ws(WsEventKind::Close { .. }) => Some(Mark::WsClose),
        What::Ws(WsEventKind::Ping | WsEventKind::Pong) => Some(Mark::WsPing),
        _ => None,
    }
}

/// Every mark of a connection in time order: its packets and TCP events, then its keepalive
/// deadlines.
pub fn marks(c: &Judged) -> impl Iterator<Item = Placed> + '_ {
    let events = c.timeline.iter().filter_map(|e| {
        mark_of(&e.what).map(|mark| Placed {
            mark,
            side: Some(e.side),
            at: e.at.ts,
        })
    });
    events.chain(deadlines(c))
}

/// The keepalive deadlines of a connection: 1.5 × keepalive after a client packet, kept
/// where the client then went quiet for at least one keepalive (where the deadline could
/// matter) and that fell before the connection's last packet. Missed when the client's next
/// packet came later, or never came.
pub fn deadlines(c: &Judged) -> Vec<Placed> {
    let Some(ka) = c.keepalive.filter(|&k| k > 0).map(f64::from) else {
        return Vec::new();
    };
    let sent: Vec<(Timestamp, bool)> = c
        .timeline
        .iter()
        .filter(|e| e.side == Side::Client)
        .filter_map(|e| match &e.what {
            What::Mqtt(p) => Some((e.at.ts, p.kind() == PacketKind::Disconnect)),
            _ => None,
        })
        .collect();
    let due = Span::from_secs_f64(1.5 * ka);
    let quiet = Span::from_secs_f64(ka);
    let mut out = Vec::new();
    for (i, &(t, disconnect)) in sent.iter().enumerate() {
        let deadline = t + due;
        let mark = match sent.get(i + 1) {
            _ if disconnect || deadline > c.end => continue,
            Some(&(next, _)) if next - t < quiet => continue,
            Some(&(next, _)) if next <= deadline => Mark::Deadline,
            Some(_) => Mark::MissedDeadline,
            None => Mark::MissedDeadline,
        };
        out.push(Placed {
            mark,
            side: None,
            at: deadline,
        });
    }
    out
}

/// Keeps one mark per kind, side and `SAMPLE_PX`-wide pixel column; `px` maps a time to
/// its pixel. Returns the marks kept and how many there were in all.
pub fn sample(
    marks: impl Iterator<Item = Placed>,
    px: impl Fn(Timestamp) -> f64,
) -> (Vec<Placed>, usize) {
    let mut seen = BTreeSet::new();
    let mut kept = Vec::new();
    let mut total = 0;
    for m in marks {
        total += 1;
        let side = m.side.map_or(2, |s| s.idx() as u8);
        let column = (px(m.at) / SAMPLE_PX).floor() as i64;
        let kind = Mark::ALL
            .iter()
            .chain(&Mark::WEBSOCKET)
            .position(|&k| k == m.mark)
            .unwrap_or(0);
        if seen.insert((kind, side, column)) {
            kept.push(m);
        }
    }
    (kept, total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampling_keeps_one_mark_per_pixel_column() {
        let at = |ms: i64| Placed {
            mark: Mark::Publish,
            side: Some(Side::Client),
            at: Timestamp(ms * 1_000_000),
        };
        let marks = [at(0), at(1), at(2), at(10), at(11)];
        let (kept, total) = sample(marks.into_iter(), |t| t.0 as f64 / 1e6);
        assert_eq!(total, 5);
        assert_eq!(kept, vec![at(0), at(10)]);
    }
}
