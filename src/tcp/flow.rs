//! One TCP connection: roles, handshake, per-side facts, and delivery to the MQTT stage.

use super::{Arrival, Piece, Reassembler, Seq, Side, StreamEvent, TcpEvent, TcpEventKind};
use crate::decode::Segment;
use crate::evidence::FrameRef;
use crate::time::{Span, Timestamp};
use serde::Serialize;
use std::net::SocketAddr;

/// The three-way handshake as captured.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Handshake {
    /// The client's SYN.
    pub syn: Option<FrameRef>,
    /// The server's SYN-ACK.
    pub syn_ack: Option<FrameRef>,
    /// The client's first ACK after the SYN-ACK.
    pub ack: Option<FrameRef>,
}

impl Handshake {
    /// Time from SYN to SYN-ACK at the capture point: the path capture point → server → back.
    pub fn server_rtt(&self) -> Option<Span> {
        Some(self.syn_ack?.ts - self.syn?.ts)
    }

    /// Time from SYN-ACK to ACK at the capture point: the path capture point → client → back.
    pub fn client_rtt(&self) -> Option<Span> {
        Some(self.ack?.ts - self.syn_ack?.ts)
    }
}

/// A RST as seen on the wire, with what is needed to judge whether its sender was the peer.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct RstFacts {
    /// The frame.
    #[serde(flatten)]
    pub at: FrameRef,
    /// TTL / hop limit of the RST.
    pub ttl: u8,
    /// IPv4 identification of the RST.
    pub ip_id: Option<u16>,
    /// The RST's sequence number minus the next sequence number expected from its side
    /// (0 is an exact fit; None when the side sent nothing before).
    pub seq_offset: Option<i64>,
}

/// An idle gap: no packet in either direction for a while.
#[derive(Debug, Clone, Copy)]
pub struct IdleGap {
    /// The last frame before the gap.
    pub after: FrameRef,
    /// The first frame after it.
    pub before: FrameRef,
    /// Who sent that first frame.
    pub resumed_by: Side,
}

impl IdleGap {
    /// Its length in seconds.
    pub fn seconds(&self) -> f64 {
        (self.before.ts - self.after.ts).as_secs_f64()
    }
}

impl Serialize for IdleGap {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut gap = s.serialize_struct("IdleGap", 4)?;
        gap.serialize_field("after", &self.after)?;
        gap.serialize_field("before", &self.before)?;
        gap.serialize_field("resumed_by", &self.resumed_by)?;
        gap.serialize_field("seconds", &self.seconds())?;
        gap.end()
    }
}

/// What one side did over the connection.
#[derive(Debug, Clone, Default, Serialize)]
pub struct HalfFacts {
    /// Segments sent.
    pub segments: u64,
    /// TCP payload bytes sent (as on the wire).
    pub bytes: u64,
    /// Retransmitted segments.
    pub retransmissions: u64,
    /// Copies of a segment already seen, recorded again on another interface (`tcpdump -i
    /// any` across a bridge or veth): counted, then ignored.
    pub duplicates: u64,
    /// The first retransmission.
    pub first_retransmission: Option<FrameRef>,
    /// Frame numbers of the latest retransmissions (up to `RETRANSMIT_FRAMES_KEPT`).
    pub retransmission_frames: Vec<FrameRef>,
    /// TCP keep-alive probes sent.
    pub keepalive_probes: u64,
    /// Segments advertising a zero window.
    pub zero_windows: u64,
    /// First FIN sent.
    pub fin: Option<FrameRef>,
    /// First RST sent (boxed: most sides never send one).
    pub rst: Option<Box<RstFacts>>,
    /// The first and the most common-so-far TTL of this side's packets (RST excluded).
    pub ttl: Option<u8>,
    /// Last IPv4 identification seen from this side (RST excluded).
    pub last_ip_id: Option<u16>,
    /// This side's last segment.
    pub last_segment: Option<FrameRef>,
    /// This side's last segment that carried payload.
    pub last_data: Option<FrameRef>,
    /// Bytes this side sent that the peer had not acknowledged when the capture ended.
    pub unacked_bytes: u64,
    /// Bytes missing from the capture in this direction.
    pub hole_bytes: u64,
    /// Segments that arrived ahead of the stream.
    pub out_of_order: u64,
    /// This side's initial sequence number, absolute (from its SYN or SYN-ACK): what a
    /// probe at another vantage point sees too, unless a middlebox rewrites it.
    pub isn: Option<u32>,
    /// This side's first captured segment (RST excluded).
    pub first_segment: Option<FrameRef>,
    /// The sequence number of that segment, absolute.
    pub first_seq: Option<u32>,
    /// A fingerprint of the first bytes this side sent (the CONNECT, the CONNACK, a TLS
    /// hello), kept when the capture holds the start of the stream: see [`head_fingerprint`].
    pub head: Option<u64>,
    #[serde(skip)]
    highest_sent: Option<Seq>,
    #[serde(skip)]
    highest_acked: Option<Seq>,
}

