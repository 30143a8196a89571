//! The driver: frames in, `Analysis` out. The same calls serve files and live capture:
//! `push` for every frame, `advance` when time passes without a packet, `finish` at the end.

use crate::FrameRef;
use crate::analysis::{Analysis, EngineStats};
use crate::correlate::{self, Finding, FindingKind, Windows};
use crate::decode::{self, Segment};
use crate::mqtt::Connect;
use crate::session::{Connection, Session, SessionLimits};
use crate::source::{Frame, ReadWarning};
use crate::tcp::{Flow, Side, StreamEvent, looks_like_connect};
use crate::time::{Span, Timestamp};
use crate::verdict::{self, Thresholds};
use rustc_hash::{FxHashMap, FxHashSet};
use std::net::{IpAddr, SocketAddr};

/// Settings of an analysis; every cap and threshold is here, with its reason.
#[derive(Debug, Clone)]
pub struct Config {
    /// Ports that carry plain MQTT (1883 by default).
    pub mqtt_ports: Vec<u16>,
    /// Ports that carry MQTT over TLS (8883 by default): tracked at the TCP level only.
    pub tls_ports: Vec<u16>,
    /// Most flows tracked at once; past it the least recently active flow is evicted and
    /// counted. A flow costs about a kilobyte, so the default bounds the table near 200 MB.
    pub max_flows: usize,
    /// Out-of-order bytes buffered per direction of a flow before the missing range is
    /// declared a hole.
    pub reassembly_cap: usize,
    /// Longest MQTT packet reassembled (the MQTT maximum is 256 MB; brokers default far
    /// lower, mosquitto to no limit but clients rarely exceed a megabyte).
    pub max_packet: usize,
    /// Most connection records kept for the report and the cross-connection stage; past it
    /// further connections are counted, not kept. A record costs about 3 KB: a SYN flood that
    /// makes every packet a connection peaks near 850 MB at this default and `max_flows`.
    pub max_connections: usize,
    /// Idle gaps shorter than this are not recorded.
    pub idle_gap_floor: Span,
    /// A closed flow stays this long for its last ACKs before it is retired.
    pub linger: Span,
    /// Timeline entries kept per connection from the start and before the end.
    pub timeline: (usize, usize),
    /// Keep user names from CONNECT (never passwords).
    pub keep_usernames: bool,
    /// Classifier thresholds.
    pub thresholds: Thresholds,
    /// Cross-connection windows.
    pub windows: Windows,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            mqtt_ports: vec![1883],
            tls_ports: vec![8883],
            max_flows: 200_000,
            reassembly_cap: 256 * 1024,
            max_packet: 1 << 20,
            max_connections: 200_000,
            idle_gap_floor: Span::from_secs(1),
            linger: Span::from_secs(30),
            timeline: (200, 200),
            keep_usernames: false,
            thresholds: Thresholds::default(),
            windows: Windows::default(),
        }
    }
}

/// What a flow carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Carries {
    Mqtt,
    Tls,
    /// Not on an MQTT port: MQTT if the client's first bytes are a CONNECT.
    Undecided,
    /// Not MQTT: tracked only to stay ignored.
    Other,
}

struct Entry {
    id: usize,
    flow: Flow,
    session: Session,
    carries: Carries,
}

type Key = (IpAddr, u16, IpAddr, u16);

fn key(seg: &Segment<'_>) -> Key {
    let a = (seg.src, seg.src_port);
    let b = (seg.dst, seg.dst_port);
    if a <= b {
        (a.0, a.1, b.0, b.1)
    } else {
        (b.0, b.1, a.0, a.1)
    }
}

/// The analysis engine.
pub struct Analyzer {
    cfg: Config,
    flows: FxHashMap<Key, Entry>,
    done: Vec<Connection>,
    stats: EngineStats,
    next_id: usize,
    last_sweep: Timestamp,
    now: Timestamp,
    /// How many of `done` `drain_closed` has handed out.
    drained: usize,
    /// Findings `drain_closed` raised since the last `take_window`.
    window_findings: Vec<Finding>,
}

/// An open connection as it stands, for a live driver's events.
#[derive(Debug, Clone, Copy)]
pub struct OpenSession<'a> {
    /// The connection's id (the `id` its `Connection` record will carry).
    pub id: usize,
    /// Client endpoint.
    pub client: SocketAddr,
    /// Server endpoint.
    pub server: SocketAddr,
    /// MQTT over TLS (no CONNECT will be read).
    pub encrypted: bool,
    /// The CONNECT and its frame, once seen.
    pub connect: Option<(FrameRef, &'a Connect)>,
    /// The client's last MQTT packet.
    pub last_client_packet: Option<FrameRef>,
}

