//! Summary metrics across all connections.

use crate::mqtt::PacketKind;
use crate::verdict::Cause;
use crate::verdict::Judged;
use serde::Serialize;
use std::collections::BTreeMap;

/// Minimum, mean and maximum of a set of durations, in seconds.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Stats {
    /// Smallest.
    pub min: f64,
    /// Mean.
    pub mean: f64,
    /// Largest.
    pub max: f64,
    /// How many values.
    pub count: usize,
}

impl Stats {
    fn of(xs: &[f64]) -> Stats {
        if xs.is_empty() {
            return Stats::default();
        }
        let r = |x: f64| (x * 1000.0).round() / 1000.0;
        Stats {
            min: r(xs.iter().copied().fold(f64::INFINITY, f64::min)),
            mean: r(xs.iter().sum::<f64>() / xs.len() as f64),
            max: r(xs.iter().copied().fold(f64::NEG_INFINITY, f64::max)),
            count: xs.len(),
        }
    }
}

/// The numbers an operator asks first.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// Connections analyzed.
    pub connections: usize,
    /// Connections that dropped (any cause but a clean DISCONNECT or still open).
    pub drops: usize,
    /// Connections by cause.
    pub by_cause: BTreeMap<&'static str, usize>,
    /// Drops by layer.
    pub drops_by_layer: BTreeMap<&'static str, usize>,
    /// Drops followed by a new connection of the same client id.
    pub recoveries: usize,
    /// Session duration, seconds.
    pub duration: Stats,
    /// Time from a close to the same client's next connection, seconds.
    pub time_to_reconnect: Stats,
    /// Every time to reconnect, seconds: from a connection's last packet to the start of the
    /// same client id's next connection (what `time_to_reconnect` sums up; charts draw it).
    #[serde(skip)]
    pub reconnect_waits: Vec<f64>,
    /// PUBLISH packets, both directions.
    pub messages_published: u64,
}

/// Computes the summary.
pub fn summarize(conns: &[Judged]) -> Summary {
    let mut s = Summary {
        connections: conns.len(),
        ..Summary::default()
    };
    for c in conns {
        let v = &c.verdict;
        *s.by_cause.entry(v.cause.name()).or_default() += 1;
        if v.cause.is_drop() {
            s.drops += 1;
            let layer = v.layer.map_or("unknown", |l| l.name());
            *s.drops_by_layer.entry(layer).or_default() += 1;
        }
        s.messages_published += c.packets.get(PacketKind::Publish);
    }
    let durations: Vec<f64> = conns.iter().map(|c| c.duration.as_secs_f64()).collect();
    s.duration = Stats::of(&durations);
    let mut waits = Vec::new();
    for pair in successive_connections(conns) {
        waits.push((pair.1.start - pair.0.end).as_secs_f64().max(0.0));
        let v = &pair.0.verdict;
        let dropped = v.cause.is_drop() && v.cause != Cause::ConnectRefused;
        s.recoveries += usize::from(dropped);
    }
    s.time_to_reconnect = Stats::of(&waits);
    s.reconnect_waits = waits;
    s
}

/// Each connection paired with the next connection of the same client id, in start order.
fn successive_connections(conns: &[Judged]) -> Vec<(&Judged, &Judged)> {
    let mut by_client: BTreeMap<&str, Vec<&Judged>> = BTreeMap::new();
    for c in conns {
        if let Some(id) = c.client_id.as_deref() {
            by_client.entry(id).or_default().push(c);
        }
    }
    let mut pairs = Vec::new();
    for group in by_client.values_mut() {
        group.sort_by_key(|c| (c.start, c.id));
        pairs.extend(group.windows(2).map(|p| (p[0], p[1])));
    }
    pairs
}
