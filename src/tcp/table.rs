//! The flow table: every tracked connection by its 4-tuple, bounded, with one way to retire
//! flows (`retire_where`) that every caller uses.

use crate::decode::Segment;
use crate::time::Timestamp;
use rustc_hash::FxHashMap;
use std::net::{IpAddr, SocketAddr};

/// A connection's 4-tuple, the same from either direction: each end as its address (IPv4
/// in the IPv4-mapped form, with the family kept apart) and port, the lower end first.
/// Plain integers: ordering the ends and comparing keys costs a few instructions, where
/// `IpAddr`s are compared variant first, then byte by byte.
///
/// Ordered as `(IpAddr, u16, IpAddr, u16)` would be (family, then each end): the order in
/// which flows retired together are handed over (`retire_in_order`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowKey {
    v6: bool,
    lo: u128,
    lo_port: u16,
    hi: u128,
    hi_port: u16,
}

impl FlowKey {
    /// The key of the connection between two ends, given in either order.
    pub fn new(a: SocketAddr, b: SocketAddr) -> FlowKey {
        FlowKey::of((a.ip(), a.port()), (b.ip(), b.port()))
    }

    fn of(a: (IpAddr, u16), b: (IpAddr, u16)) -> FlowKey {
        let v6 = a.0.is_ipv6();
        let (a, b) = ((bits(a.0), a.1), (bits(b.0), b.1));
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        FlowKey {
            v6,
            lo: lo.0,
            lo_port: lo.1,
            hi: hi.0,
            hi_port: hi.1,
        }
    }
}

/// An address as 128 bits.
fn bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().to_bits(),
        IpAddr::V6(v6) => v6.to_bits(),
    }
}

/// The key of the connection a segment belongs to.
pub fn flow_key(seg: &Segment<'_>) -> FlowKey {
    FlowKey::of((seg.src, seg.src_port), (seg.dst, seg.dst_port))
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

    /// Removes and hands back every flow for which `pred` holds, in retirement order (see
    /// `retire_in_order`).
    pub fn retire_where(&mut self, mut pred: impl FnMut(&T) -> bool) -> Vec<T> {
        let gone = self
            .flows
            .iter()
            .filter(|(_, s)| pred(&s.flow))
            .map(|(k, s)| (s.seen, *k))
            .collect();
        self.retire_in_order(gone)
    }

    /// Removes and hands back the `1/fraction` of flows that have been quiet longest (at
    /// least one), in one scan of the table: a flood of new flows costs one scan per batch.
    pub fn retire_quietest(&mut self, fraction: usize) -> Vec<T> {
        let mut by_age: Vec<_> = self.flows.iter().map(|(k, s)| (s.seen, *k)).collect();
        let n = (by_age.len() / fraction.max(1)).max(1).min(by_age.len());
        if n < by_age.len() {
            by_age.select_nth_unstable(n);
            by_age.truncate(n);
        }
        self.retire_in_order(by_age)
    }

    /// Removes the flows of `gone` and hands them back by their last packet, then 4-tuple,
    /// not in the table's order: what a full cap keeps of flows retired together does not
    /// depend on how keys hash.
    fn retire_in_order(&mut self, mut gone: Vec<(Timestamp, FlowKey)>) -> Vec<T> {
        gone.sort_unstable();
        gone.iter().filter_map(|(_, k)| self.remove(k)).collect()
    }
}
