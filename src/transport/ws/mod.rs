//! MQTT over WebSocket (`ws://`, and `wss://` once TLS is decrypted): the HTTP upgrade, RFC
//! 6455 frames and RFC 7692 permessage-deflate, read from both directions of one connection
//! into the MQTT byte stream and WebSocket facts.
//!
//! Sans-IO: [`WsTransport`] takes plain byte slices per side in stream order (from TCP or
//! from a TLS decrypter), gaps and closes, and calls back with [`WsOutput`]s; time comes only
//! from the frames passed in. Files: `upgrade` (HTTP heads via `httparse`), `frame` (headers,
//! unmasking, holes), `reader` (frames judged, messages, control frames), `deflate`
//! (permessage-deflate), `facts` (the output types).
//!
//! Payload bytes are streamed as they arrive, compressed ones too (inflated piece by piece):
//! nothing waits for a whole frame or message. Memory is bounded: each HTTP head at
//! [`MAX_HEAD`], client bytes sent before the server's 101 at [`MAX_EARLY`], a control
//! payload at 125 bytes; a message inflating past [`MAX_MESSAGE`] is cut (its rest reported
//! lost).
//!
//! Holes: a hole inside a frame's payload is reported as a [`WsOutput::Gap`] of those bytes
//! and reading goes on after the frame (its header gave the length). A hole where a header
//! was due (or inside one, or inside an HTTP head) loses the frame boundaries: that side's
//! frames are not read any more (a [`WsEventKind::LostSync`] event), and each later chunk of
//! it is reported as a gap of its raw length (an upper bound on the MQTT bytes, framing
//! included), so the session still sees that the side was sending. No resync is tried.

mod deflate;
mod facts;
mod frame;
mod reader;
#[cfg(test)]
mod tests;
mod upgrade;

pub use deflate::DeflateParams;
pub use facts::{
    CloseFact, ErrorFact, MAX_ERRORS, NotMqtt, WsError, WsEvent, WsEventKind, WsFacts,
};
pub use upgrade::MAX_HEAD;

use crate::evidence::FrameRef;
use crate::tcp::Side;
use reader::SideReader;
use upgrade::{Head, HeadBuf, Response};

/// Cap on client bytes held between its request and the server's 101 (a client that does
/// not wait); past it they are reported lost.
pub const MAX_EARLY: usize = 64 * 1024;

/// Cap on one message's inflated size.
pub const MAX_MESSAGE: usize = 1 << 20;

/// Cap on a control frame's payload (RFC 6455: 125 bytes).
const MAX_CONTROL: usize = 125;

/// Unmasking and inflating work in pieces of this size.
const MAX_SCRATCH: usize = 16 * 1024;

/// Chunks of early client bytes remembered with their frames; past it, lost.
const MAX_EARLY_CHUNKS: usize = 256;

/// What the WebSocket reader reports, in stream order per side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsOutput<'a> {
    /// Payload bytes of binary (and continuation, and text) data frames, unmasked and
    /// inflated, in order: the MQTT byte stream.
    Mqtt {
        /// The sender.
        side: Side,
        /// The bytes.
        bytes: &'a [u8],
        /// The frame that carried them (for early client bytes, the frame they came in).
        at: FrameRef,
    },
    /// MQTT stream bytes lost: a capture hole inside a frame payload (its length), a
    /// compressed message that could not be inflated (its compressed length), or bytes of
    /// a side whose frames are no longer followed (their raw length).
    Gap {
        /// The sender.
        side: Side,
        /// How many bytes.
        len: u64,
        /// The frame where the loss became known.
        at: FrameRef,
    },
    /// A WebSocket fact for the timeline.
    Event(WsEvent),
}

/// Where the opening handshake is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for the server's final response.
    Handshake,
    /// Switched to WebSocket (101): frames follow.
    Open,
    /// The server refused the upgrade: nothing more is read.
    Refused,
    /// Not MQTT over WebSocket: nothing more is read.
    NotMqtt,
}

/// A chunk of early client bytes: where it ends in the buffer, its frame, and the bytes
/// lost right after it.
#[derive(Debug, Clone, Copy)]
struct Mark {
    end: usize,
    at: FrameRef,
    gap: u64,
}

/// Client bytes after its request, held until the server's response says what they are.
#[derive(Debug, Default)]
struct Early {
    bytes: Vec<u8>,
    marks: Vec<Mark>,
    /// Bytes past the caps (reported lost after the held ones), with the last frame.
    dropped: Option<(u64, FrameRef)>,
}

impl Early {
    fn full(&self, more: usize) -> bool {
        self.dropped.is_some()
            || self.bytes.len() + more > MAX_EARLY
            || self.marks.len() >= MAX_EARLY_CHUNKS
    }

