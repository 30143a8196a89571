//! The session stage: a connection's MQTT packets in order, its keepalive clock, and the
//! `Connection` record that later stages judge.

mod connection;
mod timeline;

pub use connection::{
    ConnAckFacts, Connection, DisconnectFacts, PacketCounts, Sides, TcpEnd, TcpEndKind,
};
pub use timeline::{Entry, Inferred, Timeline, What};

use crate::evidence::FrameRef;
use crate::mqtt::{self, Connect, Found, MqttStream, Packet, PacketKind, Version};
use crate::tcp::Side;
use crate::time::{Span, Timestamp};
use crate::transport::{Delivery, InferredPacket};
use serde::Serialize;
use std::collections::VecDeque;

/// Limits of the session stage.
#[derive(Debug, Clone)]
pub struct SessionLimits {
    /// Longest MQTT packet reassembled; longer ones are skipped and counted.
    pub max_packet: usize,
    /// Timeline entries kept from a connection's start.
    pub timeline_head: usize,
    /// Timeline entries kept before a connection's end.
    pub timeline_tail: usize,
    /// Keep CONNECT user names (never passwords).
    pub keep_usernames: bool,
}

/// A named anomaly: something on the wire that breaks the protocol or the capture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "anomaly", rename_all = "snake_case")]
pub enum Anomaly {
    /// The client sent a packet other than CONNECT first.
    PacketBeforeConnect {
        /// The packet type.
        packet: &'static str,
    },
    /// The client sent CONNECT a second time on one connection.
    SecondConnect,
    /// A packet that could not be decoded.
    Malformed {
        /// What was wrong.
        reason: String,
    },
    /// A packet longer than the configured cap was skipped.
    Oversized {
        /// Its declared length.
        len: usize,
    },
    /// Bytes that are not MQTT: the stream lost sync.
    NotMqtt,
    /// The stream regained sync after a hole.
    Resynced,
    /// A packet partly cut from the capture (snaplen or hole); counted, not decoded.
    Cut {
        /// The packet type.
        packet: &'static str,
    },
}

/// A PINGREQ (or any client packet) that was due and came late or never.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct KeepaliveMiss {
    /// The client's last MQTT packet before the silence.
    pub last: FrameRef,
    /// When the next packet was due (last + keepalive), seconds since the epoch.
    pub due: crate::time::Timestamp,
    /// The client's next MQTT packet, if it came.
    pub next: Option<FrameRef>,
}

/// A quiet spell that a client PINGREQ ended and the broker answered: the NAT and the path
/// let an idle as long as the client's ping cadence pass.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct PingedIdle {
    /// The PINGREQ that ended it.
    pub pingreq: FrameRef,
    /// Seconds with no MQTT packet either way before it.
    pub seconds: f64,
}

/// How late a client packet may be before it counts as a missed keepalive, as a fraction
/// of the keepalive: clients check their timers on coarse ticks, so a PINGREQ a little after
/// the keepalive is normal; past 1.5 × keepalive the broker may already have closed.
const KEEPALIVE_SLACK: f64 = 0.25;

/// A PINGREQ ends a quiet spell of the client's ping cadence when nothing came either way
/// for at least this share of the client's own silence before it (a broker's message in
/// the middle means the spell was shorter than the cadence).
const QUIET_SHARE: f64 = 0.9;
/// Inferred PINGREQ times kept per connection, for the keepalive cadence.
const INFERRED_PINGS_KEPT: usize = 256;
/// Anomalies kept per connection (the rest are counted).
const ANOMALIES_KEPT: usize = 32;
/// Missed keepalives and unanswered PINGREQs kept per connection.
const MISSES_KEPT: usize = 32;

/// The MQTT view of one connection as it is being read.
pub struct Session {
    streams: [MqttStream; 2],
    facts: Facts,
}

