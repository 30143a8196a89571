//! One direction after the upgrade: frames judged, messages reassembled (streamed, not held),
//! control frames read, compressed messages inflated.

use super::deflate::{InflateStop, Inflater};
use super::facts::{CloseFact, WsError, WsEvent, WsEventKind, WsFacts};
use super::frame::{Header, Unframer, Unit};
use super::{MAX_CONTROL, MAX_MESSAGE, WsOutput};
use crate::evidence::FrameRef;
use crate::tcp::Side;

/// The frame being read, as judged from its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Frame {
    /// A frame whose payload is not read (reserved opcode).
    Skip,
    /// A close (8), ping (9) or pong (10): payload collected.
    Control(u8),
    /// A data frame of the current message.
    Data {
        /// Its message ends with it.
        fin: bool,
    },
}

/// The data message in progress.
#[derive(Debug, Clone, Copy)]
struct Message {
    /// Compressed with permessage-deflate.
    compressed: bool,
    /// Its payload can no longer be inflated: the rest is reported as lost.
    broken: bool,
}

/// The sink a reader writes to: the facts and the caller's output.
struct Sink<'f, 'o, O> {
    side: Side,
    at: FrameRef,
    facts: &'f mut WsFacts,
    out: &'o mut O,
}

impl<O: FnMut(WsOutput<'_>)> Sink<'_, '_, O> {
    fn event(&mut self, kind: WsEventKind) {
        let (at, side) = (self.at, self.side);
        (self.out)(WsOutput::Event(WsEvent { at, side, kind }));
    }

    fn error(&mut self, e: WsError) {
        self.facts.error(self.side, self.at, e);
        self.event(WsEventKind::Error(e));
    }

    fn mqtt(&mut self, bytes: &[u8]) {
        let (at, side) = (self.at, self.side);
        (self.out)(WsOutput::Mqtt { side, bytes, at });
    }

    fn gap(&mut self, len: u64) {
        if len > 0 {
            let (at, side) = (self.at, self.side);
            (self.out)(WsOutput::Gap { side, len, at });
        }
    }
}

/// One direction's frames.
pub(super) struct SideReader {
    side: Side,
    unframer: Unframer,
    frame: Option<Frame>,
    msg: Option<Message>,
    control: Vec<u8>,
    control_hole: bool,
    inflater: Option<Inflater>,
}

impl SideReader {
    /// A reader of `side`'s frames.
    pub fn new(side: Side) -> Self {
        SideReader {
            side,
            unframer: Unframer::default(),
            frame: None,
            msg: None,
            control: Vec::new(),
            control_hole: false,
            inflater: None,
        }
    }

    /// permessage-deflate was accepted; `fresh_each` when this side takes no context over.
    pub fn enable_deflate(&mut self, fresh_each: bool) {
        self.inflater = Some(Inflater::new(fresh_each, MAX_MESSAGE));
    }

    /// Bytes held (a partial header, a control payload).
    pub fn buffered(&self) -> usize {
        self.unframer.buffered() + self.control.len()
    }

    /// Whether this side's frames can no longer be followed.
    pub fn is_lost(&self) -> bool {
        self.unframer.is_lost()
    }