/// How soon a second record of the same segment is a copy of it taken on another interface
/// rather than a retransmission: copies come microseconds apart, while a stack retransmits
/// after its retransmission timeout (200 ms at least on Linux, a tail-loss probe 10 ms).
/// Times are kept in units of 2^20 ns (about a millisecond), so the window is 4 units: two
/// records 4.2 ms apart or less are copies, 5.3 ms or more never.
const COPY_WINDOW_UNITS: i64 = 4;
/// Low bits of a slot of [`RecentSegments`] that hold the time: 2^24 units, 4.9 hours.
const TIME_BITS: u32 = 24;
const TIME_MASK: u64 = (1 << TIME_BITS) - 1;

/// The last eight segments one side sent, to tell a copy of one on another interface.
/// Interfaces are often written in chunks (dumpcap, `-i any`), so a copy may come several
/// segments after its original, and with an earlier timestamp. Each slot packs a segment's
/// fingerprint (its high 40 bits, the top one set so that no slot is empty by chance) with
/// its time in units of 2^20 ns modulo 2^24: the eight take 64 bytes inside the flow, which
/// every segment reads (a ring of its own behind a pointer was one more cache miss a
/// segment, 5 % of a run on a thousand open flows). The newest slot comes first.
///
/// Not aligned to a cache line: an over-aligned flow is boxed by `memalign`, and glibc 2.36 did
/// not hand a freed flow's chunk to the next `memalign`, so every retired flow left a hole
/// (0.3 KB a connection of peak memory on the fleet workload).
#[derive(Debug, Default)]
struct RecentSegments([u64; 8]);

impl RecentSegments {
    /// Whether `seg` copies a segment seen within the window; remembers it if not.
    fn is_copy(&mut self, seg: &Segment<'_>, at: FrameRef) -> bool {
        let time = (at.ts.0 >> 20) as u64 & TIME_MASK;
        let slot = (fingerprint(seg) | 1 << 63) & !TIME_MASK | time;
        let copies = |&kept: &u64| {
            // The time apart, signed, modulo 2^24 units.
            let apart = (slot.wrapping_sub(kept) << (64 - TIME_BITS)) as i64 >> (64 - TIME_BITS);
            (kept ^ slot) & !TIME_MASK == 0 && apart.abs() <= COPY_WINDOW_UNITS
        };
        if self.0.iter().any(copies) {
            return true;
        }
        self.0.copy_within(..7, 1);
        self.0[0] = slot;
        false
    }
}

/// What makes two records the same segment, in 64 bits: sequence and acknowledgment numbers,
/// length, flags, window, the payload's first and last bytes, and the IPv4 identification (a retransmission has the same
/// sequence numbers but a new identification: Linux numbers every packet it sends; IPv6 has
/// none, so there the window alone tells). Mixed by hand: five words into one need no
/// hashing crate.
fn fingerprint(seg: &Segment<'_>) -> u64 {
    let payload = seg.payload;
    let words = [
        u64::from(seg.seq) << 32 | u64::from(seg.ack),
        u64::from(seg.payload_len) << 32
            | u64::from(seg.flags.0) << 24
            | u64::from(seg.window) << 8,
        seg.ip_id.map_or(1 << 20, u64::from),
        edge_bytes(payload.get(..8)),
        edge_bytes(payload.get(payload.len().saturating_sub(8)..)),
    ];
    // One multiply per segment: the words rotated apart, then mixed once.
    let folded = words
        .iter()
        .zip([0, 17, 31, 43, 53])
        .fold(0u64, |h, (&w, r)| h ^ w.rotate_left(r));
    folded.wrapping_mul(0x517c_c1b7_2722_0a95)
}

