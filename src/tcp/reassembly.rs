//! In-order delivery of one direction of a TCP stream.
//!
//! Segments arrive in capture order; bytes leave in sequence order exactly once. Bytes the
//! capture never held (a hole in the capture, or a snaplen cut) leave as a `Gap` of their
//! length, so the parser above knows how much it missed. Buffered out-of-order data is
//! bounded by a cap; past it the missing range is declared a hole.

use super::seq::Seq;
use crate::evidence::FrameRef;
use std::collections::BTreeMap;

/// A piece of the in-order stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Piece<'a> {
    /// Bytes as captured.
    Data(&'a [u8]),
    /// This many bytes were sent but are not in the capture (a hole).
    Gap(u64),
    /// This many bytes of a captured segment were cut by the snapshot length.
    Cut(u64),
}

/// How one segment related to the stream so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// Carried the next bytes (or nothing new and nothing old: a pure ACK).
    InOrder,
    /// Every byte was already delivered.
    Retransmission,
    /// A TCP keep-alive probe: one byte (or none) just below the next sequence number.
    KeepAliveProbe,
    /// Some bytes were new, some already delivered.
    Overlap,
    /// Ahead of the next expected byte: buffered until the hole fills.
    OutOfOrder,
}

/// Counters a reassembler keeps.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ReassemblyStats {
    /// Holes declared (bytes missing from the capture).
    pub holes: u64,
    /// Bytes missing in those holes.
    pub hole_bytes: u64,
    /// Segments that arrived ahead of the stream.
    pub out_of_order: u64,
    /// Times the out-of-order buffer reached its cap.
    pub buffer_cap_hits: u64,
}

struct Chunk {
    seq: Seq,
    wire_len: u64,
    data: Vec<u8>,
    frame: FrameRef,
}

/// Bookkeeping bytes charged against the cap for each buffered chunk, on top of its data, so
/// that a flood of tiny (or snaplen-cut, dataless) segments fills the buffer too.
const CHUNK_COST: usize = 64;

/// One direction's reassembler. Most streams arrive in order with nothing missing, so what
/// only disorder and holes need (the buffer and its counters) is allocated when they first
/// happen: an in-order stream costs a few dozen bytes and no allocation.
pub struct Reassembler {
    next: Option<Seq>,
    /// Stream offset of `next`, counted from the first sequence number seen (64-bit, so it
    /// never wraps): the key of buffered chunks, which keeps them in stream order.
    next_off: u64,
    fin_at: Option<Seq>,
    cap: usize,
    disorder: Option<Box<Disorder>>,
}

/// The out-of-order buffer and the counters of disorder and holes.
#[derive(Default)]
struct Disorder {
    pending: BTreeMap<u64, Chunk>,
    pending_bytes: usize,
    stats: ReassemblyStats,
}

/// ACKs further ahead than this are bogus, not evidence of a capture hole.
const MAX_PLAUSIBLE_ACK_JUMP: i64 = 1 << 30;

