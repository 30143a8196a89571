//! MQTT packets inferred from the sizes of application-data records, without keys.
//!
//! Each application record is one "write" (one MQTT packet, or several that one TLS write
//! carried), named by its plaintext length, direction and place in the exchange. The one
//! exception is a packet split over records (a client writing the fixed header, then the
//! rest, without corking): a record of 2-5 bytes followed in the same frame by records
//! whose sum fits the remaining length that header size can encode joins them. Real
//! captures decided this: mosquitto writes one record per packet, three packets in one
//! frame being three records (PUBLISH, PUBACK, PUBLISH); MQTT.js 5 corks several packets
//! into one record (which no size can split); and records in different frames 0.1 ms
//! apart are different packets (a PUBACK and the DISCONNECT after it, a CONNECT and the
//! SUBSCRIBE after it), so neither a frame nor a 1 ms window makes a write.
//!
//! A small write (≤ 4 bytes) is held until the next event decides it: a PINGREQ is followed
//! by the other side's PINGRESP, a DISCONNECT by its sender's FIN. In TLS 1.3 a 19-byte
//! record is both a 2-byte MQTT packet and an encrypted alert (2 alert bytes + 1 content
//! type + 16 tag), decided by position:
//! - when the sender's FIN/RST follows within a second with no answer, the LAST such record
//!   is its close_notify and a small write before it a DISCONNECT; but a client's lone
//!   19-byte record before its FIN is a DISCONNECT (paho over Python's ssl sends no
//!   close_notify; OpenSSL-based clients send both, two 19-byte records; MQTT.js a 5.0
//!   DISCONNECT of 4 bytes and a close_notify);
//! - a small write answered by a 19-byte record and at once followed by another 19-byte
//!   record from its sender is DISCONNECT, the broker's close_notify and the client's;
//! - a 2-byte record that answers a held small write is a PINGRESP, unless its sender then
//!   closes: then it was a close_notify and the write it answered a DISCONNECT (the broker
//!   closes when it reads DISCONNECT, before the client's own close_notify and FIN);
//! - a 2-byte record after the other side closed is a close_notify.
//!
//! WebSocket inside TLS is told from the first records (`upgrade`), which then takes the
//! framing off every record; a side's records within a burst of 2 ms are then one write,
//! since some clients write a packet's fields as frames of their own.

use super::sizes::PlainLen;
use super::upgrade::{Record, Upgrade};
use super::writes::{TWO, Write, size};
use super::{InferredPacket, TlsEvent, TlsEventKind, TlsOutput};
use crate::evidence::FrameRef;
use crate::mqtt::PacketKind;
use crate::tcp::Side;
use crate::time::{Span, Timestamp};

/// A close this soon after a held small write decides it as a closing packet.
const CLOSE_WINDOW: Span = Span::from_secs(1);
/// A client's 2-byte record this soon after the broker's 2-byte answer is its close_notify
/// (answering the broker's), not a new PINGREQ: keepalives are whole seconds, an answer to a
/// close_notify comes within a round trip.
const ANSWER_WINDOW: Span = Span(500_000_000);
/// A broker's FIN this soon after a client's small write answers it: the broker acted on
/// a DISCONNECT (a round trip and the broker's work; a PINGREQ as often falls in the window
/// before an unrelated close as the window is a share of the keepalive).
const ACT_WINDOW: Span = Span(200_000_000);
/// A small write later than this after the other side's last PUBLISH is not its ack.
const ACK_WINDOW: Span = Span::from_secs(1);
/// Small writes held per side at most; older ones are decided without the close.
const MAX_HELD: usize = 4;
/// TLS 1.3 NewSessionTicket records carry at least this much plaintext (lifetime, age add,
/// nonce, a ticket of usually 100+ bytes, extensions): far more than a CONNACK (4 bytes in
/// 3.1.1, 5 to about 40 in 5.0 with properties). Smaller server records are MQTT.
const MIN_TICKET: usize = 60;

#[derive(Default)]
struct SideState {
    open: Option<Write>,
    held: Vec<Write>,
    /// A PUBLISH larger than an ack was decided (the last one's time) and no ack answered
    /// it yet.
    big_pending: Option<Timestamp>,
    /// FIN or RST seen.
    closed: bool,
}