/// An open session whose client has been silent past `OVERDUE_RATIO` × its keepalive.
#[derive(Debug, Clone)]
pub struct Overdue {
    /// The connection's id.
    pub id: usize,
    /// Client endpoint.
    pub client: SocketAddr,
    /// Server endpoint.
    pub server: SocketAddr,
    /// CONNECT's client identifier.
    pub client_id: String,
    /// Keepalive from CONNECT, seconds.
    pub keepalive: u16,
    /// The client's last MQTT packet, where its silence started.
    pub last_client_packet: FrameRef,
    /// How long the client has been silent.
    pub silent_for: Span,
}

/// Connections retired since the last `drain_closed`, judged, with the cross-connection
/// findings they take part in.
#[derive(Debug, Default)]
pub struct Retired {
    /// The connections, each with its verdict.
    pub connections: Vec<Connection>,
    /// Findings involving at least one of them (takeovers, mass closes, drop patterns).
    pub findings: Vec<Finding>,
}

/// Silence, as a multiple of the keepalive, after which `overdue` names a client: MQTT lets
/// the server close a connection whose client sent nothing for 1.5 × keepalive.
pub const OVERDUE_RATIO: f64 = 1.5;

/// Closed connections whose end is this close to a newly retired one's are correlated with
/// it (covers the mass-close and cluster windows with room to spare).
const CONTEXT_SPAN: Span = Span::from_secs(10);
/// Earlier connections of one client id correlated with a newly retired one: enough for the
/// drop patterns (they need 3 drops), bounded for a client that reconnects all day.
const CONTEXT_PER_CLIENT: usize = 16;
/// Earlier connections ending near a newly retired one that are correlated with it: a mass
/// close of more is still named, from the connections that retire together.
const CONTEXT_NEAR_MAX: usize = 1024;

/// A full flow table evicts this fraction (1/n) of its flows at once.
const EVICT_BATCH: usize = 64;

/// How often (in capture time) finished flows are retired.
const SWEEP_EVERY: Span = Span::from_secs(5);