/// Everything a session learned, apart from the framing state (kept apart so the framer
/// can hand packets over without copying them).
struct Facts {
    limits: SessionLimits,
    connect: Option<(FrameRef, Connect)>,
    connack: Option<ConnAckFacts>,
    disconnect: Option<DisconnectFacts>,
    counts: PacketCounts,
    published_bytes: u64,
    last_packet: [Option<FrameRef>; 2],
    misses: Vec<KeepaliveMiss>,
    outstanding_pings: VecDeque<FrameRef>,
    /// The latest PINGREQ that ended a quiet spell, until its PINGRESP.
    pending_pinged_idle: Option<PingedIdle>,
    longest_pinged_idle: Option<PingedIdle>,
    inferred_pingreqs: Vec<Timestamp>,
    inferred_connect: Option<FrameRef>,
    anomalies: Vec<(FrameRef, Side, Anomaly)>,
    anomalies_total: u64,
    oversized: u64,
    timeline: Timeline,
    start_seen: bool,
    after_hole: [bool; 2],
}

impl Session {
    /// A session whose stream starts in sync when `start_seen` (the SYN is in the capture).
    pub fn new(start_seen: bool, limits: SessionLimits) -> Session {
        let stream = || MqttStream::new(start_seen, limits.max_packet);
        let streams = [stream(), stream()];
        Session {
            streams,
            facts: Facts::new(start_seen, limits),
        }
    }

    /// The protocol version, once CONNECT was seen.
    pub fn version(&self) -> Option<Version> {
        self.facts.version()
    }

    /// The CONNECT and its frame, once seen.
    pub fn connect(&self) -> Option<(FrameRef, &Connect)> {
        self.facts.connect.as_ref().map(|(at, c)| (*at, c))
    }

    /// One side's last MQTT packet (for the client, what its keepalive clock runs from).
    pub fn last_packet(&self, side: Side) -> Option<FrameRef> {
        self.facts.last_packet[side.idx()]
    }

    /// The client's silence at `now` when it passes `ratio` × its keepalive (MQTT lets the
    /// server close a connection whose client sent nothing for 1.5 × keepalive): the
    /// client's last packet and how long it has been silent.
    pub fn silent_past_keepalive(&self, now: Timestamp, ratio: f64) -> Option<(FrameRef, Span)> {
        let (_, connect) = self.connect()?;
        let last = self.last_packet(Side::Client)?;
        let ka = connect.keepalive;
        let allowed = Span::from_secs_f64(f64::from(ka) * ratio);
        let silent_for = now - last.ts;
        (ka > 0 && silent_for > allowed).then_some((last, silent_for))
    }

    /// Packets skipped for being longer than the cap.
    pub fn oversized(&self) -> u64 {
        self.facts.oversized
    }

    /// Bytes held for packets split across segments.
    pub fn buffered(&self) -> usize {
        self.streams.iter().map(|s| s.buffered()).sum()
    }

    /// Takes one delivery of the transport stage.
    pub fn on_delivery(&mut self, d: Delivery<'_>) {
        let Session { streams, facts } = self;
        match d {
            Delivery::Mqtt { side, bytes, at } => {
                streams[side.idx()].data(bytes, &mut |f| facts.on_found(side, at, f));
            }
            Delivery::Gap { side, len, at } => {
                facts.after_hole[side.idx()] = true;
                streams[side.idx()].gap(len, &mut |f| facts.on_found(side, at, f));
            }
            Delivery::Inferred(p) => facts.on_inferred(p),
            Delivery::Tls(ev) => facts.timeline.push(Entry {
                at: ev.at,
                side: ev.side,
                what: What::Tls(ev.kind),
            }),
            Delivery::Ws(ev) => facts.timeline.push(Entry {
                at: ev.at,
                side: ev.side,
                what: What::Ws(ev.kind.clone()),
            }),
            Delivery::Tcp(ev) => facts.timeline.push(Entry {
                at: ev.at,
                side: ev.side,
                what: What::Tcp(ev.kind),
            }),
        }
    }
}

impl Facts {
    fn new(start_seen: bool, limits: SessionLimits) -> Facts {
        Facts {
            timeline: Timeline::new(limits.timeline_head, limits.timeline_tail),
            limits,
            connect: None,
            connack: None,
            disconnect: None,
            counts: PacketCounts::default(),
            published_bytes: 0,
            last_packet: [None, None],
            misses: Vec::new(),
            outstanding_pings: VecDeque::new(),
            pending_pinged_idle: None,
            longest_pinged_idle: None,
            inferred_pingreqs: Vec::new(),
            inferred_connect: None,
            anomalies: Vec::new(),
            anomalies_total: 0,
            oversized: 0,
            start_seen,
            after_hole: [false, false],
        }
    }

