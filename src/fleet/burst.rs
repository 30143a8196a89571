//! Bursts: many distinct members (client ids) at one key (a broker node, a site, a probe,
//! the fleet) within a window. The fleet's cross-client detectors are bursts of closes,
//! drops or CONNECTs.

use crate::time::{Span, Timestamp};
use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::{BTreeSet, VecDeque};

/// Most events kept per key: a window holds at most this many, later ones are counted by
/// the burst they join but not kept.
const MAX_EVENTS: usize = 4096;
/// Most bursts remembered per key (to extend rather than repeat them).
const MAX_BURSTS: usize = 64;

/// One event of a key.
#[derive(Debug, Clone)]
struct Event {
    time: Timestamp,
    member: String,
    probe: String,
}

/// A burst found at a key.
#[derive(Debug, Clone, PartialEq)]
pub struct Burst {
    /// The key (a server address, a subnet, a probe).
    pub key: String,
    /// First event.
    pub start: Timestamp,
    /// Last event so far.
    pub end: Timestamp,
    /// Distinct members.
    pub members: usize,
    /// The probes that saw its events.
    pub probes: BTreeSet<String>,
}

#[derive(Debug, Default)]
struct KeyState {
    /// Events in time order.
    events: VecDeque<Event>,
    bursts: VecDeque<(Burst, FxHashSet<String>)>,
    last: Timestamp,
}

/// Bursts at many keys: at least `min` distinct members within `window`.
#[derive(Debug)]
pub struct Bursts {
    window: Span,
    min: usize,
    keys: FxHashMap<String, KeyState>,
}

impl Bursts {
    /// A detector of `min` members within `window`.
    pub fn new(window: Span, min: usize) -> Bursts {
        Bursts {
            window,
            min: min.max(2),
            keys: FxHashMap::default(),
        }
    }

    /// Adds an event; returns the burst when this event makes a new one. An event near a
    /// burst already found extends it (see [`Bursts::bursts`]) and returns nothing.
    pub fn add(&mut self, key: &str, time: Timestamp, member: &str, probe: &str) -> Option<Burst> {
        let state = self.keys.entry(key.to_string()).or_default();
        state.last = state.last.max(time);
        let w = self.window;
        if let Some((b, members)) = state
            .bursts
            .iter_mut()
            .find(|(b, _)| time.0 >= b.start.0 - w.0 && time.0 <= b.end.0 + w.0)
        {
            extend(b, members, time, member, probe);
            return None;
        }
        insert(&mut state.events, time, member, probe);
        let burst = [(time + Span(-w.0), time), (time, time + w)]
            .into_iter()
            .find_map(|(from, to)| burst_within(key, &state.events, from, to, self.min))?;
        let members = members_within(&state.events, burst.start, burst.end);
        if state.bursts.len() == MAX_BURSTS {
            state.bursts.pop_front();
        }
        state.bursts.push_back((burst.clone(), members));
        Some(burst)
    }

    /// The bursts found so far at every key (with their members counted to now).
    pub fn bursts(&self) -> impl Iterator<Item = &Burst> {
        self.keys
            .values()
            .flat_map(|k| k.bursts.iter().map(|(b, _)| b))
    }

    /// Forgets events and bursts older than `horizon`, and keys with nothing left.
    pub fn expire(&mut self, horizon: Timestamp) {
        self.keys.retain(|_, k| {
            while k.events.front().is_some_and(|e| e.time < horizon) {
                k.events.pop_front();
            }
            k.bursts.retain(|(b, _)| b.end >= horizon);
            k.last >= horizon
        });
    }

    /// Keys tracked.
    pub fn keys(&self) -> usize {
        self.keys.len()
    }
}

fn extend(b: &mut Burst, members: &mut FxHashSet<String>, t: Timestamp, member: &str, probe: &str) {
    b.start = b.start.min(t);
    b.end = b.end.max(t);
    if members.len() < MAX_EVENTS && members.insert(member.to_string()) {
        b.members = members.len();
    }
    if b.probes.len() < MAX_EVENTS && !b.probes.contains(probe) {
        b.probes.insert(probe.to_string());
    }
}

/// Inserts in time order; the oldest event goes when the key is full.
fn insert(events: &mut VecDeque<Event>, time: Timestamp, member: &str, probe: &str) {
    if events.len() == MAX_EVENTS {
        events.pop_front();
    }
    let at = events.partition_point(|e| e.time <= time);
    events.insert(
        at,
        Event {
            time,
            member: member.to_string(),
            probe: probe.to_string(),
        },
    );
}

fn within(
    events: &VecDeque<Event>,
    from: Timestamp,
    to: Timestamp,
) -> impl Iterator<Item = &Event> {
    let first = events.partition_point(|e| e.time < from);
    events.range(first..).take_while(move |e| e.time <= to)
}

fn members_within(events: &VecDeque<Event>, from: Timestamp, to: Timestamp) -> FxHashSet<String> {
    within(events, from, to).map(|e| e.member.clone()).collect()
}

fn burst_within(
    key: &str,
    events: &VecDeque<Event>,
    from: Timestamp,
    to: Timestamp,
    min: usize,
) -> Option<Burst> {
    let members = members_within(events, from, to);
    (members.len() >= min).then_some(())?;
    let mut inside = within(events, from, to);
    let first = inside.next()?;
    let (mut end, mut probes) = (first.time, BTreeSet::from([first.probe.clone()]));
    for e in inside {
        end = e.time;
        probes.insert(e.probe.clone());
    }
    Some(Burst {
        key: key.to_string(),
        start: first.time,
        end,
        members: members.len(),
        probes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> Timestamp {
        Timestamp::from_parts(s, 0)
    }

    #[test]
    fn a_burst_needs_distinct_members_within_the_window() {
        let mut b = Bursts::new(Span::from_secs(2), 3);
        assert!(b.add("s", t(10), "a", "p1").is_none());
        assert!(b.add("s", t(10), "a", "p2").is_none(), "same member twice");
        assert!(b.add("s", t(15), "b", "p1").is_none(), "too far");
        let found = b.add("s", t(11), "c", "p2");
        assert!(found.is_none(), "a, c within 2 s: two members only");
        let found = b.add("s", t(9), "d", "p1").expect("a, c, d within 2 s");
        assert_eq!((found.start, found.end, found.members), (t(9), t(11), 3));
        assert_eq!(found.probes.len(), 2);
        assert!(b.add("s", t(12), "e", "p1").is_none(), "extends the burst");
        let all: Vec<_> = b.bursts().collect();
        assert_eq!((all.len(), all[0].members, all[0].end), (1, 4, t(12)));
        assert!(b.add("other", t(10), "x", "p1").is_none(), "keys are apart");
    }

    #[test]
    fn expiry_forgets_old_keys() {
        let mut b = Bursts::new(Span::from_secs(1), 2);
        b.add("s", t(1), "a", "p");
        b.add("q", t(100), "a", "p");
        b.expire(t(50));
        assert_eq!(b.keys(), 1);
    }
}
