//! WebSocket inside TLS (`wss://`), told without keys from the sizes of the first records,
//! and the WebSocket framing taken off every record after it, so that the inference reads
//! MQTT packets as it does over plain TLS.
//!
//! The upgrade is an HTTP exchange no MQTT connection starts with: the client's first write
//! is a request carrying `Upgrade`, `Connection`, `Sec-WebSocket-Key` (24 characters) and
//! `Sec-WebSocket-Version` headers, at least 140 bytes; the server answers with `101
//! Switching Protocols` and `Sec-WebSocket-Accept` (28 characters), at least 129 bytes (159
//! with the `mqtt` subprotocol that MQTT over WebSocket requires; mosquitto and the `ws`
//! library send exactly that), where a CONNACK is 4 bytes in 3.1.1 and a few dozen at most
//! in 5.0. Only then does the client write again, its CONNECT in a frame. In TLS 1.3 the
//! server's session tickets (usually two of the same size, 200+ bytes) come before the
//! request or between it and the 101, so the 101 is the last server record before the
//! client's second write, and differs in size from the record before it. A connection that
//! does not fit is read as before.
//!
//! After the upgrade, a client frame carries a 2-byte header and a 4-byte mask (RFC 6455,
//! 5.2), a server frame the header alone; both are taken off. A 6-byte client record is an
//! empty control frame (a Close without code, a pong) and is dropped; a client record
//! under 6 bytes cannot be a frame and is passed on whole (a TLS 1.3 alert, such as
//! close_notify), as is a server record of 2 bytes or less (an empty Close or ping, or that
//! alert: the inference tells them apart by position). Frames of 126 bytes or more carry 2
//! or 8 bytes of length more, which leaves them large all the same.

use super::sizes::PlainLen;
use crate::evidence::FrameRef;
use crate::tcp::Side;

/// The shortest plaintext of an upgrade request.
const MIN_REQUEST: usize = 140;
/// The shortest plaintext of a `101 Switching Protocols` answer.
const MIN_SWITCHING: usize = 129;
/// The longest plaintext taken for one (headers beyond that are not an upgrade answer).
const MAX_SWITCHING: usize = 1024;
/// The shortest client record after the answer: a masked frame with a byte in it (MQTT.js
/// writes a CONNECT in frames of a byte or two).
const MIN_FRAME: usize = 7;
/// Server records held while the upgrade is undecided (tickets and the answer).
const MAX_HELD: usize = 6;
/// A client frame's header and mask.
const CLIENT_FRAME: PlainLen = PlainLen::Exact(6);
/// A server frame's header.
const SERVER_FRAME: PlainLen = PlainLen::Exact(2);

/// One application record: its sender, plaintext length and frame.
pub type Record = (Side, PlainLen, FrameRef);

/// Where the connection stands.
#[derive(Debug, Default, PartialEq, Eq)]
enum Stage {
    /// No application record yet.
    #[default]
    Start,
    /// The client's first write looked like an upgrade request: records are held until
    /// the client writes again.
    Watching,
    /// WebSocket: framing is taken off every record.
    Ws,
    /// Not WebSocket: records pass as they are.
    Plain,
}

/// The upgrade watch of one connection.
#[derive(Default)]
pub struct Upgrade {
    stage: Stage,
    /// While watching: the request, then the server's records, in order.
    held: Vec<Record>,
}

impl Upgrade {
    /// Whether the connection was found to carry WebSocket.
    pub fn is_ws(&self) -> bool {
        self.stage == Stage::Ws
    }

    /// Records held.
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// One application record; `feed` gets each record the inference should read now, in
    /// order, framing taken off.
    pub fn record(&mut self, r: Record, feed: &mut impl FnMut(Record)) {
        let (side, len, _) = r;
        match self.stage {
            Stage::Start if side == Side::Client && len.lo() >= MIN_REQUEST => {
                self.stage = Stage::Watching;
                self.held.push(r);
            }
            // Session tickets may come before the client's first write.
            Stage::Start if side == Side::Server => feed(r),
            Stage::Start | Stage::Plain => {
                self.stage = Stage::Plain;
                feed(r);
            }
            Stage::Watching if side == Side::Server && self.held.len() <= MAX_HELD => {
                self.held.push(r);
            }
            Stage::Watching if side == Side::Client && self.answered(len) => {
                self.stage = Stage::Ws;
                let mut held = std::mem::take(&mut self.held);
                // The request and the answer are HTTP; what came between them (tickets)
                // goes on as it was.
                held.pop();
                held.drain(1..).for_each(&mut *feed);
                self.ws_record(r, feed);
            }
            Stage::Watching => {
                self.settle(feed);
                feed(r);
            }
            Stage::Ws => self.ws_record(r, feed),
        }
    }