    fn version(&self) -> Option<Version> {
        self.connect.as_ref().map(|(_, c)| c.version)
    }

    /// Decodes one packet; its topic is kept only for a timeline.
    fn decode(&self, bytes: &[u8]) -> Result<Packet, mqtt::DecodeError> {
        if self.timeline.is_off() {
            mqtt::decode_facts(bytes, self.version())
        } else {
            mqtt::decode(bytes, self.version())
        }
    }

    fn on_found(&mut self, side: Side, at: FrameRef, found: Found<'_>) {
        match found {
            Found::Packet(bytes) => match self.decode(bytes) {
                Ok(packet) => self.on_packet(side, at, packet),
                Err(e) => {
                    if let Some(kind) = e.kind() {
                        self.counts.add(kind);
                    }
                    self.anomaly(
                        at,
                        side,
                        Anomaly::Malformed {
                            reason: e.to_string(),
                        },
                    );
                }
            },
            Found::CutPacket(prefix) => {
                if let Some(kind) = PacketKind::from_type_nibble(prefix[0] >> 4) {
                    self.counts.add(kind);
                    self.note_client_packet(side, at, kind);
                    self.anomaly(
                        at,
                        side,
                        Anomaly::Cut {
                            packet: kind.name(),
                        },
                    );
                }
            }
            Found::Oversized { first, len } => {
                if let Some(kind) = PacketKind::from_type_nibble(first >> 4) {
                    self.counts.add(kind);
                }
                self.oversized += 1;
                self.anomaly(at, side, Anomaly::Oversized { len });
            }
            Found::Malformed => self.anomaly(at, side, Anomaly::NotMqtt),
            Found::Resynced => {
                if std::mem::take(&mut self.after_hole[side.idx()]) {
                    self.anomaly(at, side, Anomaly::Resynced);
                }
            }
        }
    }

    /// A packet the transport inferred from its framing: counted and timed like a read one;
    /// its contents (codes, client id) stay unknown.
    fn on_inferred(&mut self, p: InferredPacket) {
        self.counts.add(p.kind);
        match (p.side, p.kind) {
            (Side::Client, PacketKind::PingReq) => {
                self.on_pingreq(p.at);
                if self.inferred_pingreqs.len() < INFERRED_PINGS_KEPT {
                    self.inferred_pingreqs.push(p.at.ts);
                }
            }
            (Side::Server, PacketKind::PingResp) => self.on_pingresp(),
            (side, PacketKind::Disconnect) => self.note_disconnect(side, p.at, None, &None),
            (Side::Client, PacketKind::Connect) => {
                self.inferred_connect.get_or_insert(p.at);
            }
            _ => {}
        }
        self.note_client_packet(p.side, p.at, p.kind);
        self.last_packet[p.side.idx()] = Some(p.at);
        self.timeline.push(Entry {
            at: p.at,
            side: p.side,
            what: What::Inferred(timeline::Inferred {
                kind: p.kind,
                inferred: true,
            }),
        });
    }

    fn on_packet(&mut self, side: Side, at: FrameRef, packet: Packet) {
        let kind = packet.kind();
        self.counts.add(kind);
        match side {
            Side::Client => self.on_client_packet(at, &packet),
            Side::Server => self.on_server_packet(at, &packet),
        }
        self.last_packet[side.idx()] = Some(at);
        if let Packet::Publish { payload_len, .. } = &packet {
            self.published_bytes += u64::from(*payload_len);
        }
        if self.timeline.is_off() {
            return;
        }
        let packet = match packet {
            Packet::Connect(mut c) if !self.limits.keep_usernames => {
                c.username = None;
                Packet::Connect(c)
            }
            p => p,
        };
        self.timeline.push(Entry {
            at,
            side,
            what: What::Mqtt(packet),
        });
    }

