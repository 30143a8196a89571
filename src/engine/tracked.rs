//! The flow table's entries: a flow still in its handshake kept as its segments' headers,
//! an analyzed flow with its transport and MQTT session, and how a segment reaches them.

use super::Config;
use crate::decode::Segment;
use crate::evidence::FrameRef;
use crate::session::{Session, SessionLimits};
use crate::tcp::{Flow, FlowKey, flow_key};
use crate::time::Timestamp;
use crate::transport::{self, Delivery, KeyLog, Transport};

/// One tracked flow. A flow that so far carried only handshake segments without payload
/// (SYNs, SYN-ACKs, RSTs) is kept as their headers until anything else comes (`Opening`,
/// about 130 bytes for a lone SYN), so a SYN flood, a scan or a reconnect storm into a dead
/// port fills the table with these rather than with kilobyte entries.
pub(super) enum Tracked {
    /// Handshake segments not analyzed yet: replayed into an entry when the flow goes on or
    /// is retired, so the result is the same as if they had been analyzed as they came.
    Opening(Box<Opening>),
    /// A flow being analyzed.
    Open(Box<Entry>),
}

/// The handshake segments of a flow that carried nothing else yet, and the id it was given.
pub(super) struct Opening {
    pub(super) id: usize,
    pub(super) first: (Segment<'static>, FrameRef),
    pub(super) more: Vec<(Segment<'static>, FrameRef)>,
}

/// How many handshake segments a flow keeps before it is analyzed anyway (a SYN and its
/// retransmissions, a SYN-ACK and its retransmissions, a RST).
const OPENING_KEPT: usize = 8;

/// One analyzed flow: TCP, what it carries, and the MQTT session inside. The table holds it
/// boxed, so a full table's spare slots cost a pointer each, not an entry.
pub(super) struct Entry {
    pub(super) id: usize,
    pub(super) flow: Flow,
    pub(super) transport: Transport,
    pub(super) session: LazySession,
}

/// Why a flow was retired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Retired {
    /// Closed, idle, or at the end of the capture.
    Finished,
    /// Evicted from a full table.
    Evicted,
}

/// What a sweep looks at to decide whether a flow is retired.
#[derive(Debug, Clone, Copy)]
pub struct FlowStatus {
    /// The time of the flow's last packet.
    pub last: Timestamp,
    /// Over at the TCP level (a RST, or FIN both ways).
    pub closed: bool,
    /// When either side first closed (FIN or RST).
    pub first_close: Option<Timestamp>,
}

impl Tracked {
    pub(super) fn status(&self) -> FlowStatus {
        match self {
            Tracked::Opening(o) => FlowStatus {
                last: o.last_seen(),
                closed: o.closed(),
                first_close: o
                    .segments()
                    .find(|(s, _)| s.flags.rst())
                    .map(|(_, at)| at.ts),
            },
            Tracked::Open(e) => FlowStatus {
                last: e.flow.last.ts,
                closed: e.flow.closed(),
                first_close: e.flow.first_close(),
            },
        }
    }

    /// The flow's key in the table.
    pub(super) fn key(&self) -> FlowKey {
        match self {
            Tracked::Opening(o) => flow_key(&o.first.0),
            Tracked::Open(e) => e.flow.key(),
        }
    }

    /// Takes one segment: kept if the flow is still opening and the segment is one more
    /// handshake segment, analyzed otherwise (the opening replayed first). Returns false,
    /// taking nothing, when `seg` opens a new connection on these addresses (port reuse).
    pub(super) fn take(
        &mut self,
        seg: &Segment<'_>,
        at: FrameRef,
        engine: &EngineParts<'_>,
    ) -> bool {
        match self {
            Tracked::Open(e) if e.flow.is_new_connection(seg) => false,
            Tracked::Open(e) => {
                feed(e, seg, at, engine.keys, engine.limits);
                true
            }
            Tracked::Opening(_) => self.take_opening(seg, at, engine),
        }
    }

    /// `take` for a flow still opening: kept apart so the common path stays small.
    #[cold]
    #[inline(never)]
    fn take_opening(&mut self, seg: &Segment<'_>, at: FrameRef, engine: &EngineParts<'_>) -> bool {
        let Tracked::Opening(o) = self else {
            return self.take(seg, at, engine);
        };
        if o.is_new_connection(seg) {
            return false;
        }
        if Opening::takes(seg) && o.more.len() + 1 < OPENING_KEPT {
            o.more.push((detached(seg), at));
            return true;
        }
        *self = Tracked::Open(o.replay(engine));
        self.take(seg, at, engine)
    }
}

/// What replaying and feeding a flow need of the engine.
pub(super) struct EngineParts<'a> {
    pub(super) cfg: &'a Config,
    pub(super) keys: &'a KeyLog,
    pub(super) limits: &'a SessionLimits,
}