/// Up to eight payload bytes as one word.
fn edge_bytes(bytes: Option<&[u8]>) -> u64 {
    match bytes {
        Some(b) if b.len() == 8 => u64::from_le_bytes(b.try_into().unwrap_or_default()),
        Some(b) => b.iter().fold(0, |w, &x| w << 8 | u64::from(x)),
        None => 0,
    }
}

impl HalfFacts {
    /// The sequence numbers this side's payload covered in the capture: from its first
    /// captured segment to the end of the highest payload it sent (absolute).
    pub fn seq_span(&self) -> Option<(Seq, Seq)> {
        Some((Seq(self.first_seq?), self.highest_sent?))
    }
}

#[cfg(test)]
impl HalfFacts {
    /// A side whose captured segments covered sequence numbers `first..end`: for unit tests.
    pub(crate) fn covering(first: u32, end: u32) -> HalfFacts {
        HalfFacts {
            first_seq: Some(first),
            highest_sent: Some(Seq(end)),
            ..HalfFacts::default()
        }
    }
}

/// How many leading payload bytes the head fingerprint covers.
pub const HEAD_BYTES: usize = 32;

/// The fingerprint of a stream's first bytes: the first 8 bytes of the SHA-256 of at most
/// [`HEAD_BYTES`] of them, so probes on different machines compute the same value.
pub fn head_fingerprint(payload: &[u8]) -> u64 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(&payload[..payload.len().min(HEAD_BYTES)]);
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

/// How many retransmission frames are kept per side (the latest ones).
const RETRANSMIT_FRAMES_KEPT: usize = 32;
/// How many idle gaps are kept per connection (the longest ones, and always the last).
const IDLE_GAPS_KEPT: usize = 16;

/// One TCP connection.
pub struct Flow {
    /// The client's address.
    pub client: SocketAddr,
    /// The server's address.
    pub server: SocketAddr,
    /// Whether the capture holds the connection's SYN (roles are certain).
    pub syn_seen: bool,
    /// The handshake.
    pub handshake: Handshake,
    /// Per side facts, indexed by `Side::idx`.
    pub sides: [HalfFacts; 2],
    /// Idle gaps longer than the configured floor.
    pub idle_gaps: Vec<IdleGap>,
    /// First and last frame of the connection.
    pub first: FrameRef,
    /// Last frame.
    pub last: FrameRef,
    client_isn: Option<Seq>,
    recent: [RecentSegments; 2],
    streams: [Reassembler; 2],
    gap_floor: Span,
}

impl Flow {
    /// Starts a flow at its first captured segment. For captures that start after the SYN,
    /// `client_greeting` says whether the segment's payload is a client's first words (the
    /// transport stage recognises them), and `is_server_port` which ports serve.
    pub fn new(
        seg: &Segment<'_>,
        at: FrameRef,
        client_greeting: bool,
        is_server_port: impl Fn(u16) -> bool,
        buffer_cap: usize,
        gap_floor: Span,
    ) -> Flow {
        let src = SocketAddr::new(seg.src, seg.src_port);
        let dst = SocketAddr::new(seg.dst, seg.dst_port);
        let syn = seg.flags.syn();
        let sender_is_client = if syn {
            !seg.flags.ack()
        } else if client_greeting {
            true
        } else if is_server_port(seg.dst_port) != is_server_port(seg.src_port) {
            is_server_port(seg.dst_port)
        } else {
            seg.dst_port < seg.src_port
        };
        let (client, server) = if sender_is_client {
            (src, dst)
        } else {
            (dst, src)
        };
        Flow {
            client,
            server,
            syn_seen: syn,
            handshake: Handshake::default(),
            sides: Default::default(),
            idle_gaps: Vec::new(),
            first: at,
            last: at,
            client_isn: None,
            recent: Default::default(),
            streams: [Reassembler::new(buffer_cap), Reassembler::new(buffer_cap)],
            gap_floor,
        }
    }

    /// Which side sent `seg`.
    pub fn side_of(&self, seg: &Segment<'_>) -> Side {
        if seg.src_port == self.client.port() && seg.src == self.client.ip() {
            Side::Client
        } else {
            Side::Server
        }
    }