    fn drop_bytes(&mut self, len: u64, at: FrameRef) {
        let before = self.dropped.map_or(0, |(n, _)| n);
        self.dropped = Some((before + len, at));
    }

    fn data(&mut self, bytes: &[u8], at: FrameRef) {
        if self.full(bytes.len()) {
            return self.drop_bytes(bytes.len() as u64, at);
        }
        self.bytes.extend_from_slice(bytes);
        let end = self.bytes.len();
        match self.marks.last_mut() {
            Some(m) if m.at == at && m.gap == 0 => m.end = end,
            _ => self.marks.push(Mark { end, at, gap: 0 }),
        }
    }

    fn gap(&mut self, len: u64, at: FrameRef) {
        match self.marks.last_mut() {
            _ if self.dropped.is_some() => self.drop_bytes(len, at),
            Some(m) => m.gap += len,
            None => self.marks.push(Mark {
                end: self.bytes.len(),
                at,
                gap: len,
            }),
        }
    }

    /// Hands everything held to the client's reader, in order.
    fn replay(self, r: &mut SideReader, facts: &mut WsFacts, out: &mut impl FnMut(WsOutput<'_>)) {
        let mut start = 0;
        for m in &self.marks {
            r.data(&self.bytes[start..m.end], m.at, facts, out);
            r.gap(m.gap, m.at, facts, out);
            start = m.end;
        }
        if let Some((n, at)) = self.dropped {
            facts.early_bytes_dropped = n;
            r.gap(n, at, facts, out);
        }
    }
}

/// One connection read as MQTT over WebSocket, both directions.
pub struct WsTransport {
    phase: Phase,
    heads: [HeadBuf; 2],
    /// The client's request head was read (or lost): its later bytes are frames.
    request_done: bool,
    early: Early,
    readers: [SideReader; 2],
    facts: WsFacts,
}

impl Default for WsTransport {
    fn default() -> Self {
        Self::new()
    }
}

impl WsTransport {
    /// A connection whose client is about to send its upgrade request.
    pub fn new() -> Self {
        WsTransport {
            phase: Phase::Handshake,
            heads: [HeadBuf::default(), HeadBuf::default()],
            request_done: false,
            early: Early::default(),
            readers: [SideReader::new(Side::Client), SideReader::new(Side::Server)],
            facts: WsFacts::default(),
        }
    }

