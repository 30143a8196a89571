//! The flow table: every tracked connection by its 4-tuple, bounded, with one way to retire
//! flows (`retire_where`) that every caller uses.

use crate::decode::Segment;
use crate::time::Timestamp;
use rustc_hash::FxHashMap;
use std::hash::{Hash, Hasher};
use std::net::{IpAddr, SocketAddr};

/// A connection's 4-tuple, the same from either direction: each end as its address (IPv4
/// in the IPv4-mapped form, with the family kept apart) and port, the lower end first.
/// Plain integers: ordering the ends and comparing keys costs a few instructions, where
/// `IpAddr`s are compared variant first, then byte by byte.
///
/// Ordered as `(IpAddr, u16, IpAddr, u16)` would be (family, then each end): the order in
/// which flows retired together are handed over (`retire_in_order`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
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

/// Hashed as one word mixed from its fields: the shard and the table hash every frame's
/// key, and the five fields written one by one (two of them 128 bits) cost a multiply each.
/// The addresses folded into one word and the ports into another are mixed by one wide
/// multiply, high half folded onto low: the table's hasher alone, one multiply of a word
/// whose bits vary in a few places (a port, the end of an IPv4 address), leaves whole
/// ranges of the table's buckets empty (the tests count them).
impl Hash for FlowKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        const ADDRS: u64 = 0x243f_6a88_85a3_08d3;
        const PORTS: u64 = 0x1319_8a2e_0370_7344;
        let fold = |a: u128| (a as u64) ^ ((a >> 64) as u64);
        let addrs = fold(self.lo) ^ fold(self.hi).rotate_left(32);
        // The ports and the family fill the low 33 bits: the constant's high bits keep the
        // factor from being zero.
        let ports =
            u64::from(self.lo_port) | u64::from(self.hi_port) << 16 | u64::from(self.v6) << 32;
        let wide = u128::from(addrs ^ ADDRS) * u128::from(ports ^ PORTS);
        state.write_u64((wide as u64) ^ ((wide >> 64) as u64));
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

#[cfg(test)]
mod tests {
    use super::*;
    use rustc_hash::FxBuildHasher;
    use std::collections::HashSet;
    use std::hash::BuildHasher;
    use std::net::{Ipv4Addr, Ipv6Addr};

    /// A fleet's keys: `clients` addresses, `ports` source ports each, one broker.
    fn fleet(clients: u32, ports: u16, v6: bool) -> Vec<FlowKey> {
        let broker = if v6 {
            SocketAddr::new(
                IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
                8883,
            )
        } else {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 1883)
        };
        let client_ip = |i: u32| match v6 {
            true => IpAddr::V6(Ipv6Addr::from_bits(0x2001_0db8_0001 << 80 | u128::from(i))),
            false => IpAddr::V4(Ipv4Addr::from_bits(0x0a00_0000 | i)),
        };
        (0..clients)
            .flat_map(|i| (0..ports).map(move |p| SocketAddr::new(client_ip(i), 40000 + p)))
            .map(|client| FlowKey::new(client, broker))
            .collect()
    }

    #[test]
    fn keys_that_differ_in_one_address_or_port_hash_apart() {
        for v6 in [false, true] {
            let keys = fleet(256, 256, v6);
            let hashes: Vec<u64> = keys.iter().map(|k| FxBuildHasher.hash_one(k)).collect();
            let whole: HashSet<u64> = hashes.iter().copied().collect();
            assert_eq!(whole.len(), keys.len(), "v6 {v6}: every key its own hash");
            // The table's bucket of 65,536 (the low bits) and the tag kept in its control
            // bytes (the top seven): random hashes fill about 63 % of the buckets.
            let buckets: HashSet<u64> = hashes.iter().map(|h| h & 0xffff).collect();
            assert!(buckets.len() > 38_000, "v6 {v6}: {} buckets", buckets.len());
            let tags: HashSet<u64> = hashes.iter().map(|h| h >> 57).collect();
            assert_eq!(tags.len(), 128, "v6 {v6}");
        }
    }

    #[test]
    fn a_key_is_the_same_from_either_end() {
        let a: SocketAddr = "10.0.0.7:51000".parse().unwrap();
        let b: SocketAddr = "192.0.2.1:1883".parse().unwrap();
        assert_eq!(FlowKey::new(a, b), FlowKey::new(b, a));
        let hash = |k: FlowKey| FxBuildHasher.hash_one(k);
        assert_eq!(hash(FlowKey::new(a, b)), hash(FlowKey::new(b, a)));
        let other: SocketAddr = "10.0.0.7:51001".parse().unwrap();
        assert_ne!(hash(FlowKey::new(a, b)), hash(FlowKey::new(other, b)));
    }
}