    /// Whether the connection is over at the TCP level (a RST, or FIN both ways).
    pub fn closed(&self) -> bool {
        let [c, s] = &self.sides;
        c.rst.is_some() || s.rst.is_some() || (c.fin.is_some() && s.fin.is_some())
    }

    /// The flow's key in a flow table.
    pub fn key(&self) -> super::FlowKey {
        super::FlowKey::new(self.client, self.server)
    }

    /// When either side first closed (FIN or RST).
    pub fn first_close(&self) -> Option<Timestamp> {
        self.sides
            .iter()
            .flat_map(|h| [h.fin.map(|f| f.ts), h.rst.as_ref().map(|r| r.at.ts)])
            .flatten()
            .min()
    }

    /// Whether `seg` opens a new connection on this flow's addresses (port reuse).
    pub fn is_new_connection(&self, seg: &Segment<'_>) -> bool {
        seg.flags.syn()
            && !seg.flags.ack()
            && (self.closed() || self.client_isn.is_some_and(|isn| isn != Seq(seg.seq)))
    }

    /// Times either direction's out-of-order buffer hit its cap.
    pub fn buffer_cap_hits(&self) -> u64 {
        self.streams.iter().map(|s| s.stats().buffer_cap_hits).sum()
    }

    /// Whether the connection was never established: the client's SYN was seen, its
    /// handshake never completed (refused by a RST, never answered, or a SYN-ACK the client
    /// never acknowledged), and no payload went either way.
    pub fn never_established(&self) -> bool {
        let [client, server] = &self.sides;
        self.handshake.syn.is_some()
            && self.handshake.ack.is_none()
            && client.bytes == 0
            && server.bytes == 0
    }

    /// A half-open scan probe (`nmap -sS`): the client answered the SYN-ACK with a RST and
    /// nothing was ever sent. No connection existed, and no MQTT client made it.
    pub fn is_scan_probe(&self) -> bool {
        let [client, server] = &self.sides;
        self.handshake.syn_ack.is_some()
            && self.handshake.ack.is_none()
            && client.rst.is_some()
            && client.bytes == 0
            && server.bytes == 0
    }

    /// Bytes buffered out of order in both directions.
    pub fn buffered(&self) -> usize {
        self.streams.iter().map(|s| s.buffered()).sum()
    }

