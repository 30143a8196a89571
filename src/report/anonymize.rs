//! `--anonymize`: a transform of the `Analysis` that every view then renders, replacing
//! client ids and IP addresses consistently by a keyed hash.
//!
//! The same input under the same key always gets the same pseudonym within a run (and across
//! runs built with the same Rust release), so a takeover still shows as two connections of
//! one client id. The hash is std's SipHash (`DefaultHasher`) over the key then the value;
//! without the key a pseudonym cannot be tested against a guessed id or address.
//!
//! Pseudonyms: client ids become `client-` and 8 hex digits; IPv4 addresses fall in
//! 198.18.0.0/15 (reserved for benchmarking), IPv6 in 2001:db8::/32 (documentation), so
//! they never look like a real host. User names, when shown, are hashed like client ids.
//! Every string of the analysis (explanations, hints, findings, reason strings, topics,
//! anomaly reasons) has the originals replaced by their pseudonyms.

use crate::engine::Analysis;
use crate::mqtt::Packet;
use crate::session::{Anomaly, Entry, What};
use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Replaces client ids, user names and IP addresses in `a` by keyed pseudonyms.
pub fn anonymize(a: &mut Analysis, key: &[u8]) {
    let mut names = Names {
        key,
        ids: HashMap::new(),
        ips: HashMap::new(),
    };
    for c in a.connections.iter_mut().map(|j| &mut j.connection) {
        c.client = names.addr(c.client);
        c.server = names.addr(c.server);
        for id in [&mut c.client_id, &mut c.username].into_iter().flatten() {
            *id = names.id(id);
        }
        for e in &mut c.timeline {
            names.entry(e);
        }
        for e in &mut c.anomalies {
            names.entry(e);
        }
    }
    for f in &mut a.findings {
        if let Some(id) = &mut f.client_id {
            *id = names.id(id);
        }
    }
    // Every original now has a pseudonym: replace them inside free text, longest first so
    // that one original inside another (an id containing an address) is replaced whole.
    let mut pairs: Vec<(String, String)> = names.ids.into_iter().collect();
    pairs.extend(
        names
            .ips
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    pairs.retain(|(from, _)| !from.is_empty());
    pairs.sort_by(|x, y| y.0.len().cmp(&x.0.len()).then_with(|| x.0.cmp(&y.0)));
    let scrub = |s: &mut String| {
        for (from, to) in &pairs {
            if s.contains(from.as_str()) {
                *s = s.replace(from.as_str(), to);
            }
        }
    };
    for c in &mut a.connections {
        scrub(&mut c.verdict.explanation);
        c.verdict.hints.iter_mut().for_each(scrub);
        let c = &mut c.connection;
        if let Some(text) = c.disconnect.as_mut().and_then(|d| d.reason_string.as_mut()) {
            scrub(text);
        }
        for e in c.timeline.iter_mut().chain(c.anomalies.iter_mut()) {
            strings_of(e, &mut |s| scrub(s));
        }
    }
    for f in &mut a.findings {
        scrub(&mut f.explanation);
    }
}

/// The pseudonyms handed out so far.
struct Names<'k> {
    key: &'k [u8],
    ids: HashMap<String, String>,
    ips: HashMap<IpAddr, IpAddr>,
}

impl Names<'_> {
    fn hash(&self, value: impl Hash) -> u64 {
        let mut h = DefaultHasher::new();
        self.key.hash(&mut h);
        value.hash(&mut h);
        h.finish()
    }

    fn id(&mut self, id: &str) -> String {
        if id.is_empty() {
            return String::new();
        }
        if let Some(p) = self.ids.get(id) {
            return p.clone();
        }
        let p = format!("client-{:08x}", self.hash(("id", id)) as u32);
        self.ids.insert(id.to_string(), p.clone());
        p
    }

    fn ip(&mut self, ip: IpAddr) -> IpAddr {
        if let Some(p) = self.ips.get(&ip) {
            return *p;
        }
        let h = self.hash(("ip", ip));
        let p = match ip {
            IpAddr::V4(_) => {
                let host = (h as u32) & 0x0001_FFFF;
                IpAddr::V4(Ipv4Addr::from(0xC612_0000 | host))
            }
            IpAddr::V6(_) => {
                let host = u128::from(h) | (u128::from(h.rotate_left(17)) << 64);
                let prefix = 0x2001_0db8u128 << 96;
                IpAddr::V6(Ipv6Addr::from(prefix | (host & ((1u128 << 96) - 1))))
            }
        };
        self.ips.insert(ip, p);
        p
    }

    fn addr(&mut self, a: SocketAddr) -> SocketAddr {
        SocketAddr::new(self.ip(a.ip()), a.port())
    }

    /// Pseudonyms for the ids a timeline entry names outright.
    fn entry(&mut self, e: &mut Entry) {
        if let What::Mqtt(Packet::Connect(c)) = &mut e.what {
            c.client_id = self.id(&c.client_id);
            if let Some(u) = &mut c.username {
                *u = self.id(u);
            }
        }
    }
}

/// Calls `f` on every free-text string of a timeline entry (topics, reason strings and
/// malformed-packet reasons may quote a client id or an address).
fn strings_of(e: &mut Entry, f: &mut impl FnMut(&mut String)) {
    match &mut e.what {
        What::Mqtt(Packet::Publish { topic, .. }) => f(topic),
        What::Mqtt(Packet::Subscribe { topics, .. }) => topics.iter_mut().for_each(|t| f(&mut t.0)),
        What::Mqtt(Packet::Unsubscribe { topics, .. }) => topics.iter_mut().for_each(f),
        What::Mqtt(Packet::Disconnect {
            reason_string: Some(s),
            ..
        }) => f(s),
        What::Anomaly(Anomaly::Malformed { reason }) => f(reason),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudonyms_are_consistent_keyed_and_in_reserved_ranges() {
        let key = b"k1";
        let mut n = Names {
            key,
            ids: HashMap::new(),
            ips: HashMap::new(),
        };
        let a = n.id("sensor-17");
        assert_eq!(a, n.id("sensor-17"));
        assert_ne!(a, n.id("sensor-18"));
        assert!(a.starts_with("client-"));
        let v4 = n.ip("10.77.1.2".parse().unwrap());
        assert!(matches!(v4, IpAddr::V4(x) if x.octets()[0] == 198 && x.octets()[1] & 0xFE == 18));
        let v6 = n.ip("fd77:1::2".parse().unwrap());
        assert!(v6.to_string().starts_with("2001:db8:"));
        let mut other = Names {
            key: b"k2",
            ids: HashMap::new(),
            ips: HashMap::new(),
        };
        assert_ne!(a, other.id("sensor-17"));
    }
}