/// Inference state of one connection.
#[derive(Default)]
pub struct Inferer {
    sides: [SideState; 2],
    connect_seen: bool,
    connack_seen: bool,
    ping_outstanding: bool,
    /// Server writes begun (open or decided), tickets excepted.
    server_writes: u32,
    /// The client wrote after the server's first write.
    client_after_server: bool,
    /// The client wrote an application record.
    client_wrote: bool,
    /// The side whose held writes wait for the next event: the other side answered them
    /// with a 2-byte record that may be a PINGRESP or a close_notify.
    deferred: Option<Side>,
    /// TLS 1.3: 19-byte records are ambiguous; tickets follow the handshake.
    pub tls13: bool,
    /// WebSocket inside, told from the first records, and its framing taken off.
    upgrade: Upgrade,
    /// Records the upgrade watch let through, read in turn (kept for its allocation).
    passed: Vec<Record>,
}

/// What the inference asks its owner to record in the facts.
pub enum Note {
    /// A guessed close_notify.
    CloseNotify(FrameRef, Side),
    /// An encrypted alert inferred from position.
    Alert(FrameRef, Side),
    /// A TLS 1.3 session ticket.
    Ticket,
}

impl Inferer {
    /// One application-data record of `side`, with its plaintext length.
    pub fn record(
        &mut self,
        side: Side,
        len: PlainLen,
        at: FrameRef,
        out: &mut impl FnMut(TlsOutput),
        note: &mut impl FnMut(Note),
    ) {
        let mut passed = std::mem::take(&mut self.passed);
        self.upgrade
            .record((side, len, at), &mut |r| passed.push(r));
        self.read_passed(passed, out, note);
    }

    /// Whether the connection carries WebSocket (`wss://`), told from its first records.
    pub fn is_ws(&self) -> bool {
        self.upgrade.is_ws()
    }

    /// Something other than an application record comes: an upgrade still undecided is
    /// not one, and its held records are read as they came.
    fn settle(&mut self, out: &mut impl FnMut(TlsOutput), note: &mut impl FnMut(Note)) {
        let mut passed = std::mem::take(&mut self.passed);
        self.upgrade.settle(&mut |r| passed.push(r));
        self.read_passed(passed, out, note);
    }

    /// Reads the records the upgrade watch let through, keeping the vector for the next.
    fn read_passed(
        &mut self,
        mut passed: Vec<Record>,
        out: &mut impl FnMut(TlsOutput),
        note: &mut impl FnMut(Note),
    ) {
        for (side, len, at) in passed.drain(..) {
            self.read(side, len, at, out, note);
        }
        self.passed = passed;
    }