    fn on_client_packet(&mut self, at: FrameRef, packet: &Packet) {
        let kind = packet.kind();
        match packet {
            Packet::Connect(c) => {
                if self.connect.is_some() {
                    self.anomaly(at, Side::Client, Anomaly::SecondConnect);
                } else {
                    let mut c = c.clone();
                    if !self.limits.keep_usernames {
                        c.username = None;
                    }
                    self.connect = Some((at, c));
                }
            }
            _ if self.connect.is_none()
                && self.start_seen
                && self.last_packet[Side::Client.idx()].is_none() =>
            {
                self.anomaly(
                    at,
                    Side::Client,
                    Anomaly::PacketBeforeConnect {
                        packet: kind.name(),
                    },
                );
            }
            Packet::PingReq => self.on_pingreq(at),
            Packet::Disconnect {
                reason,
                reason_string,
            } => self.note_disconnect(Side::Client, at, *reason, reason_string),
            _ => {}
        }
        self.note_client_packet(Side::Client, at, kind);
    }

    fn on_server_packet(&mut self, at: FrameRef, packet: &Packet) {
        match packet {
            Packet::ConnAck {
                session_present,
                code,
            } if self.connack.is_none() => {
                self.connack = Some(ConnAckFacts {
                    at,
                    code: *code,
                    session_present: *session_present,
                });
            }
            Packet::PingResp => self.on_pingresp(),
            Packet::Disconnect {
                reason,
                reason_string,
            } => self.note_disconnect(Side::Server, at, *reason, reason_string),
            _ => {}
        }
    }

    /// A client PINGREQ: outstanding until answered; if nothing came either way for about
    /// as long as the client itself was silent, it ended a quiet spell of its ping cadence.
    fn on_pingreq(&mut self, at: FrameRef) {
        push_capped(&mut self.outstanding_pings, at);
        let [client, server] = self.last_packet.map(|p| p.map(|p| p.ts));
        let Some(client) = client else { return };
        let client_silence = (at.ts - client).as_secs_f64();
        let idle = (at.ts - server.map_or(client, |s| s.max(client))).as_secs_f64();
        self.pending_pinged_idle = (idle >= QUIET_SHARE * client_silence).then_some(PingedIdle {
            pingreq: at,
            seconds: idle,
        });
    }

    /// A PINGRESP: the oldest PINGREQ was answered, and the quiet spell it ended survived.
    fn on_pingresp(&mut self) {
        self.outstanding_pings.pop_front();
        if let Some(p) = self.pending_pinged_idle.take()
            && self
                .longest_pinged_idle
                .is_none_or(|l| p.seconds > l.seconds)
        {
            self.longest_pinged_idle = Some(p);
        }
    }

    fn note_disconnect(
        &mut self,
        side: Side,
        at: FrameRef,
        reason: Option<u8>,
        text: &Option<String>,
    ) {
        if self.disconnect.is_none() {
            self.disconnect = Some(DisconnectFacts {
                at,
                side,
                reason,
                reason_string: text.clone(),
            });
        }
    }

    /// Keeps the keepalive clock: a client packet after a silence longer than the
    /// keepalive (plus slack) records a miss.
    fn note_client_packet(&mut self, side: Side, at: FrameRef, _kind: PacketKind) {
        if side != Side::Client {
            return;
        }
        let keepalive = self.connect.as_ref().map_or(0, |(_, c)| c.keepalive);
        if let Some(last) = self.last_packet[Side::Client.idx()]
            && keepalive > 0
            && self.misses.len() < MISSES_KEPT
        {
            let ka = crate::time::Span::from_secs(i64::from(keepalive));
            let allowed =
                crate::time::Span::from_secs_f64(f64::from(keepalive) * (1.0 + KEEPALIVE_SLACK));
            if at.ts - last.ts > allowed {
                self.misses.push(KeepaliveMiss {
                    last,
                    due: last.ts + ka,
                    next: Some(at),
                });
            }
        }
        self.last_packet[Side::Client.idx()] = Some(at);
    }

    fn anomaly(&mut self, at: FrameRef, side: Side, anomaly: Anomaly) {
        self.anomalies_total += 1;
        if self.anomalies.len() < ANOMALIES_KEPT {
            self.timeline.push(Entry {
                at,
                side,
                what: What::Anomaly(anomaly.clone()),
            });
            self.anomalies.push((at, side, anomaly));
        }
    }
}

fn push_capped(q: &mut VecDeque<FrameRef>, at: FrameRef) {
    if q.len() == MISSES_KEPT {
        q.pop_front();
    }
    q.push_back(at);
}