/// A segment without payload, kept apart from its frame's bytes.
pub(super) fn detached(seg: &Segment<'_>) -> Segment<'static> {
    Segment {
        payload: &[],
        ..*seg
    }
}

impl Opening {
    /// Whether `seg` is a handshake segment without payload: a SYN, a SYN-ACK or a RST.
    pub(super) fn takes(seg: &Segment<'_>) -> bool {
        seg.payload_len == 0 && !seg.flags.fin() && (seg.flags.syn() || seg.flags.rst())
    }

    pub(super) fn segments(&self) -> impl Iterator<Item = &(Segment<'static>, FrameRef)> {
        std::iter::once(&self.first).chain(&self.more)
    }

    fn last_seen(&self) -> Timestamp {
        self.more.last().unwrap_or(&self.first).1.ts
    }

    /// Over at the TCP level, as `Flow::closed` says: a RST came.
    fn closed(&self) -> bool {
        self.segments().any(|(s, _)| s.flags.rst())
    }

    /// As `Flow::is_new_connection` says: a client SYN after a RST, or with a new ISN.
    fn is_new_connection(&self, seg: &Segment<'_>) -> bool {
        let client_isn = self
            .segments()
            .find(|(s, _)| s.flags.syn() && !s.flags.ack())
            .map(|(s, _)| s.seq);
        seg.flags.syn()
            && !seg.flags.ack()
            && (self.closed() || client_isn.is_some_and(|isn| isn != seg.seq))
    }

    /// Whether the flow is certainly an attempt never established on a port read as MQTT:
    /// its first segment a client SYN, then only SYNs from the client and SYN-ACKs or RSTs
    /// from the server. Its record, if built, would be one of `Config::max_attempts`.
    pub(super) fn is_attempt(&self, cfg: &Config) -> bool {
        let (first, _) = &self.first;
        let from_client = |s: &Segment<'_>| (s.src, s.src_port) == (first.src, first.src_port);
        first.flags.syn()
            && !first.flags.ack()
            && cfg.is_server_port(first.dst_port)
            && self.segments().all(|(s, _)| {
                if from_client(s) {
                    s.flags.syn() && !s.flags.ack() && !s.flags.rst()
                } else {
                    s.flags.ack() || s.flags.rst()
                }
            })
    }

    /// The entry the flow would have had if its segments had been analyzed as they came.
    pub(super) fn replay(&self, engine: &EngineParts<'_>) -> Box<Entry> {
        let (first, at) = &self.first;
        let mut e = Entry::new(engine.cfg, first, *at, self.id);
        for (seg, at) in self.segments() {
            feed(&mut e, seg, *at, engine.keys, engine.limits);
        }
        e
    }
}

impl Entry {
    /// A flow starting at `seg`, not fed it yet.
    pub(super) fn new(cfg: &Config, seg: &Segment<'_>, at: FrameRef, id: usize) -> Box<Entry> {
        let greeting = transport::is_client_greeting(seg.payload);
        let flow = Flow::new(
            seg,
            at,
            greeting,
            |p| cfg.is_server_port(p),
            cfg.reassembly_cap,
            cfg.idle_gap_floor,
        );
        let transport = Transport::for_port(cfg.port_hint(flow.server.port()), flow.syn_seen);
        Box::new(Entry {
            id,
            flow,
            transport,
            session: LazySession(None),
        })
    }
}

/// The MQTT session of a flow, made when the transport first hands it something: a flow
/// that never carried a byte (a scan, a SYN flood, a refused connection) costs no session.
pub(super) struct LazySession(pub(super) Option<Box<Session>>);

impl LazySession {
    /// Hands one delivery to the session, making it first if the delivery changes anything:
    /// a TCP event only lands in the timeline, so without a timeline it waits.
    pub(super) fn on_delivery(
        &mut self,
        d: Delivery<'_>,
        start_seen: bool,
        limits: &SessionLimits,
    ) {
        if self.0.is_none() && matches!(d, Delivery::Tcp(_)) && !keeps_timeline(limits) {
            return;
        }
        self.0
            .get_or_insert_with(|| Box::new(Session::new(start_seen, limits.clone())))
            .on_delivery(d);
    }

    /// The session, or a fresh one when nothing was delivered (the same record either way).
    pub(super) fn into_session(self, start_seen: bool, limits: &SessionLimits) -> Session {
        self.0
            .map_or_else(|| Session::new(start_seen, limits.clone()), |s| *s)
    }
}

/// Whether sessions keep a timeline at all.
fn keeps_timeline(limits: &SessionLimits) -> bool {
    limits.timeline_head > 0 || limits.timeline_tail > 0
}

/// Hands one segment to its flow, the flow's stream events to the transport, and the
/// transport's deliveries to the MQTT session.
pub(super) fn feed(
    e: &mut Entry,
    seg: &Segment<'_>,
    at: FrameRef,
    keys: &KeyLog,
    limits: &SessionLimits,
) {
    if e.transport.is_other() {
        e.flow.last = at;
        return;
    }
    e.transport.sniff(e.flow.side_of(seg), seg.payload);
    let Entry {
        flow,
        session,
        transport,
        ..
    } = e;
    let start = flow.syn_seen;
    flow.on_segment(seg, at, &mut |ev| {
        transport.on_event(ev, keys, &mut |d| session.on_delivery(d, start, limits))
    });
}