    /// This side's next bytes.
    pub fn data(
        &mut self,
        bytes: &[u8],
        at: FrameRef,
        facts: &mut WsFacts,
        out: &mut impl FnMut(WsOutput<'_>),
    ) {
        self.unframe(at, facts, out, |unframer, mut each| {
            unframer.data(bytes, &mut each)
        });
    }

    /// Bytes of this side the capture does not hold.
    pub fn gap(
        &mut self,
        len: u64,
        at: FrameRef,
        facts: &mut WsFacts,
        out: &mut impl FnMut(WsOutput<'_>),
    ) {
        self.unframe(at, facts, out, |unframer, mut each| {
            unframer.gap(len, &mut each)
        });
    }

    /// Runs `feed` on the unframer, every unit it finds read into `out` (the unframer is
    /// taken out for the while, so units can borrow this reader).
    fn unframe(
        &mut self,
        at: FrameRef,
        facts: &mut WsFacts,
        out: &mut impl FnMut(WsOutput<'_>),
        feed: impl FnOnce(&mut Unframer, &mut dyn FnMut(Unit<'_>)),
    ) {
        let mut unframer = std::mem::take(&mut self.unframer);
        let mut sink = Sink {
            side: self.side,
            at,
            facts,
            out,
        };
        feed(&mut unframer, &mut |u| self.unit(u, &mut sink));
        self.unframer = unframer;
    }

    fn unit<O: FnMut(WsOutput<'_>)>(&mut self, u: Unit<'_>, s: &mut Sink<'_, '_, O>) {
        match u {
            Unit::Head(h) => self.head(h, s),
            Unit::Body(b) => self.body(b, s),
            Unit::Hole(n) => self.hole(n, s),
            Unit::End => self.end(s),
            Unit::Lost(n) => self.lost(n, s),
        }
    }

    fn head<O: FnMut(WsOutput<'_>)>(&mut self, h: Header, s: &mut Sink<'_, '_, O>) {
        *s.facts.frames.get_mut(self.side) += 1;
        match (self.side, h.mask.is_some()) {
            (Side::Client, false) => s.error(WsError::UnmaskedClientFrame),
            (Side::Server, true) => s.error(WsError::MaskedServerFrame),
            _ => {}
        }
        let rsv1_ok = self.inflater.is_some() && matches!(h.opcode, 1 | 2);
        if h.rsv23 || (h.rsv1 && !rsv1_ok) {
            s.error(WsError::ReservedBits);
        }
        self.frame = Some(match h.opcode {
            8..=10 => self.control_head(h, s),
            0 => self.continuation(h, s),
            1 | 2 => self.message_head(h, s),
            opcode => {
                s.error(WsError::BadOpcode { opcode });
                Frame::Skip
            }
        });
    }

    fn control_head<O: FnMut(WsOutput<'_>)>(
        &mut self,
        h: Header,
        s: &mut Sink<'_, '_, O>,
    ) -> Frame {
        if h.len > MAX_CONTROL as u64 {
            s.error(WsError::ControlTooLong);
        }
        if !h.fin {
            s.error(WsError::FragmentedControl);
        }
        self.control.clear();
        self.control_hole = false;
        Frame::Control(h.opcode)
    }

    fn continuation<O: FnMut(WsOutput<'_>)>(
        &mut self,
        h: Header,
        s: &mut Sink<'_, '_, O>,
    ) -> Frame {
        if self.msg.is_none() {
            s.error(WsError::StrayContinuation);
            self.msg = Some(Message {
                compressed: false,
                broken: false,
            });
        }
        Frame::Data { fin: h.fin }
    }

    fn message_head<O: FnMut(WsOutput<'_>)>(
        &mut self,
        h: Header,
        s: &mut Sink<'_, '_, O>,
    ) -> Frame {
        if self.msg.is_some() {
            s.error(WsError::UnfinishedMessage);
            self.abandon();
        }
        if h.opcode == 1 {
            s.error(WsError::TextFrame);
        }
        let compressed = h.rsv1 && self.inflater.is_some();
        let readable = self
            .inflater
            .as_mut()
            .is_none_or(|z| !compressed || z.start());
        if !readable {
            s.error(WsError::InflateFailed);
        }
        self.msg = Some(Message {
            compressed,
            broken: !readable,
        });
        Frame::Data { fin: h.fin }
    }

    fn body<O: FnMut(WsOutput<'_>)>(&mut self, b: &[u8], s: &mut Sink<'_, '_, O>) {
        match (self.frame, self.msg) {
            (Some(Frame::Control(_)), _) => {
                let room = MAX_CONTROL.saturating_sub(self.control.len());
                self.control.extend_from_slice(&b[..b.len().min(room)]);
            }
            (Some(Frame::Data { .. }), Some(m)) if !m.compressed => s.mqtt(b),
            (Some(Frame::Data { .. }), Some(m)) if m.broken => s.gap(b.len() as u64),
            (Some(Frame::Data { .. }), Some(_)) => self.inflate(b, s),
            _ => {}
        }
    }

    /// Inflates a piece of a compressed message, or reports it lost when inflating stops.
    fn inflate<O: FnMut(WsOutput<'_>)>(&mut self, b: &[u8], s: &mut Sink<'_, '_, O>) {
        let Some(z) = self.inflater.as_mut() else {
            return;
        };
        if let Err(stop) = z.feed(b, &mut |o| s.mqtt(o)) {
            self.stopped(stop, b.len() as u64, s);
        }
    }

    /// Inflating stopped: the error, and the piece counted as lost.
    fn stopped<O: FnMut(WsOutput<'_>)>(
        &mut self,
        stop: InflateStop,
        len: u64,
        s: &mut Sink<'_, '_, O>,
    ) {
        s.error(match stop {
            InflateStop::Corrupt => WsError::InflateFailed,
            InflateStop::TooLong => WsError::InflateTooLong,
        });
        s.gap(len);
        if let Some(m) = self.msg.as_mut() {
            m.broken = true;
        }
    }

    fn hole<O: FnMut(WsOutput<'_>)>(&mut self, n: u64, s: &mut Sink<'_, '_, O>) {
        match self.frame {
            Some(Frame::Control(_)) => self.control_hole = true,
            Some(Frame::Data { .. }) => {
                if let Some(m) = self.msg.as_mut().filter(|m| m.compressed && !m.broken) {
                    m.broken = true;
                    if let Some(z) = self.inflater.as_mut() {
                        z.abandon();
                    }
                }
                s.gap(n);
            }
            Some(Frame::Skip) | None => {}
        }
    }

    fn end<O: FnMut(WsOutput<'_>)>(&mut self, s: &mut Sink<'_, '_, O>) {
        match self.frame.take() {
            Some(Frame::Control(op)) => self.control_end(op, s),
            Some(Frame::Data { fin: true }) => self.message_end(s),
            _ => {}
        }
    }

    /// A data message's last frame ended.
    fn message_end<O: FnMut(WsOutput<'_>)>(&mut self, s: &mut Sink<'_, '_, O>) {
        let Some(m) = self.msg.take() else {
            return;
        };
        *s.facts.messages.get_mut(self.side) += 1;
        if !m.compressed || m.broken {
            return;
        }
        let Some(z) = self.inflater.as_mut() else {
            return;
        };
        if let Err(stop) = z.finish(&mut |o| s.mqtt(o)) {
            self.stopped(stop, 0, s);
        }
    }

    /// A message left unfinished: its inflater's window no longer follows the sender.
    fn abandon(&mut self) {
        if let (Some(m), Some(z)) = (self.msg.take(), self.inflater.as_mut())
            && m.compressed
        {
            z.abandon();
        }
    }

    fn control_end<O: FnMut(WsOutput<'_>)>(&mut self, op: u8, s: &mut Sink<'_, '_, O>) {
        let (side, at) = (self.side, s.at);
        let f = &mut *s.facts;
        match op {
            9 => {
                *f.pings.get_mut(side) += 1;
                *f.last_ping.get_mut(side) = Some(at);
                *f.unanswered_pings.get_mut(side) += 1;
                s.event(WsEventKind::Ping);
            }
            10 => {
                *f.pongs.get_mut(side) += 1;
                *f.last_pong.get_mut(side) = Some(at);
                *f.unanswered_pings.get_mut(side.other()) = 0;
                s.event(WsEventKind::Pong);
            }
            _ => self.close(s),
        }
        self.control.clear();
    }

    /// A Close frame: 2-byte code and UTF-8 reason, or empty.
    fn close<O: FnMut(WsOutput<'_>)>(&mut self, s: &mut Sink<'_, '_, O>) {
        let (code, reason) = match self.control.as_slice() {
            _ if self.control_hole => (None, String::new()),
            [] => (None, String::new()),
            [_] => {
                s.error(WsError::BadClosePayload);
                (None, String::new())
            }
            [a, b, rest @ ..] => (
                Some(u16::from_be_bytes([*a, *b])),
                String::from_utf8_lossy(rest).into_owned(),
            ),
        };
        let first = s.facts.closes.get_mut(self.side);
        if first.is_none() {
            *first = Some(CloseFact {
                at: s.at,
                code,
                reason: reason.clone(),
            });
        }
        s.event(WsEventKind::Close { code, reason });
    }

    /// Sync lost: this side's frames are no longer read; the bytes are reported lost.
    fn lost<O: FnMut(WsOutput<'_>)>(&mut self, n: u64, s: &mut Sink<'_, '_, O>) {
        let flag = s.facts.lost_sync.get_mut(self.side);
        if !*flag {
            *flag = true;
            s.event(WsEventKind::LostSync);
            self.abandon();
            self.frame = None;
            self.control = Vec::new();
        }
        s.gap(n);
    }
}
