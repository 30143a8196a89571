//! The engine: frames in, `Analysis` out. The same calls serve files and live capture:
//! `push` for every frame, `advance` when time passes without a packet, `finish` at the end;
//! a live driver also takes the connections retired so far (`take_retired`) and judges them
//! with [`judge`].

mod analysis;
mod config;
mod judge;
mod pipeline;
mod shard;
mod tracked;

pub use analysis::{Analysis, AnalysisView, EngineStats};
pub use config::Config;
pub use judge::{judge_across, judge_each};
pub use pipeline::analyze_pipelined;
pub use shard::{Shard, analyze_sharded};
pub use tracked::FlowStatus;

use tracked::{EngineParts, Entry, Opening, Retired, Tracked, detached, feed};

use crate::decode::{self, Segment};
use crate::evidence::FrameRef;
use crate::mqtt::Connect;
use crate::session::{Connection, Session, SessionLimits};
use crate::source::{Frame, ReadWarning};
use crate::tcp::{Flow, FlowKey, FlowTable, flow_key};
use crate::time::{Span, Timestamp};
use crate::transport::{KeyLog, TransportKind};
use rustc_hash::{FxHashMap, FxHashSet};
use std::net::SocketAddr;
use std::sync::Arc;

/// The analysis engine.
pub struct Analyzer {
    cfg: Config,
    limits: SessionLimits,
    flows: FlowTable<Tracked>,
    /// Boxed: a record is over a kilobyte, and sorting and judging them moves only pointers.
    #[expect(
        clippy::vec_box,
        reason = "records are sorted and judged by moving their boxes"
    )]
    retired: Vec<Box<Connection>>,
    /// Records kept of connections never established (see `Config::max_attempts`).
    attempts_kept: usize,
    known_mqtt_servers: FxHashSet<SocketAddr>,
    /// Flows judged half-closed (live), by key, with when: their late segments are folded.
    judged_early: FxHashMap<FlowKey, Timestamp>,
    stats: EngineStats,
    next_id: usize,
    last_sweep: Timestamp,
    /// How often flows are swept: a short linger (live) at least twice per linger, so a
    /// close is reported within about one and a half lingers.
    sweep_every: Span,
    now: Timestamp,
    keys: Arc<KeyLog>,
    shard: Shard,
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
    session: Option<&'a Session>,
}

impl<'a> OpenSession<'a> {
    /// Client endpoint.
    pub fn client(&self) -> SocketAddr {
        self.flow.client
    }

    /// Server endpoint.
    pub fn server(&self) -> SocketAddr {
        self.flow.server
    }

    /// The CONNECT and its frame, once seen.
    pub fn connect(&self) -> Option<(FrameRef, &'a Connect)> {
        self.session?.connect()
    }

    /// The client's silence at `now` past `ratio` × its keepalive (see
    /// [`Session::silent_past_keepalive`]).
    pub fn silent_past_keepalive(&self, now: Timestamp, ratio: f64) -> Option<(FrameRef, Span)> {
        self.session?.silent_past_keepalive(now, ratio)
    }

    /// A record of the connection so far, without its MQTT details (for correlation).
    pub fn stub(&self) -> Connection {
        let idle_gaps = self.flow.idle_gaps.clone();
        Connection::build(self.id, self.flow, idle_gaps, None, self.transport)
    }
}

/// A full flow table evicts this fraction (1/n) of its flows at once: each eviction scans the
/// table, so a flood of new flows costs one scan per batch (1/64 made a 1 M-flow SYN flood
/// take 10 s, 1/16 3.3 s).
const EVICT_BATCH: usize = 16;

/// How long the segments of a flow judged half-closed are folded into it: a dead peer's
/// stack and the closer's FIN retransmissions (backing off for minutes) stay quiet after this.
const FOLD_LATE_FOR: Span = Span::from_secs(15 * 60);

/// How often (in capture time) finished flows are retired.
const SWEEP_EVERY: Span = Span::from_secs(5);
/// The shortest sweep interval, whatever the linger.
const SWEEP_MIN: Span = Span(250_000_000);