    /// One application record as MQTT's (framing, if any, taken off).
    fn read(
        &mut self,
        side: Side,
        len: PlainLen,
        at: FrameRef,
        out: &mut impl FnMut(TlsOutput),
        note: &mut impl FnMut(Note),
    ) {
        if side == Side::Server && self.is_ticket(len) {
            note(Note::Ticket);
            out(TlsOutput::Event(TlsEvent {
                at,
                side,
                kind: TlsEventKind::SessionTicket,
            }));
            return;
        }
        if side == Side::Server && self.tls13 && len == TWO && !self.client_wrote {
            // Before the client's first write a broker has nothing of MQTT's to send: a
            // 19-byte record then is an encrypted alert (certificate_required 116 after the
            // client's Finished, whatever the client writes next).
            note(Note::Alert(at, side));
            let kind = TlsEventKind::Alert {
                level: None,
                description: None,
                encrypted: true,
            };
            out(TlsOutput::Event(TlsEvent { at, side, kind }));
            return;
        }
        self.client_wrote |= side == Side::Client;
        if self.tls13 && len == TWO && self.sides[side.other().idx()].closed {
            // The peer has closed: this side's 19-byte record answers with its close_notify.
            self.decide(side, false, out);
            note(Note::CloseNotify(at, side));
            let kind = TlsEventKind::CloseNotify { guessed: true };
            out(TlsOutput::Event(TlsEvent { at, side, kind }));
            return;
        }
        if side == Side::Client
            && self.deferred == Some(side)
            && len == TWO
            && let Some(answer) = self.sides[side.other().idx()].open
            && answer.n == 1
            && at.ts - answer.last.ts <= ANSWER_WINDOW
        {
            self.sides[side.other().idx()].open = None;
            // A small write, a 19-byte answer, and at once another 19-byte record from the
            // first side: not a PINGREQ/PINGRESP (no second PINGREQ follows a PINGRESP
            // within a second) but DISCONNECT, the broker's close_notify, the client's.
            self.decide(side, true, out);
            for (at, side) in [(answer.last, side.other()), (at, side)] {
                note(Note::CloseNotify(at, side));
                let kind = TlsEventKind::CloseNotify { guessed: true };
                out(TlsOutput::Event(TlsEvent { at, side, kind }));
            }
            return;
        }
        if let Some(d) = self.deferred.take() {
            self.decide(d, false, out);
        }
        let other = &self.sides[side.other().idx()];
        // Only the broker answers a small write with a 2-byte record (PINGRESP); a client's
        // 2-byte record after a CONNACK is its own packet.
        let answer = self.tls13
            && side == Side::Server
            && len == TWO
            && (other.open.is_some() || !other.held.is_empty())
            && self.sides[side.idx()].open.is_none();
        if answer {
            self.close_open(side.other(), out);
            self.deferred = Some(side.other());
        } else {
            self.decide(side.other(), false, out);
        }
        if side == Side::Client && self.server_writes > 0 {
            self.client_after_server = true;
        }
        if let Some(w) = &mut self.sides[side.idx()].open
            && (w.continued_by(len, at) || (self.upgrade.is_ws() && w.burst_continued_by(at)))
        {
            w.push(at, len);
            return;
        }
        self.close_open(side, out);
        if side == Side::Server {
            self.server_writes += 1;
        }
        self.sides[side.idx()].open = Some(Write::new(at, len));
    }

    /// Tickets come right after the client's Finished, before or just after the CONNACK.
    fn is_ticket(&self, len: PlainLen) -> bool {
        self.tls13
            && len.lo() >= MIN_TICKET
            && (self.server_writes == 0 || (self.server_writes == 1 && !self.client_after_server))
    }

    /// A record that ends a write without being one (an encrypted TLS 1.2 alert during
    /// the handshake).
    pub fn boundary(
        &mut self,
        side: Side,
        out: &mut impl FnMut(TlsOutput),
        note: &mut impl FnMut(Note),
    ) {
        self.settle(out, note);
        self.close_open(side, out);
    }

    /// An encrypted TLS 1.2 alert after the handshake (almost always close_notify): the
    /// side's small writes before it are its closing packets (a DISCONNECT).
    pub fn closing_alert(
        &mut self,
        side: Side,
        out: &mut impl FnMut(TlsOutput),
        note: &mut impl FnMut(Note),
    ) {
        self.settle(out, note);
        self.decide(side, true, out);
    }

    /// Ends `side`'s open write: held when small, else decided.
    fn close_open(&mut self, side: Side, out: &mut impl FnMut(TlsOutput)) {
        let s = &mut self.sides[side.idx()];
        let Some(w) = s.open.take() else { return };
        let fresh = s
            .held
            .last()
            .is_none_or(|h| w.first.ts - h.last.ts <= CLOSE_WINDOW);
        if w.small() && fresh && s.held.len() < MAX_HELD {
            s.held.push(w);
            return;
        }
        self.decide(side, false, out);
        self.classify(side, w, false, out);
    }

    /// Decides `side`'s open and held writes; `closing` when its close follows them.
    fn decide(&mut self, side: Side, closing: bool, out: &mut impl FnMut(TlsOutput)) {
        if self.deferred == Some(side) {
            self.deferred = None;
        }
        let s = &mut self.sides[side.idx()];
        let mut held = std::mem::take(&mut s.held);
        held.extend(s.open.take());
        let n = held.len();
        for (i, w) in held.iter().enumerate() {
            if closing && i + 1 == n {
                self.last_before_close(side, *w, out);
            } else {
                self.classify(side, *w, false, out);
            }
        }
        held.clear();
        self.sides[side.idx()].held = held;
    }

