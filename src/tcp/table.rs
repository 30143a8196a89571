//! The flow table: every tracked connection by its 4-tuple, bounded, with one way to retire
//! flows (`retire_where`) that every caller uses.

use crate::decode::Segment;
use crate::time::Timestamp;
use rustc_hash::FxHashMap;
use std::net::IpAddr;

/// A connection's 4-tuple, the same from either direction.
pub type FlowKey = (IpAddr, u16, IpAddr, u16);

/// The key of the connection a segment belongs to.
pub fn flow_key(seg: &Segment<'_>) -> FlowKey {
    let a = (seg.src, seg.src_port);
    let b = (seg.dst, seg.dst_port);
    if a <= b {
        (a.0, a.1, b.0, b.1)
    } else {
        (b.0, b.1, a.0, a.1)
    }
}

/// Flows by 4-tuple, each with the time of its last packet beside it: finding the quietest
/// flows of a full table reads the table alone, not every flow's state.
pub struct FlowTable<T> {
    flows: FxHashMap<FlowKey, Stamped<T>>,
}

/// A flow and the time of its last packet.
struct Stamped<T> {
    seen: Timestamp,
    flow: T,
}

impl<T> Default for FlowTable<T> {
    fn default() -> Self {
        FlowTable {
            flows: FxHashMap::default(),
        }
    }
}

impl<T> FlowTable<T> {
    /// Flows tracked now.
    pub fn len(&self) -> usize {
        self.flows.len()
    }

    /// Whether no flow is tracked.
    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }

    /// The flow of a key, which a packet of time `now` is about to reach.
    pub fn get_mut(&mut self, k: &FlowKey, now: Timestamp) -> Option<&mut T> {
        let s = self.flows.get_mut(k)?;
        s.seen = now;
        Some(&mut s.flow)
    }

    /// Starts tracking a flow, whose first packet came at `now`.
    pub fn insert(&mut self, k: FlowKey, flow: T, now: Timestamp) {
        self.flows.insert(k, Stamped { seen: now, flow });
    }

    /// Stops tracking a flow and hands it back.
    pub fn remove(&mut self, k: &FlowKey) -> Option<T> {
        self.flows.remove(k).map(|s| s.flow)
    }

    /// Every flow tracked.
    pub fn values(&self) -> impl Iterator<Item = &T> {
        self.flows.values().map(|s| &s.flow)
    }

    /// Removes and hands back every flow for which `pred` holds.
    pub fn retire_where(&mut self, mut pred: impl FnMut(&T) -> bool) -> Vec<T> {
        let keys: Vec<FlowKey> = self
            .flows
            .iter()
            .filter(|(_, s)| pred(&s.flow))
            .map(|(k, _)| *k)
            .collect();
        keys.iter().filter_map(|k| self.remove(k)).collect()
    }

    /// Removes and hands back the `1/fraction` of flows that have been quiet longest (at
    /// least one), in one scan of the table: a flood of new flows costs one scan per batch.
    pub fn retire_quietest(&mut self, fraction: usize) -> Vec<T> {
        let mut by_age: Vec<_> = self.flows.iter().map(|(k, s)| (s.seen, *k)).collect();
        let n = (by_age.len() / fraction.max(1)).max(1).min(by_age.len());
        if n < by_age.len() {
            by_age.select_nth_unstable(n);
        }
        by_age
            .drain(..n)
            .filter_map(|(_, k)| self.remove(&k))
            .collect()
    }
}