impl Analyzer {
    /// A new engine.
    pub fn new(cfg: Config) -> Analyzer {
        let sweep_every = SWEEP_EVERY.min(Span(cfg.linger.0 / 2)).max(SWEEP_MIN);
        Analyzer {
            limits: session_limits(&cfg),
            cfg,
            flows: FlowTable::default(),
            retired: Vec::new(),
            attempts_kept: 0,
            known_mqtt_servers: FxHashSet::default(),
            judged_early: FxHashMap::default(),
            stats: EngineStats::default(),
            next_id: 0,
            last_sweep: Timestamp(i64::MIN),
            sweep_every,
            now: Timestamp(i64::MIN),
            keys: Arc::default(),
            shard: Shard::WHOLE,
        }
    }

    /// An engine that analyzes only the flows of `shard` (and, for shard 0, counts the
    /// frames that are not TCP), with a key log shared by every shard.
    pub fn for_shard(cfg: Config, keys: Arc<KeyLog>, shard: Shard) -> Analyzer {
        let mut cfg = cfg;
        cfg.max_flows = shard.part_of(cfg.max_flows);
        cfg.max_connections = shard.part_of(cfg.max_connections);
        cfg.max_attempts = shard.part_of(cfg.max_attempts);
        Analyzer {
            keys,
            shard,
            ..Analyzer::new(cfg)
        }
    }

