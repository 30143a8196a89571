//! A connection's ordered record of MQTT packets, TCP events and anomalies, bounded: the
//! first entries and the last ones are kept, the middle is counted.

use crate::evidence::FrameRef;
use crate::mqtt::{Packet, PacketKind};
use crate::session::Anomaly;
use crate::tcp::{Side, TcpEventKind};
use crate::transport::tls::TlsEventKind;
use crate::transport::ws::WsEventKind;
use serde::Serialize;
use std::collections::VecDeque;

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum What {
    /// An MQTT control packet.
    Mqtt(Packet),
    /// A TCP event.
    Tcp(TcpEventKind),
    /// An anomaly.
    Anomaly(Anomaly),
    /// An MQTT packet inferred from the transport's framing (TLS without keys).
    Inferred(Inferred),
    /// A TLS event.
    Tls(TlsEventKind),
    /// A WebSocket event.
    Ws(WsEventKind),
}

/// A timeline mark for an inferred packet: its type, and that it was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Inferred {
    /// The packet type.
    #[serde(rename = "type")]
    pub kind: PacketKind,
    /// Always true: the packet was inferred, not read.
    pub inferred: bool,
}

/// One timeline entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    /// The frame.
    #[serde(flatten)]
    pub at: FrameRef,
    /// Who sent it.
    pub side: Side,
    /// What it was.
    #[serde(flatten)]
    pub what: What,
}

/// The bounded timeline.
#[derive(Debug, Clone)]
pub struct Timeline {
    head: Vec<Entry>,
    tail: VecDeque<Entry>,
    head_cap: usize,
    tail_cap: usize,
    omitted: u64,
}

impl Timeline {
    /// Keeps the first `head_cap` and the last `tail_cap` entries.
    pub fn new(head_cap: usize, tail_cap: usize) -> Timeline {
        Timeline {
            head: Vec::new(),
            tail: VecDeque::new(),
            head_cap,
            tail_cap,
            omitted: 0,
        }
    }

    /// Whether it keeps no entry at all (no view asked for one).
    pub fn is_off(&self) -> bool {
        self.head_cap == 0 && self.tail_cap == 0
    }

    /// Appends an entry.
    pub fn push(&mut self, e: Entry) {
        if self.head.len() < self.head_cap {
            self.head.push(e);
            return;
        }
        if self.tail_cap == 0 {
            // A timeline with no room at all was not asked for: nothing is omitted from it.
            self.omitted += u64::from(self.head_cap > 0);
            return;
        }
        if self.tail.len() == self.tail_cap {
            self.tail.pop_front();
            self.omitted += 1;
        }
        self.tail.push_back(e);
    }

    /// Entries dropped from the middle.
    pub fn omitted(&self) -> u64 {
        self.omitted
    }

    /// The kept entries in order.
    pub fn into_entries(self) -> Vec<Entry> {
        let mut v = self.head;
        v.extend(self.tail);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Timestamp;

    fn entry(n: u64) -> Entry {
        Entry {
            at: FrameRef::new(n, Timestamp(0)),
            side: Side::Client,
            what: What::Mqtt(Packet::PingReq),
        }
    }

    #[test]
    fn keeps_head_and_tail_and_counts_the_middle() {
        let mut t = Timeline::new(2, 3);
        (1..=10).for_each(|n| t.push(entry(n)));
        assert_eq!(t.omitted(), 5);
        let frames: Vec<u64> = t.into_entries().iter().map(|e| e.at.frame()).collect();
        assert_eq!(frames, [1, 2, 8, 9, 10]);
    }
}