    /// Bytes of one side in stream order.
    pub fn data(
        &mut self,
        side: Side,
        bytes: &[u8],
        at: FrameRef,
        out: &mut impl FnMut(WsOutput<'_>),
    ) {
        if bytes.is_empty() {
            return;
        }
        match (self.phase, side) {
            (Phase::Refused | Phase::NotMqtt, _) => {}
            (Phase::Open, Side::Server) => self.frames(side, bytes, at, out),
            (_, Side::Client) if self.request_done => match self.phase {
                Phase::Open => self.frames(side, bytes, at, out),
                _ => self.early.data(bytes, at),
            },
            (_, Side::Client) => self.request(bytes, at, out),
            (Phase::Handshake, Side::Server) => self.response(bytes, at, out),
        }
    }

    /// Bytes of one side the capture does not hold.
    pub fn gap(&mut self, side: Side, len: u64, at: FrameRef, out: &mut impl FnMut(WsOutput<'_>)) {
        if len == 0 || matches!(self.phase, Phase::Refused | Phase::NotMqtt) {
            return;
        }
        *self.facts.gaps.get_mut(side) += 1;
        match (self.phase, side) {
            (Phase::Handshake, Side::Client) if self.request_done => self.early.gap(len, at),
            (_, Side::Client) if !self.request_done => {
                // The request is lost with its end: what follows cannot be found.
                self.request_done = true;
                self.heads[0].clear();
                self.readers[0].gap(len, at, &mut self.facts, out);
            }
            (Phase::Handshake, Side::Server) => {
                // The response is lost: assume the upgrade went through, so the client's
                // frames are still read (without deflate, which is unknown).
                self.heads[1].clear();
                self.open(out);
                self.readers[1].gap(len, at, &mut self.facts, out);
            }
            _ => self.readers[side.idx()].gap(len, at, &mut self.facts, out),
        }
    }

    /// The TCP connection closed (FIN/RST) from `side` at `at`. After the upgrade, a side
    /// that sent no Close frame first is recorded (a browser's 1006) and reported.
    pub fn closed(&mut self, side: Side, at: FrameRef, out: &mut impl FnMut(WsOutput<'_>)) {
        let f = &mut self.facts;
        if self.phase != Phase::Open
            || self.readers[side.idx()].is_lost()
            || f.closes.get(side).is_some()
            || *f.closed_without_close_frame.get(side)
        {
            return;
        }
        *f.closed_without_close_frame.get_mut(side) = true;
        out(WsOutput::Event(WsEvent {
            at,
            side,
            kind: WsEventKind::ClosedWithoutCloseFrame,
        }));
    }

    /// The WebSocket facts so far.
    pub fn facts(&self) -> &WsFacts {
        &self.facts
    }

    /// Bytes held: HTTP heads (each at most [`MAX_HEAD`]), early client bytes (at most
    /// [`MAX_EARLY`]), partial frame headers and control payloads.
    pub fn buffered(&self) -> usize {
        self.heads.iter().map(HeadBuf::buffered).sum::<usize>()
            + self.early.bytes.len()
            + self.readers.iter().map(SideReader::buffered).sum::<usize>()
    }

    /// Whether the HTTP exchange shows this is not MQTT over WebSocket (not HTTP, HTTP
    /// without an upgrade, or another subprotocol offered or chosen), so the flow can be
    /// ignored. A refused upgrade (401, 403…) is MQTT's: see [`WsFacts::status`].
    pub fn is_not_mqtt(&self) -> bool {
        self.phase == Phase::NotMqtt
    }

    fn frames(
        &mut self,
        side: Side,
        bytes: &[u8],
        at: FrameRef,
        out: &mut impl FnMut(WsOutput<'_>),
    ) {
        self.readers[side.idx()].data(bytes, at, &mut self.facts, out);
    }

    fn not_mqtt(&mut self, why: NotMqtt) {
        self.phase = Phase::NotMqtt;
        self.facts.not_mqtt = Some(why);
        self.heads = [HeadBuf::default(), HeadBuf::default()];
        self.early = Early::default();
    }

    /// Client bytes while its request head is incomplete.
    fn request(&mut self, bytes: &[u8], at: FrameRef, out: &mut impl FnMut(WsOutput<'_>)) {
        let used = match self.heads[0].push(bytes, upgrade::request_prefix_ok) {
            Head::More => return,
            Head::Bad => return self.not_mqtt(NotMqtt::NotHttp),
            Head::Done { used } => used,
        };
        let read = upgrade::read_request(self.heads[0].bytes(), &mut self.facts);
        self.heads[0].clear();
        if let Err(why) = read {
            return self.not_mqtt(why);
        }
        self.facts.request = Some(at);
        self.request_done = true;
        self.data(Side::Client, &bytes[used..], at, out);
    }

    /// Server bytes while its final response head is incomplete.
    fn response(&mut self, bytes: &[u8], at: FrameRef, out: &mut impl FnMut(WsOutput<'_>)) {
        let used = match self.heads[1].push(bytes, upgrade::response_prefix_ok) {
            Head::More => return,
            Head::Bad => return self.not_mqtt(NotMqtt::NotHttp),
            Head::Done { used } => used,
        };
        let read = upgrade::read_response(self.heads[1].bytes(), &mut self.facts);
        self.heads[1].clear();
        let status = match read {
            Err(why) => return self.not_mqtt(why),
            Ok(Response::Interim) => return self.data(Side::Server, &bytes[used..], at, out),
            Ok(Response::Final(status)) => status,
        };
        self.facts.response = Some(at);
        let kind = WsEventKind::Upgrade { status };
        out(WsOutput::Event(WsEvent {
            at,
            side: Side::Server,
            kind,
        }));
        if status != 101 {
            self.phase = Phase::Refused;
            self.early = Early::default();
            return;
        }
        if let Some(p) = self.facts.deflate {
            self.readers[0].enable_deflate(p.client_no_context_takeover);
            self.readers[1].enable_deflate(p.server_no_context_takeover);
        }
        self.open(out);
        self.data(Side::Server, &bytes[used..], at, out);
    }

    /// Frames follow: the client's early bytes are read first.
    fn open(&mut self, out: &mut impl FnMut(WsOutput<'_>)) {
        self.phase = Phase::Open;
        std::mem::take(&mut self.early).replay(&mut self.readers[0], &mut self.facts, out);
    }
}

/// Whether a client's first bytes look like an HTTP WebSocket upgrade request: `GET /…`,
/// HTTP/1.1, `Upgrade: websocket`. Tolerant of a request split across segments: a prefix
/// of `GET /` or an incomplete request that is HTTP so far says "maybe" (true); a complete
/// head is decided by its headers.
pub fn looks_like_upgrade(first_client_bytes: &[u8]) -> bool {
    const START: &[u8] = b"GET /";
    let b = first_client_bytes;
    if b.len() < START.len() {
        return !b.is_empty() && START.starts_with(b);
    }
    if !b.starts_with(START) {
        return false;
    }
    let mut h = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut h);
    match req.parse(b) {
        Ok(httparse::Status::Complete(_)) => upgrade::is_upgrade_request(&req),
        Ok(httparse::Status::Partial) => true,
        Err(_) => false,
    }
}