    /// The last write before a close: its last small record, when it has several, is the
    /// closing packet, the rest a write of its own (a PUBACK and a DISCONNECT in one frame).
    fn last_before_close(&mut self, side: Side, mut w: Write, out: &mut impl FnMut(TlsOutput)) {
        // Over WebSocket a 1-byte frame is a piece of a packet (MQTT.js writes a packet's
        // fields as frames of their own), never a packet.
        let piece = |r: PlainLen| self.upgrade.is_ws() && r.hi() < 2;
        match w.last_rec() {
            Some(r) if w.n > 1 && r.lo() <= 4 && !piece(r) => {
                let last = w.last;
                w.pop();
                self.classify(side, w, false, out);
                let alone = Write::new(last, r);
                self.classify(side, alone, true, out);
            }
            _ => self.classify(side, w, true, out),
        }
    }

    /// `side` sent FIN (`fin`) or RST at `at`.
    pub fn close(
        &mut self,
        side: Side,
        at: FrameRef,
        fin: bool,
        out: &mut impl FnMut(TlsOutput),
        note: &mut impl FnMut(Note),
    ) {
        self.settle(out, note);
        self.sides[side.idx()].closed = true;
        if side == Side::Server && fin && self.upgrade.is_ws() && self.disconnect_acted_on(at) {
            self.decide(Side::Client, true, out);
        }
        let s = &self.sides[side.idx()];
        let last = s.open.as_ref().or(s.held.last()).map(|w| w.last.ts);
        if last.is_none_or(|t: Timestamp| at.ts - t > CLOSE_WINDOW) {
            self.decide(side, false, out);
            return;
        }
        let unacked_publish = self.unacked_publish(side.other(), at.ts);
        let s = &mut self.sides[side.idx()];
        if let Some(w) = s.open.take() {
            s.held.push(w);
        }
        let mut peeled_all = false;
        // The record before the last one, in the same write or the held one before it.
        let before_last = s.held.last().and_then(|w| match w.n {
            2.. => Some(w.recs[w.n - 2]),
            _ => s.held.iter().rev().nth(1).and_then(Write::last_rec),
        });
        // A client's lone 19-byte record before its FIN is its DISCONNECT, not a
        // close_notify: paho (Python ssl) closes after DISCONNECT without one, while
        // OpenSSL-based clients send DISCONNECT and close_notify, two 19-byte records.
        // A 4-byte write before it is a 5.0 DISCONNECT with a reason code (MQTT.js) unless
        // it acks a PUBLISH.
        let closing_before = match before_last {
            Some(PlainLen::Exact(2)) => true,
            Some(PlainLen::Exact(3..=4)) => !unacked_publish,
            _ => false,
        };
        let lone = side == Side::Client && !closing_before;
        if self.tls13
            && !lone
            && let Some(w) = s.held.last_mut()
            && w.last_rec() == Some(TWO)
        {
            let at = w.last;
            if w.pop().is_none() {
                s.held.pop();
                peeled_all = s.held.is_empty();
            }
            // The last 19-byte record before the close is the close_notify. A server that
            // closes after the handshake without any other write sent an alert instead (a
            // handshake or post-handshake failure, e.g. certificate_required 116 in TLS
            // 1.3): a CONNACK is never 2 bytes.
            let alert = side == Side::Server && !self.connack_seen && peeled_all;
            let kind = if alert {
                note(Note::Alert(at, side));
                TlsEventKind::Alert {
                    level: None,
                    description: None,
                    encrypted: true,
                }
            } else {
                note(Note::CloseNotify(at, side));
                TlsEventKind::CloseNotify { guessed: true }
            };
            out(TlsOutput::Event(TlsEvent { at, side, kind }));
        }
        // The other side's writes this close answered (a DISCONNECT the broker acted on).
        if self.deferred == Some(side.other()) {
            self.decide(side.other(), peeled_all, out);
        }
        self.decide(side, true, out);
    }

