//! One side's write (the application records that make one inferred packet) and the
//! keepalive from the PINGREQ cadence.

use super::sizes::PlainLen;
use crate::evidence::FrameRef;
use crate::time::{Span, Timestamp};

/// Records of a write remembered one by one (the last ones, which a close peels off).
const LAST_RECS: usize = 4;
/// Records of one side this close together are one write over WebSocket.
const BURST: Span = Span(2_000_000);
/// A 2-byte plaintext: a PINGREQ, PINGRESP, 3.1.1 DISCONNECT, or in TLS 1.3 an alert.
pub const TWO: PlainLen = PlainLen::Exact(2);

#[derive(Debug, Clone, Copy)]
pub struct Write {
    /// The first record's length.
    pub head: PlainLen,
    pub first: FrameRef,
    pub last: FrameRef,
    pub total: PlainLen,
    /// The last records' lengths, oldest first (`n` of them, at most [`LAST_RECS`]).
    pub recs: [PlainLen; LAST_RECS],
    pub n: usize,
}

impl Write {
    pub fn new(at: FrameRef, len: PlainLen) -> Self {
        Write {
            head: len,
            first: at,
            last: at,
            total: len,
            recs: [len; LAST_RECS],
            n: 1,
        }
    }

    pub fn push(&mut self, at: FrameRef, len: PlainLen) {
        self.total = self.total.plus(len);
        self.last = at;
        if self.n == LAST_RECS {
            self.recs.copy_within(1.., 0);
            self.n -= 1;
        }
        self.recs[self.n] = len;
        self.n += 1;
    }

    pub fn last_rec(&self) -> Option<PlainLen> {
        self.n.checked_sub(1).map(|i| self.recs[i])
    }

    /// Takes the last record off; `None` when it was the only one left.
    pub fn pop(&mut self) -> Option<PlainLen> {
        let r = self.last_rec()?;
        self.n -= 1;
        self.total = self.total.minus(r);
        (self.n > 0 && self.total.hi() > 0).then_some(r)
    }

    /// Whether a record of `len` in frame `at` continues this write: the write began with
    /// a record the size of an MQTT fixed header (2-5 bytes) and the records after it,
    /// this one included, add up to a remaining length that header size encodes.
    pub fn continued_by(&self, len: PlainLen, at: FrameRef) -> bool {
        let PlainLen::Exact(h @ 2..=5) = self.head else {
            return false;
        };
        let rest = self.total.minus(self.head).plus(len).lo();
        let varint = match rest {
            0..=127 => 1,
            128..=16_383 => 2,
            16_384..=2_097_151 => 3,
            _ => 4,
        };
        self.last.frame() == at.frame() && len.lo() > 5 && varint == h - 1
    }

    /// Whether a record in frame `at` continues this write over WebSocket: it follows the
    /// last one within [`BURST`]. Some clients write each field of a packet as a frame of
    /// its own (MQTT.js: the fixed header byte, the length, each string), a record each,
    /// all within a millisecond or two; separate packets are further apart, or are told
    /// apart at a close (a write's last small record is its closing packet).
    pub fn burst_continued_by(&self, at: FrameRef) -> bool {
        at.ts - self.last.ts <= BURST
    }

    pub fn small(&self) -> bool {
        self.total.lo() <= 4
    }
}

/// A write's length as one number: exact for AEAD; for a CBC range, a write that fits one
/// cipher block is taken as 2 bytes (a PINGREQ, by far the most common small packet: CBC
/// cannot tell 2 from 4), anything larger as the middle of its range.
pub fn size(l: PlainLen) -> usize {
    match l {
        PlainLen::Exact(n) => n,
        PlainLen::Range(lo, hi) if lo <= 2 && hi < 16 => 2,
        PlainLen::Range(lo, hi) => (lo + hi) / 2,
    }
}

/// The keepalive interval from the times of inferred PINGREQs: the median interval, and
/// the spread (median absolute deviation) around it. A missed ping doubles one interval;
/// the median is not moved by it. `None` with fewer than two pings.
pub fn infer_keepalive(pingreqs: &[Timestamp]) -> Option<(f64, f64)> {
    if pingreqs.len() < 2 {
        return None;
    }
    let mut iv: Vec<f64> = pingreqs
        .windows(2)
        .map(|p| (p[1] - p[0]).as_secs_f64())
        .collect();
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        let m = v.len() / 2;
        if v.len() % 2 == 1 {
            v[m]
        } else {
            (v[m - 1] + v[m]) / 2.0
        }
    };
    let med = median(&mut iv);
    let mut dev: Vec<f64> = iv.iter().map(|x| (x - med).abs()).collect();
    Some((med, median(&mut dev)))
}
