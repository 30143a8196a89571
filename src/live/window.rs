//! The live window: connections judged as the engine retires them, correlated with the
//! recent ones they relate to, kept until the window's report and then forgotten (which
//! bounds a run of days). Offline analysis judges the whole capture at once instead.

use crate::correlate::{self, Finding, FindingKind};
use crate::engine::{Analysis, Analyzer, judge_across, judge_each};
use crate::evidence::FrameRef;
use crate::session::Connection;
use crate::time::{Span, Timestamp};
use crate::verdict::Judged;
use rustc_hash::{FxHashMap, FxHashSet};
use std::net::SocketAddr;

/// Silence, as a multiple of the keepalive, after which a client is overdue: MQTT lets the
/// server close a connection whose client sent nothing for 1.5 × keepalive.
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

/// Open sessions (TCP not closing) whose client is overdue at `now`.
pub fn overdue(analyzer: &Analyzer, now: Timestamp) -> Vec<Overdue> {
    analyzer
        .sessions()
        .filter(|s| s.flow.sides.iter().all(|h| h.fin.is_none()) && !s.flow.closed())
        .filter_map(|s| {
            let (last, silent_for) = s.silent_past_keepalive(now, OVERDUE_RATIO)?;
            let (_, connect) = s.connect()?;
            Some(Overdue {
                id: s.id,
                client: s.client(),
                server: s.server(),
                client_id: connect.client_id.clone(),
                keepalive: connect.keepalive,
                last_client_packet: last,
                silent_for,
            })
        })
        .collect()
}

/// Connections retired since the last `drain`, judged, with the cross-connection findings
/// they take part in.
#[derive(Debug, Default)]
pub struct Retired {
    /// The connections, each with its verdict.
    pub connections: Vec<Judged>,
    /// Findings involving at least one of them (takeovers, mass closes, drop patterns).
    pub findings: Vec<Finding>,
}

/// The current report window.
#[derive(Default)]
pub struct Window {
    done: Vec<Judged>,
    findings: Vec<Finding>,
}

impl Window {
    /// Takes the connections the engine retired, judges them (as `finish` would) with the
    /// recent connections and open sessions they relate to, and keeps them for the report.
    pub fn drain(&mut self, analyzer: &mut Analyzer) -> Retired {
        let mut fresh = analyzer.take_retired();
        if fresh.is_empty() {
            return Retired::default();
        }
        fresh.sort_by_key(|c| (c.end, c.id));
        let ids: FxHashSet<usize> = fresh.iter().map(|c| c.id).collect();
        let fresh = judge_each(fresh, analyzer.config(), analyzer.now());
        let mut ctx = self.context(&fresh, analyzer);
        let mut findings = judge_across(&mut ctx, analyzer.config());
        findings.retain(|f| {
            f.kind != FindingKind::Reconnects && f.connections.iter().any(|i| ids.contains(i))
        });
        let mut connections: Vec<Judged> =
            ctx.into_iter().filter(|c| ids.contains(&c.id)).collect();
        connections.sort_by_key(|c| (c.end, c.id));
        self.done.extend(connections.iter().cloned());
        self.findings.extend(findings.iter().cloned());
        Retired {
            connections,
            findings,
        }
    }

    /// `fresh` and what it may relate to: earlier connections of the same client ids or
    /// ending near them, and open sessions of the same client ids.
    fn context(&self, fresh: &[Judged], analyzer: &Analyzer) -> Vec<Judged> {
        let ids: FxHashSet<&str> = fresh
            .iter()
            .filter_map(|c| c.client_id.as_deref())
            .collect();
        let first = fresh.iter().map(|c| c.end).min().unwrap_or_default();
        let mut per_id: FxHashMap<&str, usize> = FxHashMap::default();
        let mut near = 0;
        let mut ctx: Vec<Judged> = Vec::new();
        for c in self.done.iter().rev() {
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
        let stubs: Vec<Box<Connection>> = analyzer
            .sessions()
            .filter_map(|s| {
                let (at, connect) = s.connect()?;
                ids.contains(connect.client_id.as_str()).then(|| {
                    let mut stub = s.stub();
                    stub.client_id = Some(connect.client_id.clone());
                    stub.connect = Some(at);
                    stub.clean_session = Some(connect.clean_session);
                    Box::new(stub)
                })
            })
            .collect();
        ctx.extend(judge_each(stubs, analyzer.config(), analyzer.now()));
        ctx.sort_by_key(|c| (c.start, c.id));
        ctx
    }

    /// The connections judged since the last call and their findings, as an `Analysis` of
    /// that window; they are forgotten.
    pub fn take(&mut self, analyzer: &Analyzer, captures: Vec<String>) -> Analysis {
        let mut connections = std::mem::take(&mut self.done);
        connections.sort_by_key(|c| (c.start, c.id));
        Analysis {
            captures,
            stats: analyzer.stats().clone(),
            warnings: Vec::new(),
            summary: correlate::summarize(&connections),
            findings: std::mem::take(&mut self.findings),
            connections,
        }
    }
}