    /// The broker sends its FIN at `at`, within [`ACT_WINDOW`] of a small client write it
    /// did not answer: that write was a DISCONNECT it acted on. A PINGREQ gets a PINGRESP,
    /// not a close; a DISCONNECT gets a close at once, with no close_notify first from
    /// brokers that just drop the socket (aedes over WebSocket, the one place this is
    /// asked). A RST is left out: one right after a PINGREQ is as likely a middlebox's.
    fn disconnect_acted_on(&self, at: FrameRef) -> bool {
        let c = &self.sides[Side::Client.idx()];
        self.deferred.is_none()
            && c.open
                .as_ref()
                .or(c.held.last())
                .is_some_and(|w| w.small() && at.ts - w.last.ts <= ACT_WINDOW)
    }

    /// Whether `side` wrote a PUBLISH that no ack answered, recently enough before `now`
    /// for a small write to be its ack (a PUBACK follows its PUBLISH within a round trip;
    /// QoS 0 messages get none, and must not make a later DISCONNECT look like one).
    fn unacked_publish(&self, side: Side, now: Timestamp) -> bool {
        self.sides[side.idx()]
            .big_pending
            .is_some_and(|t| now - t <= ACK_WINDOW)
    }

    /// End of the capture: decide everything held.
    pub fn finish(&mut self, out: &mut impl FnMut(TlsOutput), note: &mut impl FnMut(Note)) {
        self.settle(out, note);
        self.decide(Side::Client, false, out);
        self.decide(Side::Server, false, out);
    }

    /// Writes and records held, for the bounded-state check.
    pub fn held(&self) -> usize {
        self.sides.iter().map(|s| s.held.len()).sum::<usize>() + self.upgrade.held()
    }

    fn classify(&mut self, side: Side, w: Write, closing: bool, out: &mut impl FnMut(TlsOutput)) {
        let n = size(w.total);
        let other_big = self.sides[side.other().idx()].big_pending.is_some();
        // Whether a small write before a close may be an ack rather than a DISCONNECT.
        let acks = self.unacked_publish(side.other(), w.last.ts);
        let (kind, reason) = match side {
            Side::Client if !self.connect_seen => {
                self.connect_seen = true;
                (PacketKind::Connect, "first client application write")
            }
            Side::Client if closing && n == 2 => (
                PacketKind::Disconnect,
                "2-byte client write right before its close, no PINGRESP after it (3.1.1)",
            ),
            Side::Client if closing && (3..=4).contains(&n) && !acks => (
                PacketKind::Disconnect,
                "3-4-byte client write right before its close (5.0 DISCONNECT with reason)",
            ),
            Side::Client if n == 2 => {
                self.ping_outstanding = true;
                (PacketKind::PingReq, "2-byte client write")
            }
            Side::Server if !self.connack_seen => {
                self.connack_seen = true;
                match n {
                    4 => (
                        PacketKind::ConnAck,
                        "first server write, 4 bytes: 3.1.1, code not visible",
                    ),
                    5.. => (
                        PacketKind::ConnAck,
                        "first server write, 5+ bytes: likely 5.0",
                    ),
                    _ => (
                        PacketKind::ConnAck,
                        "first server write (too short for a CONNACK)",
                    ),
                }
            }
            Side::Server if n == 2 && self.ping_outstanding => {
                self.ping_outstanding = false;
                (
                    PacketKind::PingResp,
                    "2-byte server write answering a PINGREQ",
                )
            }
            Side::Server if closing && (2..=4).contains(&n) && !acks => (
                PacketKind::Disconnect,
                "small server write right before its close (5.0 DISCONNECT)",
            ),
            Side::Server if n == 2 => (PacketKind::PingResp, "2-byte server write"),
            _ if n == 4 && other_big => (
                PacketKind::PubAck,
                "4-byte write answering a larger one (PUBACK/PUBREC/PUBREL/PUBCOMP)",
            ),
            _ => (
                PacketKind::Publish,
                "application write after CONNECT/CONNACK",
            ),
        };
        if kind == PacketKind::Publish && n > 4 {
            self.sides[side.idx()].big_pending = Some(w.last.ts);
        }
        if kind == PacketKind::PubAck {
            self.sides[side.other().idx()].big_pending = None;
        }
        out(TlsOutput::Inferred(InferredPacket {
            at: w.last,
            side,
            kind,
            len: w.total,
            reason,
        }));
    }
}