    /// Takes one segment and hands in-order bytes, gaps and TCP events to `out`.
    pub fn on_segment(
        &mut self,
        seg: &Segment<'_>,
        at: FrameRef,
        out: &mut impl FnMut(StreamEvent<'_>),
    ) {
        let side = self.side_of(seg);
        if self.recent[side.idx()].is_copy(seg, at) {
            self.sides[side.idx()].duplicates += 1;
            return;
        }
        self.note_idle_gap(at, side);
        self.last = at;
        let event = |kind| StreamEvent::Tcp(TcpEvent { at, side, kind });
        if seg.flags.syn() {
            self.on_syn(seg, side, at, out);
        }
        if seg.flags.rst() {
            self.on_rst(seg, side, at);
            out(event(TcpEventKind::Rst));
        } else {
            self.note_sender(seg, side, at);
        }
        if seg.flags.ack() && !seg.flags.rst() {
            self.on_ack(seg, side, at, out);
        }
        if !seg.flags.rst() && (seg.payload_len > 0 || seg.flags.fin()) {
            self.on_payload(seg, side, at, out);
        }
        if seg.flags.fin() && self.sides[side.idx()].fin.is_none() {
            self.sides[side.idx()].fin = Some(at);
            out(event(TcpEventKind::Fin));
        }
    }

    /// The capture ended or the flow is being retired: deliver what is buffered.
    pub fn finish(&mut self, out: &mut impl FnMut(StreamEvent<'_>)) {
        for side in [Side::Client, Side::Server] {
            let half = &mut self.sides[side.idx()];
            half.unacked_bytes = match (half.highest_sent, half.highest_acked) {
                (Some(sent), Some(acked)) => sent.since(acked).max(0) as u64,
                (Some(_), None) => half.bytes,
                _ => 0,
            };
            let stream = &mut self.streams[side.idx()];
            stream.flush(&mut |piece, at| deliver(side, piece, at, out));
            let stats = stream.stats();
            let half = &mut self.sides[side.idx()];
            half.hole_bytes = stats.hole_bytes;
            half.out_of_order = stats.out_of_order;
        }
    }

    fn on_syn(
        &mut self,
        seg: &Segment<'_>,
        side: Side,
        at: FrameRef,
        out: &mut impl FnMut(StreamEvent<'_>),
    ) {
        let kind = if seg.flags.ack() {
            self.handshake.syn_ack.get_or_insert(at);
            TcpEventKind::SynAck
        } else {
            self.handshake.syn.get_or_insert(at);
            self.client_isn.get_or_insert(Seq(seg.seq));
            TcpEventKind::Syn
        };
        self.sides[side.idx()].isn.get_or_insert(seg.seq);
        self.streams[side.idx()].syn(Seq(seg.seq));
        out(StreamEvent::Tcp(TcpEvent { at, side, kind }));
    }

    fn on_rst(&mut self, seg: &Segment<'_>, side: Side, at: FrameRef) {
        let half = &mut self.sides[side.idx()];
        if half.rst.is_none() {
            let expected = self.streams[side.idx()].next_seq();
            half.rst = Some(Box::new(RstFacts {
                at,
                ttl: seg.ttl,
                ip_id: seg.ip_id,
                seq_offset: expected.map(|e| Seq(seg.seq).since(e)),
            }));
        }
    }

    fn note_sender(&mut self, seg: &Segment<'_>, side: Side, at: FrameRef) {
        let half = &mut self.sides[side.idx()];
        half.segments += 1;
        half.bytes += u64::from(seg.payload_len);
        half.ttl.get_or_insert(seg.ttl);
        half.last_ip_id = seg.ip_id.or(half.last_ip_id);
        half.last_segment = Some(at);
        if half.first_seq.is_none() {
            half.first_seq = Some(seg.seq);
            half.first_segment = Some(at);
        }
        if seg.payload_len > 0 {
            half.last_data = Some(at);
            let starts_stream = half.isn.is_some_and(|isn| seg.seq == isn.wrapping_add(1));
            if half.head.is_none() && starts_stream {
                half.head = Some(head_fingerprint(seg.payload));
            }
        }
        let end = Seq(seg.seq).plus(u64::from(seg.payload_len));
        if half.highest_sent.is_none_or(|h| end.after(h)) {
            half.highest_sent = Some(end);
        }
    }

    fn on_ack(
        &mut self,
        seg: &Segment<'_>,
        side: Side,
        at: FrameRef,
        out: &mut impl FnMut(StreamEvent<'_>),
    ) {
        if side == Side::Client && self.handshake.syn_ack.is_some() && self.handshake.ack.is_none()
        {
            self.handshake.ack = Some(at);
        }
        if seg.window == 0 && !seg.flags.syn() && !seg.flags.fin() {
            self.sides[side.idx()].zero_windows += 1;
            out(StreamEvent::Tcp(TcpEvent {
                at,
                side,
                kind: TcpEventKind::ZeroWindow,
            }));
        }
        let peer = side.other();
        let ack = Seq(seg.ack);
        let acked = &mut self.sides[peer.idx()].highest_acked;
        if acked.is_none_or(|a| ack.after(a)) {
            *acked = Some(ack);
        }
        self.streams[peer.idx()].acked_to(ack, &mut |piece, at| deliver(peer, piece, at, out), at);
    }

    fn on_payload(
        &mut self,
        seg: &Segment<'_>,
        side: Side,
        at: FrameRef,
        out: &mut impl FnMut(StreamEvent<'_>),
    ) {
        let wire = u64::from(seg.payload_len);
        let arrival = self.streams[side.idx()].segment(
            Seq(seg.seq),
            seg.payload,
            wire,
            seg.flags.fin(),
            at,
            &mut |piece, at| deliver(side, piece, at, out),
        );
        let half = &mut self.sides[side.idx()];
        let kind = match arrival {
            Arrival::Retransmission | Arrival::Overlap if wire > 0 => {
                half.retransmissions += 1;
                half.first_retransmission.get_or_insert(at);
                if half.retransmission_frames.len() == RETRANSMIT_FRAMES_KEPT {
                    half.retransmission_frames.remove(0);
                }
                half.retransmission_frames.push(at);
                TcpEventKind::Retransmission
            }
            Arrival::KeepAliveProbe => {
                half.keepalive_probes += 1;
                TcpEventKind::KeepAliveProbe
            }
            _ => return,
        };
        out(StreamEvent::Tcp(TcpEvent { at, side, kind }));
    }

    fn note_idle_gap(&mut self, at: FrameRef, resumed_by: Side) {
        let idle = at.ts - self.last.ts;
        if idle < self.gap_floor {
            return;
        }
        let gap = IdleGap {
            after: self.last,
            before: at,
            resumed_by,
        };
        if self.idle_gaps.len() == IDLE_GAPS_KEPT {
            // Drop the shortest gap other than the most recent one.
            let last = self.idle_gaps.len() - 1;
            if let Some(i) = (0..last).min_by(|&a, &b| {
                self.idle_gaps[a]
                    .seconds()
                    .total_cmp(&self.idle_gaps[b].seconds())
            }) {
                self.idle_gaps.remove(i);
            }
        }
        self.idle_gaps.push(gap);
    }
}

fn deliver(side: Side, piece: Piece<'_>, at: FrameRef, out: &mut impl FnMut(StreamEvent<'_>)) {
    match piece {
        Piece::Data(bytes) => out(StreamEvent::Data { side, bytes, at }),
        Piece::Gap(len) => {
            out(StreamEvent::Tcp(TcpEvent {
                at,
                side,
                kind: TcpEventKind::Hole { bytes: len },
            }));
            out(StreamEvent::Gap { side, len, at });
        }
        Piece::Cut(len) => out(StreamEvent::Gap { side, len, at }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::decode::TcpFlags;
    use std::net::{IpAddr, Ipv4Addr};

    fn segment(seq: u32, ip_id: u16) -> Segment<'static> {
        Segment {
            src: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            dst: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
            src_port: 40000,
            dst_port: 1883,
            seq,
            ack: 7,
            flags: TcpFlags(TcpFlags::ACK.0 | TcpFlags::PSH.0),
            window: 502,
            ttl: 64,
            ip_id: Some(ip_id),
            payload: b"\xc0\x00",
            payload_len: 2,
            truncated: false,
            vlan: None,
        }
    }

    fn at_micros(micros: i64) -> FrameRef {
        FrameRef::new(1, Timestamp(1_700_000_000_000_000_000 + micros * 1000))
    }

    #[test]
    fn a_copy_is_the_same_segment_within_milliseconds_either_way() {
        let mut recent = RecentSegments::default();
        assert!(!recent.is_copy(&segment(100, 1), at_micros(10_000)));
        assert!(recent.is_copy(&segment(100, 1), at_micros(10_040)));
        assert!(
            recent.is_copy(&segment(100, 1), at_micros(6_000)),
            "earlier, 4 ms"
        );
        assert!(
            recent.is_copy(&segment(100, 1), at_micros(14_100)),
            "later, 4.1 ms"
        );
        assert!(
            !recent.is_copy(&segment(100, 2), at_micros(10_050)),
            "a new IP id"
        );
        assert!(
            !recent.is_copy(&segment(102, 1), at_micros(10_060)),
            "new data"
        );
    }

    #[test]
    fn the_same_segment_later_than_the_window_is_a_retransmission() {
        for later in [5_300, 10_000, 200_000, 3_600_000_000] {
            let mut recent = RecentSegments::default();
            assert!(!recent.is_copy(&segment(100, 1), at_micros(0)));
            assert!(
                !recent.is_copy(&segment(100, 1), at_micros(later)),
                "{later} µs later"
            );
        }
    }

    #[test]
    fn a_copy_is_found_up_to_seven_segments_after_its_original_and_no_further() {
        let mut recent = RecentSegments::default();
        for n in 0..9 {
            assert!(!recent.is_copy(&segment(100 + 2 * n, 1), at_micros(i64::from(n))));
        }
        assert!(
            recent.is_copy(&segment(102, 1), at_micros(9)),
            "seven after"
        );
        assert!(
            !recent.is_copy(&segment(100, 1), at_micros(9)),
            "eight after"
        );
    }

    #[test]
    fn a_flow_needs_no_more_than_mallocs_alignment() {
        // See `RecentSegments`: an over-aligned flow fragments the heap.
        assert!(std::mem::align_of::<Flow>() <= 16);
    }
}
