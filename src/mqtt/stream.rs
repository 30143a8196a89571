//! One direction of a connection as a sequence of MQTT control packets.
//!
//! Bytes arrive in stream order from the TCP stage, split anywhere. Whole packets are framed
//! straight from the segment's bytes; only a packet split across segments is copied into a
//! small buffer. A gap inside a packet whose length is known is skipped without losing
//! sync (a snaplen cut); a gap elsewhere drops sync until a segment starts with a plausible
//! MQTT fixed header again.

use super::{self as mqtt, Framing};

/// What the stream found in the bytes it was given.
#[derive(Debug)]
pub enum Found<'a> {
    /// A whole packet's bytes.
    Packet(&'a [u8]),
    /// A packet whose bytes were cut from the capture: its first byte and captured prefix.
    CutPacket(&'a [u8]),
    /// A packet longer than the cap, skipped: its first byte and declared length.
    Oversized {
        /// Fixed header byte 1.
        first: u8,
        /// Declared total length.
        len: usize,
    },
    /// Bytes that are not MQTT; the stream lost sync.
    Malformed,
    /// Sync regained after bytes were lost.
    Resynced,
}

/// Bytes of the next segment looked at with held ones when resynchronising: enough for the
/// longest check (a CONNECT's protocol name and level).
const RESYNC_LOOKAHEAD: usize = 16;

/// Framing state of one direction.
pub struct MqttStream {
    pending: Vec<u8>,
    /// Bytes still to skip of a packet being passed over (oversized or cut).
    skip: u64,
    synced: bool,
    max_len: usize,
}

impl MqttStream {
    /// A stream that starts in sync when the capture holds the connection's start.
    pub fn new(synced: bool, max_len: usize) -> Self {
        MqttStream {
            pending: Vec::new(),
            skip: 0,
            synced,
            max_len,
        }
    }

    /// Bytes held for a packet split across segments.
    pub fn buffered(&self) -> usize {
        self.pending.len()
    }

    /// Takes in-order bytes and reports every packet they complete.
    pub fn data(&mut self, mut bytes: &[u8], found: &mut impl FnMut(Found<'_>)) {
        if self.skip > 0 {
            let n = self.skip.min(bytes.len() as u64);
            self.skip -= n;
            bytes = &bytes[n as usize..];
        }
        if bytes.is_empty() {
            return;
        }
        if !self.synced {
            if self.resync_across(bytes, found) {
                return;
            }
            if !mqtt::plausible_start(bytes) {
                // Too short to judge (a segment of one or two bytes): held for the next.
                if mqtt::may_start(bytes) {
                    self.pending.extend_from_slice(bytes);
                }
                return;
            }
            self.synced = true;
            found(Found::Resynced);
        }
        if self.pending.is_empty() {
            self.frame_slice(bytes, found);
        } else {
            self.frame_pending(bytes, found);
        }
    }

    /// Out of sync with bytes held from the last segments: whether they and `bytes` start a
    /// packet together (a header split across segments); if so, frames from them. Looking
    /// at the stream, not at each segment alone, keeps a packet whose first byte came alone.
    fn resync_across(&mut self, bytes: &[u8], found: &mut impl FnMut(Found<'_>)) -> bool {
        if self.pending.is_empty() {
            return false;
        }
        let held = std::mem::take(&mut self.pending);
        let mut joined = held.clone();
        joined.extend_from_slice(&bytes[..bytes.len().min(RESYNC_LOOKAHEAD)]);
        if mqtt::plausible_start(&joined) {
            self.synced = true;
            found(Found::Resynced);
            self.pending = held;
            self.frame_pending(bytes, found);
            return true;
        }
        if mqtt::may_start(&joined) {
            self.pending = joined;
            return true;
        }
        false
    }

    /// `len` bytes of this direction are not in the capture.
    pub fn gap(&mut self, len: u64, found: &mut impl FnMut(Found<'_>)) {
        if self.skip >= len {
            self.skip -= len;
            return;
        }
        let len = len - self.skip;
        self.skip = 0;
        if !self.synced {
            self.pending.clear();
            return;
        }
        if !self.pending.is_empty()
            && let Some(total) = declared_len(&self.pending)
        {
            let missing = (total - self.pending.len()) as u64;
            found(Found::CutPacket(&self.pending));
            self.pending.clear();
            if missing >= len {
                self.skip = missing - len;
                return;
            }
        }
        self.pending.clear();
        self.synced = false;
    }

    fn frame_slice(&mut self, mut bytes: &[u8], found: &mut impl FnMut(Found<'_>)) {
        while !bytes.is_empty() {
            match mqtt::frame(bytes, self.max_len) {
                Framing::Whole { len } => {
                    found(Found::Packet(&bytes[..len]));
                    bytes = &bytes[len..];
                }
                Framing::NeedMore { .. } => {
                    self.pending.extend_from_slice(bytes);
                    return;
                }
                Framing::TooBig { len } => {
                    found(Found::Oversized {
                        first: bytes[0],
                        len,
                    });
                    let have = bytes.len().min(len);
                    self.skip = (len - have) as u64;
                    bytes = &bytes[have..];
                }
                Framing::Malformed => {
                    found(Found::Malformed);
                    self.synced = false;
                    return;
                }
            }
        }
    }

    /// Completes the buffered packet from `bytes`, then frames the rest in place.
    fn frame_pending(&mut self, bytes: &[u8], found: &mut impl FnMut(Found<'_>)) {
        let before = self.pending.len();
        let want = match declared_len(&self.pending) {
            Some(total) => total.saturating_sub(before),
            // The fixed header itself is split: take up to its maximum size first.
            None => 5usize.saturating_sub(before).max(1),
        };
        let take = want.min(bytes.len());
        self.pending.extend_from_slice(&bytes[..take]);
        let pending = std::mem::take(&mut self.pending);
        match mqtt::frame(&pending, self.max_len) {
            Framing::Whole { len } => {
                found(Found::Packet(&pending[..len]));
                let used = len - before;
                self.pending = reuse(pending);
                self.data(&bytes[used..], found);
            }
            Framing::NeedMore { .. } => {
                self.pending = pending;
                if take < bytes.len() {
                    self.data(&bytes[take..], found);
                }
            }
            Framing::TooBig { len } => {
                found(Found::Oversized {
                    first: pending[0],
                    len,
                });
                self.skip = (len - before) as u64;
                self.pending = reuse(pending);
                self.data(bytes, found);
            }
            Framing::Malformed => {
                found(Found::Malformed);
                self.synced = false;
                self.pending = reuse(pending);
            }
        }
    }
}

fn reuse(mut v: Vec<u8>) -> Vec<u8> {
    v.clear();
    v
}

/// Total length of the packet starting `buf`, once its fixed header is complete.
fn declared_len(buf: &[u8]) -> Option<usize> {
    let mut len = 0usize;
    for (i, b) in buf.iter().skip(1).take(4).enumerate() {
        len |= usize::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some(len + i + 2);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(stream: &mut MqttStream, chunks: &[&[u8]]) -> Vec<String> {
        let mut seen = Vec::new();
        for c in chunks {
            stream.data(c, &mut |f| seen.push(describe(&f)));
        }
        seen
    }

    fn describe(f: &Found<'_>) -> String {
        match f {
            Found::Packet(p) => format!("pkt {:02x} {}", p[0], p.len()),
            Found::CutPacket(p) => format!("cut {:02x}", p[0]),
            Found::Oversized { first, len } => format!("big {first:02x} {len}"),
            Found::Malformed => "malformed".into(),
            Found::Resynced => "resync".into(),
        }
    }

    const PINGREQ: [u8; 2] = [0xc0, 0x00];
    const PUBACK: [u8; 4] = [0x40, 0x02, 0x00, 0x01];

    #[test]
    fn several_packets_in_one_segment() {
        let mut s = MqttStream::new(true, 1 << 20);
        let seg = [&PINGREQ[..], &PUBACK[..], &PINGREQ[..]].concat();
        assert_eq!(feed(&mut s, &[&seg]), ["pkt c0 2", "pkt 40 4", "pkt c0 2"]);
    }

    #[test]
    fn out_of_sync_a_header_split_after_its_first_byte_still_resynchronises() {
        let mut s = MqttStream::new(false, 1 << 20);
        let got = feed(&mut s, &[&[0x20], &[0x02, 0x00, 0x00], &PINGREQ]);
        assert_eq!(got, ["resync", "pkt 20 4", "pkt c0 2"]);
        // A held byte that leads nowhere is dropped; the next segment is judged alone.
        let mut s = MqttStream::new(false, 1 << 20);
        let got = feed(&mut s, &[&[0x20], &[0xff, 0xff], &PUBACK]);
        assert_eq!(got, ["resync", "pkt 40 4"]);
    }

    #[test]
    fn packet_split_at_every_position() {
        let stream = [&PUBACK[..], &PINGREQ[..]].concat();
        for cut in 1..stream.len() {
            let mut s = MqttStream::new(true, 1 << 20);
            let got = feed(&mut s, &[&stream[..cut], &stream[cut..]]);
            assert_eq!(got, ["pkt 40 4", "pkt c0 2"], "cut at {cut}");
        }
    }

    #[test]
    fn varint_split_across_segments() {
        // PUBLISH with remaining length 200 (varint c8 01), split inside the varint.
        let mut p = vec![0x30, 0xc8, 0x01, 0x00, 0x01, b't'];
        p.resize(203, 0);
        let mut s = MqttStream::new(true, 1 << 20);
        assert_eq!(
            feed(&mut s, &[&p[..2], &p[2..100], &p[100..]]),
            ["pkt 30 203"]
        );
    }

    #[test]
    fn gap_inside_a_known_packet_keeps_sync() {
        let mut p = vec![0x30, 0x0a, 0x00, 0x01, b't'];
        p.resize(12, 0);
        let mut s = MqttStream::new(true, 1 << 20);
        let mut seen = feed(&mut s, &[&p[..6]]);
        s.gap(6, &mut |f| seen.push(describe(&f)));
        seen.extend(feed(&mut s, &[&PINGREQ]));
        assert_eq!(seen, ["cut 30", "pkt c0 2"]);
    }

    #[test]
    fn gap_at_a_packet_boundary_resyncs_on_a_plausible_start() {
        let mut s = MqttStream::new(true, 1 << 20);
        let mut seen = feed(&mut s, &[&PINGREQ]);
        s.gap(10, &mut |f| seen.push(describe(&f)));
        seen.extend(feed(&mut s, &[&[0x00, 0x07, 0x00], &PUBACK]));
        assert_eq!(seen, ["pkt c0 2", "resync", "pkt 40 4"]);
    }

    #[test]
    fn oversized_packet_is_skipped_not_buffered() {
        let mut s = MqttStream::new(true, 100);
        // PUBLISH declaring 300 bytes, then a PINGREQ after it.
        let mut p = vec![0x30, 0xac, 0x02];
        p.resize(303, 0);
        let got = feed(&mut s, &[&p[..50], &p[50..], &PINGREQ]);
        assert_eq!(got, ["big 30 303", "pkt c0 2"]);
        assert_eq!(s.buffered(), 0);
    }
}
