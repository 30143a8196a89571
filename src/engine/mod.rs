//! The engine: frames in, `Analysis` out. The same calls serve files and live capture:
//! `push` for every frame, `advance` when time passes without a packet, `finish` at the end;
//! a live driver also takes the connections retired so far (`take_retired`) and judges them
//! with [`judge`].

mod analysis;
mod config;
mod judge;

pub use analysis::{Analysis, EngineStats};
pub use config::Config;
pub use judge::{judge_across, judge_each};

use crate::decode::{self, Segment};
use crate::evidence::FrameRef;
use crate::mqtt::Connect;
use crate::session::{Connection, Session, SessionLimits};
use crate::source::{Frame, ReadWarning};
use crate::tcp::{Flow, FlowTable, HasFlow, flow_key};
use crate::time::{Span, Timestamp};
use crate::transport::{self, KeyLog, Transport, TransportKind};
use std::net::SocketAddr;

/// One tracked flow: TCP, what it carries, and the MQTT session inside.
struct Entry {
    id: usize,
    flow: Flow,
    transport: Transport,
    session: Session,
}

impl HasFlow for Entry {
    fn flow(&self) -> &Flow {
        &self.flow
    }
}

/// The analysis engine.
pub struct Analyzer {
    cfg: Config,
    flows: FlowTable<Entry>,
    retired: Vec<Connection>,
    stats: EngineStats,
    next_id: usize,
    last_sweep: Timestamp,
    now: Timestamp,
    keys: KeyLog,
}

/// An open connection as it stands, for a live driver's events.
#[derive(Clone, Copy)]
pub struct OpenSession<'a> {
    /// The connection's id (the `id` its `Connection` record will carry).
    pub id: usize,
    /// The TCP flow.
    pub flow: &'a Flow,
    /// What carries MQTT.
    pub transport: TransportKind,
    /// The MQTT session.
    pub session: &'a Session,
}

impl OpenSession<'_> {
    /// Client endpoint.
    pub fn client(&self) -> SocketAddr {
        self.flow.client
    }

    /// Server endpoint.
    pub fn server(&self) -> SocketAddr {
        self.flow.server
    }

    /// The CONNECT and its frame, once seen.
    pub fn connect(&self) -> Option<(FrameRef, &Connect)> {
        self.session.connect()
    }

    /// A record of the connection so far, without its MQTT details (for correlation).
    pub fn stub(&self) -> Connection {
        Connection::build(self.id, self.flow, None, self.transport)
    }
}

/// A full flow table evicts this fraction (1/n) of its flows at once.
const EVICT_BATCH: usize = 64;

/// How often (in capture time) finished flows are retired.
const SWEEP_EVERY: Span = Span::from_secs(5);

impl Analyzer {
    /// A new engine.
    pub fn new(cfg: Config) -> Analyzer {
        Analyzer {
            cfg,
            flows: FlowTable::default(),
            retired: Vec::new(),
            stats: EngineStats::default(),
            next_id: 0,
            last_sweep: Timestamp(i64::MIN),
            now: Timestamp(i64::MIN),
            keys: KeyLog::default(),
        }
    }