    /// The TLS key log that decrypts connections from their next ServerHello on: filled
    /// before reading (`--keylog`, pcapng secrets) and, live, as the log file grows.
    pub fn keys_mut(&mut self) -> &mut KeyLog {
        Arc::make_mut(&mut self.keys)
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

    /// Takes one frame. A sharded engine takes every frame too: it keeps time with all of
    /// them and analyzes (and counts) only its own.
    pub fn push(&mut self, frame: &Frame<'_>) {
        let cut = (frame.data.len() as u32) < frame.wire_len;
        match decode::decode(frame.linktype, frame.data, cut) {
            Ok(seg) => {
                let key = flow_key(&seg);
                if !self.shard.owns(Some(&key)) {
                    self.advance(frame.ts);
                    return;
                }
                self.count_frame(frame, cut);
                self.stats.tcp_segments += 1;
                let at = FrameRef::new(frame.number, frame.ts);
                self.advance(frame.ts);
                self.segment(&seg, key, at);
            }
            Err(skip) => {
                if self.shard.owns(None) {
                    self.count_frame(frame, cut);
                    self.stats.skipped.add(skip);
                }
            }
        }
    }

    /// Counts a frame this engine analyzes.
    fn count_frame(&mut self, frame: &Frame<'_>, cut: bool) {
        self.stats.frames_analyzed += 1;
        self.stats.bytes += frame.data.len() as u64;
        self.stats.snaplen_cut += u64::from(cut);
    }

    /// Capture time has reached `now`: retire flows that closed a while ago.
    #[inline]
    pub fn advance(&mut self, now: Timestamp) {
        self.now = self.now.max(now);
        if self.now - self.last_sweep >= self.sweep_every {
            self.sweep();
        }
    }

    /// Retires the flows closed longer than the linger ago (a few times a second of
    /// capture time, not per frame).
    #[cold]
    fn sweep(&mut self) {
        self.last_sweep = self.now;
        let (linger, now) = (self.cfg.linger, self.now);
        self.retire_where(|f| f.closed && now - f.last > linger);
        if self.cfg.judge_half_closed {
            self.retire_half_closed();
        }
    }

    /// Live: retires flows one side closed more than the linger ago, whatever the other
    /// side does, and remembers them for a while so their late segments are folded in.
    fn retire_half_closed(&mut self) {
        let (linger, now) = (self.cfg.linger, self.now);
        self.judged_early.retain(|_, at| *at + FOLD_LATE_FOR > now);
        let gone = self
            .flows
            .retire_where(|t| t.status().first_close.is_some_and(|t| now - t > linger));
        for t in gone {
            if self.judged_early.len() < self.cfg.max_flows {
                self.judged_early.insert(t.key(), now);
            }
            self.retire(t);
        }
    }

    /// Retires every flow for which `pred` holds; returns how many.
    pub fn retire_where(&mut self, mut pred: impl FnMut(FlowStatus) -> bool) -> usize {
        let gone = self.flows.retire_where(|t| pred(t.status()));
        let n = gone.len();
        gone.into_iter().for_each(|t| self.retire(t));
        n
    }

    fn segment(&mut self, seg: &Segment<'_>, k: FlowKey, at: FrameRef) {
        // The common case, a segment of a known connection, costs one lookup.
        if let Some(t) = self.flows.get_mut(&k, at.ts) {
            let engine = EngineParts {
                cfg: &self.cfg,
                keys: &self.keys,
                limits: &self.limits,
            };
            if t.take(seg, at, &engine) {
                return;
            }
            if let Some(old) = self.flows.remove(&k) {
                self.retire(old);
            }
        }
        let opens = seg.flags.syn() && !seg.flags.ack();
        if !opens && !self.judged_early.is_empty() && self.judged_early.contains_key(&k) {
            self.stats.late_segments += 1;
            return;
        }
        let t = self.open(seg, at);
        self.flows.insert(k, t, at.ts);
    }

    /// Starts tracking the flow `seg` opens (evicting the quietest flows first if the table
    /// is full): a handshake segment is kept as it is, any other is analyzed.
    #[inline(never)]
    fn open(&mut self, seg: &Segment<'_>, at: FrameRef) -> Tracked {
        if self.flows.len() >= self.cfg.max_flows {
            let gone = self.flows.retire_quietest(EVICT_BATCH);
            self.stats.flows_evicted += gone.len() as u64;
            gone.into_iter().for_each(|t| self.evict(t));
        }
        self.stats.tcp_flows += 1;
        let id = self.next_id;
        self.next_id += 1;
        if Opening::takes(seg) {
            return Tracked::Opening(Box::new(Opening {
                id,
                first: (detached(seg), at),
                more: Vec::new(),
            }));
        }
        let mut e = Entry::new(&self.cfg, seg, at, id);
        feed(&mut e, seg, at, &self.keys, &self.limits);
        Tracked::Open(e)
    }

    /// Retires a flow evicted from a full table. A flow evicted while its client's SYNs had
    /// no answer at all is counted, not recorded: it holds nothing but those SYNs, and it
    /// was not open at the capture's end (the only verdict its record could get).
    fn evict(&mut self, t: Tracked) {
        match t {
            Tracked::Opening(o) if o.segments().all(|(s, _)| s.flags.syn() && !s.flags.ack()) => {
                self.stats.attempts_not_kept += 1;
            }
            t => self.retire_as(t, Retired::Evicted),
        }
    }

    /// Retires a flow: its record is built and kept (up to the caps).
    fn retire(&mut self, t: Tracked) {
        self.retire_as(t, Retired::Finished);
    }

    #[inline(never)]
    fn retire_as(&mut self, t: Tracked, how: Retired) {
        if let Tracked::Opening(o) = &t
            && self.attempts_kept >= self.cfg.max_attempts
            && o.is_attempt(&self.cfg)
        {
            // Its record would not be kept: counted without replaying it (replaying every
            // evicted attempt made a 1 M-flow SYN flood 20 % slower).
            self.stats.attempts_not_kept += 1;
            return;
        }
        let e = match t {
            Tracked::Open(e) => e,
            Tracked::Opening(o) => o.replay(&EngineParts {
                cfg: &self.cfg,
                keys: &self.keys,
                limits: &self.limits,
            }),
        };
        self.retire_entry(e, how);
    }

    fn retire_entry(&mut self, e: Box<Entry>, how: Retired) {
        let mut e = *e;
        let Entry {
            flow,
            transport,
            session,
            ..
        } = &mut e;
        let (keys, limits, start) = (&self.keys, &self.limits, flow.syn_seen);
        flow.finish(&mut |ev| {
            transport.on_event(ev, keys, &mut |d| session.on_delivery(d, start, limits))
        });
        transport.finish(&mut |d| session.on_delivery(d, start, limits));
        self.stats.reassembly_cap_hits += e.flow.buffer_cap_hits();
        self.stats.oversized_packets += e.session.0.as_ref().map_or(0, |s| s.oversized());
        let Some(kind) = e.transport.kind().filter(|_| !e.flow.is_scan_probe()) else {
            self.stats.other_flows += 1;
            return;
        };
        if e.flow.never_established() {
            if self.attempts_kept >= self.cfg.max_attempts {
                self.stats.attempts_not_kept += 1;
                return;
            }
            self.attempts_kept += 1;
        }
        if self.retired.len() >= self.cfg.max_connections {
            self.stats.connections_not_kept += 1;
            return;
        }
        let tls = e.transport.tls_facts().cloned();
        let ws = e.transport.ws_facts().cloned();
        let session = e.session.into_session(e.flow.syn_seen, &self.limits);
        let idle_gaps = std::mem::take(&mut e.flow.idle_gaps);
        let mut c = Connection::build(e.id, &e.flow, idle_gaps, Some(session), kind);
        c.absorb_tls(tls);
        c.ws = ws.map(Box::new);
        c.unconfirmed = e.transport.is_tentative() && c.connect.is_none();
        c.evicted = how == Retired::Evicted;
        if !c.unconfirmed && c.packets.total() > 0 {
            self.known_mqtt_servers.insert(c.server);
        }
        if self.cfg.timeline != (0, 0) {
            // (0, 0) means no timeline was asked for: nothing was cut by a cap.
            self.stats.timeline_omitted += c.timeline_omitted;
        }
        // The flow's state is freed before the record is boxed, so the box can take its
        // place: the other order leaves a hole beside every record.
        drop((e.flow, e.transport));
        self.retired.push(Box::new(c));
    }

    /// Takes in what the engines of the other shards found (each retired whole): their
    /// connections, counters and capture time.
    pub fn absorb(&mut self, mut other: Analyzer) {
        other.retire_where(|_| true);
        self.retired.append(&mut other.retired);
        self.known_mqtt_servers.extend(other.known_mqtt_servers);
        self.stats.add(&other.stats);
        self.now = self.now.max(other.now);
    }

    /// Ends the analysis: retires every flow, judges every connection, correlates.
    pub fn finish(
        mut self,
        captures: Vec<String>,
        warnings: Vec<ReadWarning>,
        frames_read: u64,
    ) -> Analysis {
        self.retire_where(|_| true);
        let mut conns = self.take_retired();
        sort_by_first_frame(&mut conns);
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
    /// A connection read as MQTT only tentatively is kept if its server carried MQTT on
    /// another connection retired so far; otherwise it is counted as not MQTT.
    pub fn take_retired(&mut self) -> Vec<Box<Connection>> {
        let known = &self.known_mqtt_servers;
        let before = self.retired.len();
        let mut kept = std::mem::take(&mut self.retired);
        kept.retain(|c| !c.unconfirmed || known.contains(&c.server));
        self.stats.other_flows += (before - kept.len()) as u64;
        kept
    }

    /// Open connections that carry MQTT, as they stand now.
    pub fn sessions(&self) -> impl Iterator<Item = OpenSession<'_>> {
        self.flows.values().filter_map(|t| {
            let Tracked::Open(e) = t else { return None };
            Some(OpenSession {
                id: e.id,
                flow: &e.flow,
                transport: e.transport.kind()?,
                session: e.session.0.as_deref(),
            })
        })
    }
}

/// Sorts connections by (first frame, id): records are boxed, so only pointers move.
fn sort_by_first_frame(conns: &mut [Box<Connection>]) {
    conns.sort_unstable_by_key(|c| (c.first_frame, c.id));
}

/// The session stage's limits from the configuration.
fn session_limits(cfg: &Config) -> SessionLimits {
    SessionLimits {
        max_packet: cfg.max_packet,
        timeline_head: cfg.timeline.0,
        timeline_tail: cfg.timeline.1,
        keep_usernames: cfg.keep_usernames,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_sorted_by_first_frame_then_id() {
        // Every permutation of four records, with a tie on the first frame.
        let keys = [(7, 3), (2, 0), (7, 1), (5, 2)];
        let mut perm = [0, 1, 2, 3];
        for _ in 0..24 {
            let mut conns: Vec<Box<Connection>> = perm
                .iter()
                .map(|&i| {
                    let mut c = Connection::sample(60);
                    (c.first_frame, c.id) = keys[i];
                    Box::new(c)
                })
                .collect();
            sort_by_first_frame(&mut conns);
            let got: Vec<(u64, usize)> = conns.iter().map(|c| (c.first_frame, c.id)).collect();
            assert_eq!(got, [(2, 0), (5, 2), (7, 1), (7, 3)]);
            next_permutation(&mut perm);
        }
    }

    fn next_permutation(p: &mut [usize]) {
        let Some(i) = (1..p.len()).rev().find(|&i| p[i - 1] < p[i]) else {
            p.reverse();
            return;
        };
        let j = (i..p.len()).rev().find(|&j| p[j] > p[i - 1]).unwrap_or(i);
        p.swap(i - 1, j);
        p[i..].reverse();
    }
}