impl Analyzer {
    /// A new engine.
    pub fn new(cfg: Config) -> Analyzer {
        Analyzer {
            cfg,
            flows: FxHashMap::default(),
            done: Vec::new(),
            stats: EngineStats::default(),
            next_id: 0,
            last_sweep: Timestamp(i64::MIN),
            now: Timestamp(i64::MIN),
            drained: 0,
            window_findings: Vec::new(),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> &EngineStats {
        &self.stats
    }

    /// Flows open now.
    pub fn open_flows(&self) -> usize {
        self.flows.len()
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
        let linger = self.cfg.linger;
        let now = self.now;
        let stale: Vec<Key> = self
            .flows
            .iter()
            .filter(|(_, e)| e.flow.closed() && now - e.flow.last.ts > linger)
            .map(|(k, _)| *k)
            .collect();
        for k in stale {
            self.retire(k);
        }
    }

    fn segment(&mut self, seg: &Segment<'_>, at: FrameRef) {
        let k = key(seg);
        // The common case, a segment of a known connection, costs one lookup.
        if let Some(e) = self.flows.get_mut(&k)
            && !e.flow.is_new_connection(seg)
        {
            feed(e, seg, at);
            return;
        }
        if self.flows.contains_key(&k) {
            self.retire(k);
        }
        self.open(k, seg, at);
        if let Some(e) = self.flows.get_mut(&k) {
            feed(e, seg, at);
        }
    }

    fn open(&mut self, k: Key, seg: &Segment<'_>, at: FrameRef) {
        if self.flows.len() >= self.cfg.max_flows {
            self.evict_quietest();
        }
        let cfg = &self.cfg;
        let is_server_port = |p: u16| cfg.mqtt_ports.contains(&p) || cfg.tls_ports.contains(&p);
        let flow = Flow::new(
            seg,
            at,
            is_server_port,
            cfg.reassembly_cap,
            cfg.idle_gap_floor,
        );
        let server_port = flow.server.port();
        let carries = if cfg.mqtt_ports.contains(&server_port) {
            Carries::Mqtt
        } else if cfg.tls_ports.contains(&server_port) {
            Carries::Tls
        } else {
            Carries::Undecided
        };
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
        self.flows.insert(
            k,
            Entry {
                id,
                flow,
                session,
                carries,
            },
        );
    }

    /// The table is full: retire the flows that have been quiet longest, a batch of
    /// 1/`EVICT_BATCH` of the table at once, so that a flood of new flows costs one scan
    /// of the table per batch rather than one per flow.
    fn evict_quietest(&mut self) {
        let mut by_age: Vec<(Timestamp, Key)> = self
            .flows
            .iter()
            .map(|(k, e)| (e.flow.last.ts, *k))
            .collect();
        let n = (by_age.len() / EVICT_BATCH).max(1).min(by_age.len());
        if n < by_age.len() {
            by_age.select_nth_unstable(n);
        }
        for (_, k) in by_age.drain(..n) {
            self.stats.flows_evicted += 1;
            self.retire(k);
        }
    }

    fn retire(&mut self, k: Key) {
        let Some(mut e) = self.flows.remove(&k) else {
            return;
        };
        let parse = e.carries == Carries::Mqtt;
        let Entry { flow, session, .. } = &mut e;
        flow.finish(&mut |ev| {
            if parse {
                session.on_event(ev)
            }
        });
        self.stats.reassembly_cap_hits += e.flow.buffer_cap_hits();
        self.stats.oversized_packets += e.session.oversized();
        match e.carries {
            Carries::Other | Carries::Undecided => self.stats.other_flows += 1,
            Carries::Mqtt | Carries::Tls if self.done.len() >= self.cfg.max_connections => {
                self.stats.connections_not_kept += 1;
            }
            Carries::Mqtt | Carries::Tls => {
                let encrypted = e.carries == Carries::Tls;
                let session = parse.then_some(e.session);
                let c = Connection::build(e.id, &e.flow, session, encrypted);
                if self.cfg.timeline != (0, 0) {
                    // (0, 0) means no timeline was asked for: nothing was cut by a cap.
                    self.stats.timeline_omitted += c.timeline_omitted;
                }
                self.done.push(c);
            }
        }
    }

    /// Ends the analysis: retires every flow, judges every connection, correlates.
    pub fn finish(
        mut self,
        captures: Vec<String>,
        warnings: Vec<ReadWarning>,
        frames_read: u64,
    ) -> Analysis {
        let keys: Vec<Key> = self.flows.keys().copied().collect();
        for k in keys {
            self.retire(k);
        }
        let mut conns = std::mem::take(&mut self.done);
        conns.sort_by_key(|c| (c.first_frame, c.id));
        for (i, c) in conns.iter_mut().enumerate() {
            c.id = i;
        }
        let mut thresholds = self.cfg.thresholds.clone();
        thresholds.capture_end = self.now;
        for c in conns.iter_mut() {
            c.verdict = Some(verdict::classify(c, &thresholds));
        }
        let findings = correlate::correlate(&mut conns, &self.cfg.windows);
        let summary = correlate::summarize(&conns);
        self.stats.frames = frames_read;
        Analysis {
            captures,
            stats: self.stats,
            warnings,
            summary,
            findings,
            connections: conns,
        }
    }
}

/// Incremental output for a live driver: connections judged as they are retired, open
/// sessions' keepalive state, and bounded state for runs of days. Offline analysis never
/// calls these; `finish` gives the same verdicts over the whole capture.
impl Analyzer {
    /// Open connections as they stand now.
    pub fn sessions(&self) -> impl Iterator<Item = OpenSession<'_>> {
        self.flows
            .values()
            .filter(|e| matches!(e.carries, Carries::Mqtt | Carries::Tls))
            .map(|e| OpenSession {
                id: e.id,
                client: e.flow.client,
                server: e.flow.server,
                encrypted: e.carries == Carries::Tls,
                connect: e.session.connect(),
                last_client_packet: e.session.last_packet(Side::Client),
            })
    }

    /// Open sessions (TCP not closed) whose client has been silent past
    /// `OVERDUE_RATIO` × keepalive at `now`: the broker may close them any moment.
    pub fn overdue(&self, now: Timestamp) -> Vec<Overdue> {
        self.flows
            .values()
            .filter(|e| e.carries == Carries::Mqtt && e.flow.sides.iter().all(|h| h.fin.is_none()))
            .filter(|e| !e.flow.closed())
            .filter_map(|e| {
                let (_, connect) = e.session.connect()?;
                let last = e.session.last_packet(Side::Client)?;
                let ka = connect.keepalive;
                let allowed = Span::from_secs_f64(f64::from(ka) * OVERDUE_RATIO);
                let silent_for = now - last.ts;
                (ka > 0 && silent_for > allowed).then(|| Overdue {
                    id: e.id,
                    client: e.flow.client,
                    server: e.flow.server,
                    client_id: connect.client_id.clone(),
                    keepalive: ka,
                    last_client_packet: last,
                    silent_for,
                })
            })
            .collect()
    }

    /// Connections retired since the last call, each judged now (as `finish` would judge
    /// it) and correlated with the recent connections and open sessions it relates to.
    /// They stay for `take_window`.
    pub fn drain_closed(&mut self) -> Retired {
        let start = self.drained;
        self.drained = self.done.len();
        if start == self.done.len() {
            return Retired::default();
        }
        let mut thresholds = self.cfg.thresholds.clone();
        thresholds.capture_end = self.now;
        for c in &mut self.done[start..] {
            c.verdict = Some(verdict::classify(c, &thresholds));
        }
        let fresh: FxHashSet<usize> = self.done[start..].iter().map(|c| c.id).collect();
        let mut ctx = self.context(start);
        let mut findings = correlate::correlate(&mut ctx, &self.cfg.windows);
        findings.retain(|f| {
            f.kind != FindingKind::Reconnects && f.connections.iter().any(|i| fresh.contains(i))
        });
        let mut connections: Vec<Connection> =
            ctx.into_iter().filter(|c| fresh.contains(&c.id)).collect();
        connections.sort_by_key(|c| (c.end, c.id));
        for (d, c) in self.done[start..].iter_mut().zip(&connections) {
            *d = c.clone();
        }
        self.window_findings.extend(findings.iter().cloned());
        Retired {
            connections,
            findings,
        }
    }

    /// The connections retired since `start` and those they may relate to: earlier ones
    /// of the same client ids or ending near them, and open sessions of the same client ids.
    fn context(&mut self, start: usize) -> Vec<Connection> {
        self.done[start..].sort_by_key(|c| (c.end, c.id));
        let fresh = &self.done[start..];
        let ids: FxHashSet<&str> = fresh
            .iter()
            .filter_map(|c| c.client_id.as_deref())
            .collect();
        let first = fresh.iter().map(|c| c.end).min().unwrap_or_default();
        let mut per_id: FxHashMap<&str, usize> = FxHashMap::default();
        let mut near = 0;
        let mut ctx: Vec<Connection> = Vec::new();
        for c in self.done[..start].iter().rev() {
            let same_id = c.client_id.as_deref().filter(|i| ids.contains(i));
            let by_id = same_id.is_some_and(|i| {
                let n = per_id.entry(i).or_default();
                *n += 1;
                *n <= CONTEXT_PER_CLIENT
            });
            let by_time = c.end + CONTEXT_SPAN >= first && near < CONTEXT_NEAR_MAX;
            near += usize::from(by_time);
            if by_id || by_time {
                ctx.push(c.clone());
            }
        }
        ctx.extend(fresh.iter().cloned());
        for e in self.flows.values() {
            let Some((at, connect)) = e.session.connect() else {
                continue;
            };
            if ids.contains(connect.client_id.as_str()) {
                let mut stub = Connection::build(e.id, &e.flow, None, false);
                stub.client_id = Some(connect.client_id.clone());
                stub.connect = Some(at);
                stub.clean_session = Some(connect.clean_session);
                ctx.push(stub);
            }
        }
        ctx.sort_by_key(|c| (c.start, c.id));
        ctx
    }

    /// Retires every flow that is closed, without waiting for its linger (at shutdown).
    pub fn retire_closed(&mut self) {
        let closed: Vec<Key> = self
            .flows
            .iter()
            .filter(|(_, e)| e.flow.closed())
            .map(|(k, _)| *k)
            .collect();
        for k in closed {
            self.retire(k);
        }
    }

    /// Retires flows with no packet for `idle`; returns how many.
    pub fn evict_idle(&mut self, idle: Span) -> usize {
        let now = self.now;
        let quiet: Vec<Key> = self
            .flows
            .iter()
            .filter(|(_, e)| now - e.flow.last.ts > idle)
            .map(|(k, _)| *k)
            .collect();
        for k in &quiet {
            self.retire(*k);
        }
        quiet.len()
    }

    /// The connections `drain_closed` handed out since the last call and their findings,
    /// as an `Analysis` of that window; they are forgotten, which bounds a long run's memory.
    pub fn take_window(&mut self, captures: Vec<String>) -> Analysis {
        let end = self.drained;
        let mut connections: Vec<Connection> = self.done.drain(..end).collect();
        connections.sort_by_key(|c| (c.start, c.id));
        self.drained = 0;
        let findings = std::mem::take(&mut self.window_findings);
        Analysis {
            captures,
            stats: self.stats.clone(),
            warnings: Vec::new(),
            summary: correlate::summarize(&connections),
            findings,
            connections,
        }
    }
}

/// Hands one segment to its flow, and the flow's stream events to the MQTT session.
fn feed(e: &mut Entry, seg: &Segment<'_>, at: FrameRef) {
    if e.carries == Carries::Other {
        e.flow.last = at;
        return;
    }
    if e.carries == Carries::Undecided && !seg.payload.is_empty() {
        let from_client = e.flow.side_of(seg) == Side::Client;
        e.carries = if from_client && looks_like_connect(seg.payload) {
            Carries::Mqtt
        } else {
            Carries::Other
        };
    }
    let Entry {
        flow,
        session,
        carries,
        ..
    } = e;
    let parse = *carries == Carries::Mqtt;
    flow.on_segment(seg, at, &mut |ev: StreamEvent<'_>| {
        if parse || matches!(ev, StreamEvent::Tcp(_)) {
            session.on_event(ev);
        }
    });
}