    /// The TLS key log that decrypts connections from their next ServerHello on: filled
    /// before reading (`--keylog`, pcapng secrets) and, live, as the log file grows.
    pub fn keys_mut(&mut self) -> &mut KeyLog {
        &mut self.keys
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Counters so far.
    pub fn stats(&self) -> &EngineStats {
        &self.stats
    }

    /// Flows open now.
    pub fn open_flows(&self) -> usize {
        self.flows.len()
    }

    /// The latest capture time seen.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// Takes one frame.
    pub fn push(&mut self, frame: &Frame<'_>) {
        self.stats.frames_analyzed += 1;
        self.stats.bytes += frame.data.len() as u64;
        let cut = (frame.data.len() as u32) < frame.wire_len;
        self.stats.snaplen_cut += u64::from(cut);
        let seg = match decode::decode(frame.linktype, frame.data, cut) {
            Ok(s) => s,
            Err(skip) => {
                self.stats.skipped.add(skip);
                return;
            }
        };
        self.stats.tcp_segments += 1;
        let at = FrameRef {
            frame: frame.number,
            ts: frame.ts,
        };
        self.advance(frame.ts);
        self.segment(&seg, at);
    }

    /// Capture time has reached `now`: retire flows that closed a while ago.
    pub fn advance(&mut self, now: Timestamp) {
        self.now = self.now.max(now);
        if self.now - self.last_sweep < SWEEP_EVERY {
            return;
        }
        self.last_sweep = self.now;
        let (linger, now) = (self.cfg.linger, self.now);
        self.retire_where(|f| f.closed() && now - f.last.ts > linger);
    }

    /// Retires every flow for which `pred` holds; returns how many.
    pub fn retire_where(&mut self, mut pred: impl FnMut(&Flow) -> bool) -> usize {
        let gone = self.flows.retire_where(|e| pred(&e.flow));
        let n = gone.len();
        gone.into_iter().for_each(|e| self.retire(e));
        n
    }

    fn segment(&mut self, seg: &Segment<'_>, at: FrameRef) {
        let k = flow_key(seg);
        // The common case, a segment of a known connection, costs one lookup.
        if let Some(e) = self.flows.get_mut(&k) {
            if !e.flow.is_new_connection(seg) {
                feed(e, seg, at, &self.keys);
                return;
            }
            if let Some(old) = self.flows.remove(&k) {
                self.retire(old);
            }
        }
        let mut e = self.open(seg, at);
        feed(&mut e, seg, at, &self.keys);
        self.flows.insert(k, e);
    }

    fn open(&mut self, seg: &Segment<'_>, at: FrameRef) -> Entry {
        if self.flows.len() >= self.cfg.max_flows {
            let gone = self.flows.retire_quietest(EVICT_BATCH);
            self.stats.flows_evicted += gone.len() as u64;
            gone.into_iter().for_each(|e| self.retire(e));
        }
        let cfg = &self.cfg;
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
        let limits = SessionLimits {
            max_packet: cfg.max_packet,
            timeline_head: cfg.timeline.0,
            timeline_tail: cfg.timeline.1,
            keep_usernames: cfg.keep_usernames,
        };
        let session = Session::new(flow.syn_seen, limits);
        self.stats.tcp_flows += 1;
        let id = self.next_id;
        self.next_id += 1;
        Entry {
            id,
            flow,
            transport,
            session,
        }
    }

    fn retire(&mut self, mut e: Entry) {
        let Entry {
            flow,
            transport,
            session,
            ..
        } = &mut e;
        let keys = &self.keys;
        flow.finish(&mut |ev| transport.on_event(ev, keys, &mut |d| session.on_delivery(d)));
        transport.finish(&mut |d| session.on_delivery(d));
        self.stats.reassembly_cap_hits += e.flow.buffer_cap_hits();
        self.stats.oversized_packets += e.session.oversized();
        let Some(kind) = e.transport.kind().filter(|_| !e.flow.is_scan_probe()) else {
            self.stats.other_flows += 1;
            return;
        };
        if self.retired.len() >= self.cfg.max_connections {
            self.stats.connections_not_kept += 1;
            return;
        }
        let tls = e.transport.tls_facts().cloned();
        let ws = e.transport.ws_facts().cloned();
        let mut c = Connection::build(e.id, &e.flow, Some(e.session), kind);
        c.absorb_tls(tls);
        c.ws = ws;
        if self.cfg.timeline != (0, 0) {
            // (0, 0) means no timeline was asked for: nothing was cut by a cap.
            self.stats.timeline_omitted += c.timeline_omitted;
        }
        self.retired.push(c);
    }

    /// Ends the analysis: retires every flow, judges every connection, correlates.
    pub fn finish(
        mut self,
        captures: Vec<String>,
        warnings: Vec<ReadWarning>,
        frames_read: u64,
    ) -> Analysis {
        self.retire_where(|_| true);
        let mut conns = std::mem::take(&mut self.retired);
        conns.sort_by_key(|c| (c.first_frame, c.id));
        for (i, c) in conns.iter_mut().enumerate() {
            c.id = i;
        }
        let mut connections = judge_each(conns, &self.cfg, self.now);
        let findings = judge_across(&mut connections, &self.cfg);
        self.stats.frames = frames_read;
        Analysis {
            captures,
            stats: self.stats,
            warnings,
            summary: crate::correlate::summarize(&connections),
            findings,
            connections,
        }
    }

    /// The connections retired since the last call, not yet judged (for a live driver,
    /// which judges them with their context).
    pub fn take_retired(&mut self) -> Vec<Connection> {
        std::mem::take(&mut self.retired)
    }

    /// Open connections that carry MQTT, as they stand now.
    pub fn sessions(&self) -> impl Iterator<Item = OpenSession<'_>> {
        self.flows.values().filter_map(|e| {
            Some(OpenSession {
                id: e.id,
                flow: &e.flow,
                transport: e.transport.kind()?,
                session: &e.session,
            })
        })
    }
}

/// Hands one segment to its flow, the flow's stream events to the transport, and the
/// transport's deliveries to the MQTT session.
fn feed(e: &mut Entry, seg: &Segment<'_>, at: FrameRef, keys: &KeyLog) {
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
    flow.on_segment(seg, at, &mut |ev| {
        transport.on_event(ev, keys, &mut |d| session.on_delivery(d))
    });
}