impl Reassembler {
    /// A reassembler buffering at most `cap` bytes out of order.
    pub fn new(cap: usize) -> Self {
        Reassembler {
            next: None,
            next_off: 0,
            fin_at: None,
            cap,
            disorder: None,
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> ReassemblyStats {
        self.disorder.as_ref().map(|d| d.stats).unwrap_or_default()
    }

    /// Bytes currently buffered out of order (data plus per-chunk bookkeeping).
    pub fn buffered(&self) -> usize {
        self.disorder.as_ref().map_or(0, |d| d.pending_bytes)
    }

    /// The disorder state, allocated on first use.
    fn disorder(&mut self) -> &mut Disorder {
        self.disorder.get_or_insert_with(Box::default)
    }

    /// The first buffered chunk's sequence number and frame.
    fn first_pending(&self) -> Option<(Seq, FrameRef)> {
        let d = self.disorder.as_ref()?;
        d.pending.first_key_value().map(|(_, c)| (c.seq, c.frame))
    }

    /// Moves the next expected sequence number forward to `to`.
    fn advance(&mut self, to: Seq) {
        if let Some(next) = self.next {
            self.next_off = self.next_off.wrapping_add_signed(to.since(next));
        }
        self.next = Some(to);
    }

    /// The next sequence number expected, once known.
    pub fn next_seq(&self) -> Option<Seq> {
        self.next
    }

    /// A SYN was sent with sequence number `isn`: data starts right after it.
    pub fn syn(&mut self, isn: Seq) {
        if self.next.is_none() {
            self.advance(isn.plus(1));
        }
    }

    /// Takes one segment: `data` are its captured payload bytes, `wire_len` its payload length
    /// on the wire, `fin` whether it carried FIN. Delivers what became in-order to `out`.
    pub fn segment(
        &mut self,
        seq: Seq,
        data: &[u8],
        wire_len: u64,
        fin: bool,
        frame: FrameRef,
        out: &mut impl FnMut(Piece<'_>, FrameRef),
    ) -> Arrival {
        if self.next.is_none() {
            self.advance(seq);
        }
        let next = self.next.unwrap_or(seq);
        if fin && self.fin_at.is_none() {
            self.fin_at = Some(seq.plus(wire_len));
        }
        let rel = seq.since(next);
        let end = rel + wire_len as i64;
        let arrival = if wire_len == 0 {
            Arrival::InOrder
        } else if end <= 0 {
            if rel == -1 && wire_len <= 1 {
                Arrival::KeepAliveProbe
            } else {
                Arrival::Retransmission
            }
        } else if rel > 0 {
            self.buffer(seq, data, wire_len, frame, out);
            return Arrival::OutOfOrder;
        } else {
            self.deliver(seq, data, wire_len, frame, out);
            if rel < 0 {
                Arrival::Overlap
            } else {
                Arrival::InOrder
            }
        };
        self.drain(out);
        self.pass_fin();
        arrival
    }

    /// The peer acknowledged everything before `ack`: bytes before it that the capture
    /// never showed are a hole.
    pub fn acked_to(&mut self, ack: Seq, out: &mut impl FnMut(Piece<'_>, FrameRef), at: FrameRef) {
        let Some(next) = self.next else { return };
        let ahead = ack.since(next);
        if ahead <= 0 || ahead > MAX_PLAUSIBLE_ACK_JUMP {
            return;
        }
        let limit = match self.fin_at {
            Some(f) if ack.after(f) => f,
            _ => ack,
        };
        self.fill_hole_to(limit, out, at);
    }

    /// The stream is over (close or end of capture): deliver whatever is buffered, with
    /// holes where bytes are missing.
    pub fn flush(&mut self, out: &mut impl FnMut(Piece<'_>, FrameRef)) {
        while let Some((seq, frame)) = self.first_pending() {
            self.fill_hole_to(seq, out, frame);
        }
    }

    fn fill_hole_to(&mut self, to: Seq, out: &mut impl FnMut(Piece<'_>, FrameRef), at: FrameRef) {
        loop {
            self.drain(out);
            let Some(next) = self.next else { return };
            let missing = to.since(next);
            if missing <= 0 {
                break;
            }
            let stop = match self.first_pending() {
                Some((seq, _)) if seq.since(next) < missing => seq,
                _ => to,
            };
            let len = stop.since(next) as u64;
            let stats = &mut self.disorder().stats;
            stats.holes += 1;
            stats.hole_bytes += len;
            out(Piece::Gap(len), at);
            self.advance(stop);
        }
        self.pass_fin();
    }

    /// Delivers the part of a segment at or after `next` (the caller checked it overlaps).
    fn deliver(
        &mut self,
        seq: Seq,
        data: &[u8],
        wire_len: u64,
        frame: FrameRef,
        out: &mut impl FnMut(Piece<'_>, FrameRef),
    ) {
        let Some(next) = self.next else { return };
        let skip = next.since(seq).max(0) as u64;
        let captured = data.len() as u64;
        if skip < captured {
            out(Piece::Data(&data[skip as usize..]), frame);
        }
        let cut = wire_len.saturating_sub(captured.max(skip));
        if cut > 0 {
            out(Piece::Cut(cut), frame);
        }
        self.advance(seq.plus(wire_len));
    }

    fn buffer(
        &mut self,
        seq: Seq,
        data: &[u8],
        wire_len: u64,
        frame: FrameRef,
        out: &mut impl FnMut(Piece<'_>, FrameRef),
    ) {
        let (next, next_off, cap) = (self.next, self.next_off, self.cap);
        let d = self.disorder();
        d.stats.out_of_order += 1;
        let Some(next) = next else { return };
        let key = next_off.wrapping_add_signed(seq.since(next));
        if d.pending.get(&key).is_some_and(|c| c.wire_len >= wire_len) {
            return;
        }
        d.pending_bytes += data.len() + CHUNK_COST;
        let chunk = Chunk {
            seq,
            wire_len,
            data: data.to_vec(),
            frame,
        };
        if let Some(shorter) = d.pending.insert(key, chunk) {
            d.pending_bytes -= shorter.data.len() + CHUNK_COST;
        }
        if d.pending_bytes > cap {
            d.stats.buffer_cap_hits += 1;
            self.flush(out);
        }
    }

    /// Delivers buffered chunks that the stream has reached.
    fn drain(&mut self, out: &mut impl FnMut(Piece<'_>, FrameRef)) {
        while let Some(d) = self.disorder.as_mut()
            && let Some(entry) = d.pending.first_entry()
        {
            let next = self.next.unwrap_or_default();
            if entry.get().seq.since(next) > 0 {
                break;
            }
            let chunk = entry.remove();
            d.pending_bytes -= chunk.data.len() + CHUNK_COST;
            if chunk.seq.plus(chunk.wire_len).since(next) > 0 {
                self.deliver(chunk.seq, &chunk.data, chunk.wire_len, chunk.frame, out);
            }
        }
    }

    fn pass_fin(&mut self) {
        if let (Some(next), Some(fin)) = (self.next, self.fin_at)
            && next == fin
        {
            self.advance(fin.plus(1));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Timestamp;
    use proptest::prelude::*;

    fn at(n: u64) -> FrameRef {
        FrameRef::new(n, Timestamp(n as i64))
    }

    /// Feeds segments and returns the delivered stream, with gaps as `None` bytes.
    fn run(segs: &[(u32, &[u8], u64)], flush: bool) -> (Vec<Option<u8>>, Vec<Arrival>) {
        let mut r = Reassembler::new(1 << 20);
        let mut got = Vec::new();
        let mut arrivals = Vec::new();
        let mut sink = |p: Piece<'_>, _| match p {
            Piece::Data(d) => got.extend(d.iter().map(|b| Some(*b))),
            Piece::Gap(n) | Piece::Cut(n) => got.extend(std::iter::repeat_n(None, n as usize)),
        };
        for (i, (seq, data, wire)) in segs.iter().enumerate() {
            arrivals.push(r.segment(Seq(*seq), data, *wire, false, at(i as u64), &mut sink));
        }
        if flush {
            r.flush(&mut sink);
        }
        (got, arrivals)
    }

    fn bytes(v: &[Option<u8>]) -> Vec<u8> {
        v.iter().map(|b| b.unwrap_or(b'?')).collect()
    }

    #[test]
    fn in_order_segments_pass_through() {
        let (got, arr) = run(&[(100, b"abc", 3), (103, b"de", 2)], false);
        assert_eq!(bytes(&got), b"abcde");
        assert_eq!(arr, [Arrival::InOrder, Arrival::InOrder]);
    }

    #[test]
    fn out_of_order_waits_for_the_hole_to_fill() {
        let (got, arr) = run(&[(100, b"ab", 2), (104, b"ef", 2), (102, b"cd", 2)], false);
        assert_eq!(bytes(&got), b"abcdef");
        assert_eq!(arr[1], Arrival::OutOfOrder);
    }

    #[test]
    fn retransmission_is_not_delivered_twice() {
        let (got, arr) = run(&[(100, b"abcd", 4), (100, b"abcd", 4)], false);
        assert_eq!(bytes(&got), b"abcd");
        assert_eq!(arr[1], Arrival::Retransmission);
    }

    #[test]
    fn overlap_delivers_only_the_new_tail_and_keeps_first_bytes() {
        let (got, arr) = run(&[(100, b"abcd", 4), (102, b"XXef", 4)], false);
        assert_eq!(bytes(&got), b"abcdef");
        assert_eq!(arr[1], Arrival::Overlap);
    }

    #[test]
    fn keepalive_probe_is_recognised() {
        let (_, arr) = run(&[(100, b"abcd", 4), (103, b"d", 1)], false);
        assert_eq!(arr[1], Arrival::KeepAliveProbe);
    }

    #[test]
    fn snaplen_cut_becomes_a_gap_of_the_missing_length() {
        let (got, _) = run(&[(100, b"ab", 6), (106, b"gh", 2)], false);
        assert_eq!(got.len(), 8);
        assert_eq!(got.iter().filter(|b| b.is_none()).count(), 4);
        assert_eq!(&bytes(&got)[6..], b"gh");
    }

    #[test]
    fn flush_declares_the_hole_before_buffered_data() {
        let (got, _) = run(&[(100, b"ab", 2), (105, b"fg", 2)], true);
        assert_eq!(bytes(&got), b"ab???fg");
    }

    #[test]
    fn ack_past_missing_bytes_declares_a_hole() {
        let mut r = Reassembler::new(1024);
        let mut gaps = Vec::new();
        let mut sink = |p: Piece<'_>, _| {
            if let Piece::Gap(n) = p {
                gaps.push(n)
            }
        };
        r.segment(Seq(10), b"abc", 3, false, at(1), &mut sink);
        r.acked_to(Seq(20), &mut sink, at(2));
        assert_eq!(gaps, [7]);
        assert_eq!(r.next_seq(), Some(Seq(20)));
    }

    #[test]
    fn ack_of_fin_is_not_a_hole() {
        let mut r = Reassembler::new(1024);
        let mut gaps = 0;
        let mut sink = |p: Piece<'_>, _| gaps += matches!(p, Piece::Gap(_)) as u32;
        r.segment(Seq(10), b"abc", 3, true, at(1), &mut sink);
        r.acked_to(Seq(14), &mut sink, at(2));
        assert_eq!(gaps, 0);
    }

    #[test]
    fn buffer_cap_forces_a_hole() {
        let mut r = Reassembler::new(4);
        let mut got = Vec::new();
        let mut sink = |p: Piece<'_>, _| match p {
            Piece::Data(d) => got.extend_from_slice(d),
            Piece::Gap(n) | Piece::Cut(n) => got.extend(std::iter::repeat_n(b'?', n as usize)),
        };
        r.segment(Seq(0), b"a", 1, false, at(1), &mut sink);
        r.segment(Seq(3), b"def", 3, false, at(2), &mut sink);
        r.segment(Seq(6), b"gh", 2, false, at(3), &mut sink);
        assert_eq!(got, b"a??defgh");
        assert_eq!(r.stats().buffer_cap_hits, 1);
        assert_eq!(r.buffered(), 0);
    }

    #[test]
    fn dataless_cut_segments_still_fill_the_buffer() {
        let mut r = Reassembler::new(1024);
        let mut gaps = 0u64;
        let mut sink = |p: Piece<'_>, _| {
            if let Piece::Gap(n) | Piece::Cut(n) = p {
                gaps += n
            }
        };
        r.segment(Seq(0), b"a", 1, false, at(1), &mut sink);
        for i in 0..100 {
            r.segment(Seq(2 + i), b"", 1, false, at(2), &mut sink);
        }
        assert!(r.stats().buffer_cap_hits >= 1);
        assert!(r.buffered() <= 1024);
        assert!(gaps > 0);
    }

    #[test]
    fn a_wide_out_of_order_window_fills_in_one_pass() {
        // 200,000 one-byte segments ahead of a missing first byte: buffering and draining
        // them must not rescan the buffer per segment (that took minutes).
        const N: u32 = 200_000;
        let mut r = Reassembler::new(usize::MAX);
        let mut got = 0usize;
        let mut sink = |p: Piece<'_>, _| match p {
            Piece::Data(d) => got += d.len(),
            _ => panic!("nothing is missing"),
        };
        r.segment(Seq(0), b"a", 1, false, at(1), &mut sink);
        for i in 2..N {
            r.segment(Seq(i), b"x", 1, false, at(2), &mut sink);
            r.segment(Seq(i), b"x", 1, false, at(2), &mut sink);
        }
        r.segment(Seq(1), b"b", 1, false, at(3), &mut sink);
        assert_eq!(got, N as usize);
        assert_eq!(r.buffered(), 0);
    }

    #[test]
    fn sequence_wraps_across_zero() {
        let (got, _) = run(&[(u32::MAX - 1, b"ab", 2), (0, b"cd", 2)], false);
        assert_eq!(bytes(&got), b"abcd");
    }

    proptest! {
        /// Any split of a stream into segments, delivered in any order with duplicates,
        /// comes out as exactly the original bytes.
        #[test]
        fn any_split_order_and_duplication_yields_the_stream(
            stream in proptest::collection::vec(any::<u8>(), 1..400),
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..20),
            order in proptest::collection::vec(any::<prop::sample::Index>(), 0..40),
            isn in any::<u32>(),
        ) {
            let mut points: Vec<usize> = cuts.iter().map(|c| c.index(stream.len())).collect();
            points.extend([0, stream.len()]);
            points.sort();
            points.dedup();
            let segs: Vec<(usize, usize)> = points.windows(2).map(|w| (w[0], w[1])).collect();
            let mut sends: Vec<usize> = (0..segs.len()).collect();
            sends.extend(order.iter().map(|o| o.index(segs.len())));
            // shuffle deterministically by the order indices
            for (i, o) in order.iter().enumerate() {
                let j = o.index(sends.len());
                let n = sends.len();
                sends.swap(i % n, j);
            }
            // the first segment must be seen first for the stream start to be known
            let pos = sends.iter().position(|&s| s == 0).unwrap();
            sends.swap(0, pos);
            let mut r = Reassembler::new(1 << 20);
            let mut got = Vec::new();
            let mut sink = |p: Piece<'_>, _| match p {
                Piece::Data(d) => got.extend_from_slice(d),
                Piece::Gap(_) | Piece::Cut(_) => panic!("no bytes are missing"),
            };
            for s in sends {
                let (a, b) = segs[s];
                let seq = Seq(isn).plus(a as u64);
                r.segment(seq, &stream[a..b], (b - a) as u64, false, at(1), &mut sink);
            }
            r.flush(&mut sink);
            prop_assert_eq!(got, stream);
        }
    }
}