    /// Anything but an application record (a close, an alert, the end): an undecided
    /// upgrade is not one, and what was held goes to `feed` as it came.
    pub fn settle(&mut self, feed: &mut impl FnMut(Record)) {
        if self.stage == Stage::Watching {
            self.stage = Stage::Plain;
            self.held.drain(..).for_each(feed);
        }
    }

    /// The client writes again after its request: was the request answered by a 101?
    fn answered(&self, len: PlainLen) -> bool {
        let mut server = self.held.iter().skip(1).rev().map(|&(_, l, _)| l);
        let Some(last) = server.next() else {
            return false;
        };
        (MIN_SWITCHING..=MAX_SWITCHING).contains(&last.lo())
            && server.next() != Some(last)
            && len.lo() >= MIN_FRAME
    }

    /// A record after the upgrade, its framing taken off.
    fn ws_record(&self, (side, len, at): Record, feed: &mut impl FnMut(Record)) {
        // Too short to be a frame (a client's), or no longer than an empty one (a
        // server's, which an alert can be too): passed whole.
        let (frame, whole) = match side {
            Side::Client => (CLIENT_FRAME, len.hi() < CLIENT_FRAME.lo()),
            Side::Server => (SERVER_FRAME, len.hi() <= SERVER_FRAME.lo()),
        };
        if whole {
            feed((side, len, at));
        } else if len != frame {
            feed((side, len.minus(frame), at));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Timestamp;

    const C: Side = Side::Client;
    const S: Side = Side::Server;

    /// Records of the given sides and plaintext lengths, a millisecond apart, through a
    /// fresh watch and then its settling; what the inference is fed.
    fn fed(records: &[(Side, usize)]) -> (Vec<(Side, usize)>, bool) {
        let mut u = Upgrade::default();
        let mut out = Vec::new();
        let mut feed = |(side, len, _): Record| out.push((side, len.lo()));
        for (i, &(side, len)) in records.iter().enumerate() {
            let at = FrameRef::new(i as u64 + 1, Timestamp(i as i64 * 1_000_000));
            u.record((side, PlainLen::Exact(len), at), &mut feed);
        }
        u.settle(&mut feed);
        let ws = u.is_ws();
        (out, ws)
    }

    #[test]
    fn an_upgrade_between_tickets_and_a_connect_frame_is_websocket() {
        // mosquitto, TLS 1.3: the request, two tickets, the 101, then a CONNECT frame, a
        // PINGREQ and PINGRESP in frames, a pong (empty control frame), a close_notify.
        let (out, ws) = fed(&[
            (C, 219),
            (S, 233),
            (S, 233),
            (S, 159),
            (C, 31),
            (C, 8),
            (S, 4),
            (C, 6),
            (C, 2),
        ]);
        assert!(ws);
        assert_eq!(out, [(S, 233), (S, 233), (C, 25), (C, 2), (S, 2), (C, 2)]);
        // The tickets before the request (aedes), and TLS 1.2 with none.
        assert!(fed(&[(S, 265), (S, 265), (C, 219), (S, 159), (C, 7)]).1);
        assert!(fed(&[(C, 219), (S, 159), (C, 41)]).1);
    }

    #[test]
    fn mqtt_over_tls_is_left_as_it_is() {
        // A long CONNECT (a token as password) answered by a CONNACK.
        let plain = [
            (C, 300),
            (S, 233),
            (S, 233),
            (S, 4),
            (C, 40),
            (C, 2),
            (S, 2),
        ];
        assert_eq!(fed(&plain), (plain.to_vec(), false));
        // Pipelined after the tickets: the last server record is a ticket like the one
        // before it.
        let pipelined = [(C, 300), (S, 233), (S, 233), (C, 40)];
        assert_eq!(fed(&pipelined), (pipelined.to_vec(), false));
        // A short CONNECT, and a close before the client writes again.
        let short = [(C, 30), (S, 159), (C, 8)];
        assert_eq!(fed(&short), (short.to_vec(), false));
        let closed = [(C, 219), (S, 159)];
        assert_eq!(fed(&closed), (closed.to_vec(), false));
    }

    #[test]
    fn the_watch_holds_a_few_records_at_most() {
        let mut many = vec![(C, 219)];
        many.extend([(S, 159); 20]);
        many.push((C, 31));
        let (out, ws) = fed(&many);
        assert!(!ws);
        assert_eq!(out, many);
    }
}
