//! The correlate stage: what only shows across connections. Takeovers by client id, mass
//! closes, reconnect timing, drop patterns, the NAT idle timeout bracket, and the summary.

mod outage;
mod patterns;
mod refused;

mod summary;

pub use outage::nat_or_outage;
pub use refused::refused_by_path;
pub use summary::{Summary, summarize};

use crate::session::Connection;
use crate::tcp::Side;
use crate::time::{Span, Timestamp};
use crate::transport::Basis;
use crate::verdict::{Actor, Cause, Judged, Recast};
use serde::Serialize;
use std::borrow::Cow;

/// Named thresholds of the cross-connection detectors.
#[derive(Debug, Clone)]
pub struct Windows {
    /// A server close this soon after another connection CONNECTed with the same client id
    /// is a takeover. Brokers act on the new CONNECT at once; a second covers slow ones.
    pub takeover: Span,
    /// Server closes within this window count as one mass close.
    pub mass_close: Span,
    /// How many server closes in one window make a shutdown (not a coincidence).
    pub mass_close_min: usize,
    /// Drops of different clients within this window are one cluster.
    pub cluster: Span,
    /// How many clients' drops make a cluster.
    pub cluster_min: usize,
    /// How unlikely a cluster must be at the capture's own drop rate (over all its windows)
    /// to be reported.
    pub cluster_chance: f64,
    /// Drops needed before a pattern is named.
    pub pattern_min_drops: usize,
    /// Coefficient of variation under which intervals (or counts) are "regular".
    pub regular_cv: f64,
    /// A connection that failed at the moment a NAT expiry candidate did points to an outage
    /// only if their quiet spells differ by this factor (equal spells fit a NAT as well).
    pub nat_margin: f64,
}

impl Default for Windows {
    fn default() -> Self {
        Windows {
            takeover: Span::from_secs(2),
            mass_close: Span::from_secs(1),
            mass_close_min: 5,
            cluster: Span::from_secs(2),
            cluster_min: 3,
            cluster_chance: 0.01,
            pattern_min_drops: 3,
            regular_cv: 0.2,
            nat_margin: 1.2,
        }
    }
}

/// The kind of a cross-connection finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// A connection was closed because another took its client id.
    SessionTakenOver,
    /// The server closed many connections at once.
    ServerShutdown,
    /// A client's successive connections.
    Reconnects,
    /// Drops at regular intervals.
    RegularDrops,
    /// Drops at irregular intervals.
    IrregularDrops,
    /// Drops after about the same number of messages.
    DropsAfterMessages,
    /// Drops of many clients at one moment.
    ClusteredDrops,
    /// The NAT idle timeout, bracketed.
    NatTimeoutBracket,
}

impl FindingKind {
    /// The snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            FindingKind::SessionTakenOver => "session_taken_over",
            FindingKind::ServerShutdown => "server_shutdown",
            FindingKind::Reconnects => "reconnects",
            FindingKind::RegularDrops => "regular_drops",
            FindingKind::IrregularDrops => "irregular_drops",
            FindingKind::DropsAfterMessages => "drops_after_messages",
            FindingKind::ClusteredDrops => "clustered_drops",
            FindingKind::NatTimeoutBracket => "nat_timeout_bracket",
        }
    }
}

/// One cross-connection finding.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// What was found.
    pub kind: FindingKind,
    /// The client id concerned, if one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The connections involved.
    pub connections: Vec<usize>,
    /// When (the first event).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<Timestamp>,
    /// Numbers behind it (period, count, bounds…), by name.
    pub numbers: Numbers,
    /// One readable sentence.
    pub explanation: String,
}

impl Finding {
    fn new(kind: FindingKind, connections: Vec<usize>, explanation: String) -> Finding {
        Finding {
            kind,
            client_id: None,
            connections,
            time: None,
            numbers: Numbers::default(),
            explanation,
        }
    }

    fn number(mut self, name: &'static str, value: f64) -> Finding {
        self.numbers.set(name, (value * 1000.0).round() / 1000.0);
        self
    }
}

/// A finding's numbers by name: a short list rather than a map, since a capture may hold a
/// finding per client and each has only a handful. Written as a JSON object, names in
/// alphabetical order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Numbers(Vec<(&'static str, f64)>);

impl Numbers {
    /// Sets `name` to `value`, replacing an earlier value.
    pub fn set(&mut self, name: &'static str, value: f64) {
        match self.0.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.0.push((name, value)),
        }
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.0.iter().find(|(n, _)| *n == name).map(|&(_, v)| v)
    }
}

impl Serialize for Numbers {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut sorted: Vec<_> = self.0.iter().collect();
        sorted.sort_unstable_by_key(|(n, _)| *n);
        let mut m = s.serialize_map(Some(sorted.len()))?;
        for (name, value) in sorted {
            m.serialize_entry(name, value)?;
        }
        m.end()
    }
}

/// Takeovers: connections the server closed shortly after another CONNECTed with the same
/// client id. Returns the findings and what the verdict stage should re-judge.
pub fn takeovers(conns: &[Judged], w: &Windows) -> (Vec<Finding>, Vec<Recast>) {
    let mut found = Vec::new();
    let mut recasts = Vec::new();
    let connects = Connects::of(conns);
    for (i, c) in conns.iter().enumerate() {
        if !can_be_taken_over(c) {
            continue;
        }
        let (Some(id), Some(closed)) = (takeover_key(c), server_close_time(c)) else {
            continue;
        };
        let start = c.start;
        let newcomer = connects.with_key(&id).find_map(|j| {
            let other = &conns[j];
            let at = other.connect?;
            let fits = j != i && at.ts >= start && at.ts <= closed && closed - at.ts <= w.takeover;
            fits.then_some((other.id, at, other.clean_session == Some(true)))
        });
        let Some((other_id, connect, clean)) = newcomer else {
            continue;
        };
        recasts.push(Recast::TakenOver {
            index: i,
            by: other_id,
            connect,
            closed,
            clean,
        });
        let encrypted_id = id.starts_with(TLS_KEY);
        let who = if encrypted_id {
            format!("Client {} (client id encrypted)", c.client.ip())
        } else {
            format!("Client id {id:?}")
        };
        let mut f = Finding::new(
            FindingKind::SessionTakenOver,
            vec![c.id, other_id],
            format!(
                "{who}: connection {other_id} took over connection {}.",
                c.id
            ),
        );
        f.client_id = (!encrypted_id).then(|| id.into_owned());
        f.time = Some(closed);
        found.push(f);
    }
    (found, recasts)
}

/// Mass closes: many server closes within one window, a broker shutdown or restart.
/// Returns the findings and what the verdict stage should re-judge.
pub fn mass_closes(conns: &[Judged], w: &Windows) -> (Vec<Finding>, Vec<Recast>) {
    let mut closes: Vec<(Timestamp, usize)> = conns
        .iter()
        .enumerate()
        .filter(|(_, c)| {
            let v = &c.verdict;
            let server_closed = (matches!(
                v.cause,
                Cause::ServerClose | Cause::ServerDisconnect | Cause::Reset
            ) || v.alternative == Some(Cause::ServerClose))
                && v.side == Some(Actor::Server)
                && (v.cause != Cause::ServerDisconnect || v.code == Some(0x8B));
            // A connection seen only as it closed says nothing alone, but its server closing
            // it with many others is a shutdown.
            let only_its_close = v.rule == crate::verdict::ONLY_THE_CLOSE
                && c.tcp_end.is_some_and(|e| e.by == Side::Server);
            server_closed || only_its_close
        })
        .filter_map(|(i, c)| server_close_time(c).map(|t| (t, i)))
        .collect();
    // One broker at a time: closes by different servers are not one event.
    closes.sort_by_key(|&(t, i)| (conns[i].server, t, i));
    let mut found = Vec::new();
    let mut recasts = Vec::new();
    let mut start = 0;
    while start < closes.len() {
        let server = conns[closes[start].1].server;
        let mut end = start;
        while end + 1 < closes.len()
            && conns[closes[end + 1].1].server == server
            && closes[end + 1].0 - closes[start].0 <= w.mass_close
        {
            end += 1;
        }
        let group = &closes[start..=end];
        let established = group
            .iter()
            .filter(|&&(t, i)| was_established(&conns[i], t, w))
            .count();
        if established >= w.mass_close_min && !kept_serving(conns, group) {
            let (finding, recast) = shutdown(conns, group);
            found.push(finding);
            recasts.push(recast);
        }
        start = end + 1;
    }
    found.sort_by_key(|f| f.time);
    (found, recasts)
}

/// Whether a connection the server closed at `closed` had been up: it was open before the
/// capture began, its CONNACK came, or it lived longer than the mass-close window. A broker closing connections on accept (a
/// connection limit, a listener refusing) is not shutting down, however many it closes.
fn was_established(c: &Connection, closed: Timestamp, w: &Windows) -> bool {
    !c.syn_seen || c.connack.is_some_and(|a| a.at.ts < closed) || closed - c.start > w.mass_close
}

/// Whether the broker went on accepting while it closed `group`: a connection to it, not
/// among the closed, was accepted (CONNACK 0) between the first and the last close and
/// outlived them. A broker that shuts down or restarts accepts nothing in between.
///
/// One pass over the connections, the group's membership looked up in its sorted indexes:
/// a restart that closes thousands costs no more than one that closes ten.
fn kept_serving(conns: &[Judged], group: &[(Timestamp, usize)]) -> bool {
    let server = conns[group[0].1].server;
    let (first, last) = (group[0].0, group[group.len() - 1].0);
    let mut closed: Vec<usize> = group.iter().map(|&(_, i)| i).collect();
    closed.sort_unstable();
    conns.iter().enumerate().any(|(i, c)| {
        c.connack
            .is_some_and(|a| a.code == 0 && a.at.ts >= first && a.at.ts <= last)
            && c.server == server
            && c.drop_time() > last
            && closed.binary_search(&i).is_err()
    })
}

/// The findings that only read verdicts: reconnects, drop patterns, clusters, the NAT
/// bracket.
pub fn patterns(conns: &[Judged], w: &Windows) -> Vec<Finding> {
    let mut findings = patterns::reconnects_and_patterns(conns, w);
    findings.extend(patterns::clusters(conns, w));
    findings.extend(patterns::nat_bracket(conns));
    findings
}

/// When the server closed the connection (its first FIN/RST, or its DISCONNECT).
fn server_close_time(c: &Connection) -> Option<Timestamp> {
    let d = c
        .disconnect
        .as_ref()
        .filter(|d| d.side == Side::Server)
        .map(|d| d.at.ts);
    // Over TLS (close_notify) and WebSocket (a Close frame) the server says it closes before
    // its FIN, and the client may answer with its own FIN first.
    let notify = c.announced_close(Side::Server).map(|at| at.ts);
    d.or(notify)
        .or(c.tcp_end.filter(|e| e.by == Side::Server).map(|e| e.at.ts))
}

fn can_be_taken_over(c: &Judged) -> bool {
    let v = &c.verdict;
    matches!(
        v.cause,
        Cause::ServerClose
            | Cause::SessionTakenOver
            | Cause::KeepaliveTimeout
            | Cause::ProtocolViolation
    ) || (v.cause == Cause::Reset && v.side == Some(Actor::Server))
}

/// Who a takeover is judged between: the client id, or for MQTT over TLS read without keys
/// (the client id is encrypted) the client's address and the broker, so that a new TLS
/// connection from the same address is a candidate newcomer.
fn takeover_key(c: &Judged) -> Option<Cow<'_, str>> {
    match (&c.client_id, c.basis) {
        (Some(id), _) => Some(Cow::Borrowed(id)),
        (None, Basis::Inferred) => Some(Cow::Owned(format!(
            "{}{}>{}",
            TLS_KEY,
            c.client.ip(),
            c.server
        ))),
        (None, Basis::Plaintext | Basis::Decrypted) => None,
    }
}

/// Prefix of the takeover key of a connection whose client id is encrypted.
const TLS_KEY: &str = "\u{0}tls:";

/// The connections that sent a CONNECT, by takeover key: (key, connection index), sorted by
/// key and, under one key, in connection order. One list rather than a map of lists: most
/// keys have a single CONNECT, and a list per key would cost an allocation each.
struct Connects<'a>(Vec<(Cow<'a, str>, usize)>);

impl<'a> Connects<'a> {
    fn of(conns: &'a [Judged]) -> Connects<'a> {
        // Sized for every connection at once: growing by doubling would hold two copies
        // at the moment the analysis's memory peaks.
        let mut all = Vec::with_capacity(conns.len());
        all.extend(conns.iter().enumerate().filter_map(|(j, c)| {
            c.connect?;
            Some((takeover_key(c)?, j))
        }));
        // A stable sort: under one key the connections stay in order.
        all.sort_by(|a, b| a.0.cmp(&b.0));
        Connects(all)
    }

    /// The indexes of the connections whose CONNECT had `key`, in connection order.
    fn with_key(&self, key: &str) -> impl Iterator<Item = usize> + '_ {
        let from = self.0.partition_point(|e| *e.0 < *key);
        let to = from + self.0[from..].partition_point(|e| *e.0 == *key);
        self.0[from..to].iter().map(|&(_, j)| j)
    }
}

fn shutdown(conns: &[Judged], group: &[(Timestamp, usize)]) -> (Finding, Recast) {
    let ids: Vec<usize> = group.iter().map(|&(_, i)| conns[i].id).collect();
    let first = group[0].0;
    let spread = (group[group.len() - 1].0 - first).as_secs_f64();
    let recast = Recast::Shutdown {
        indexes: group.iter().map(|&(_, i)| i).collect(),
        spread,
    };
    let storm = refused_after(conns, conns[group[0].1].server, first);
    let mut text = format!(
        "The broker closed {} connections within {spread:.3} s.",
        group.len()
    );
    if storm.attempts > 0 {
        text.push_str(&format!(
            " Then {} connection attempts were refused (SYN answered by RST) {}: the clients' reconnect storm while nothing listened.",
            storm.attempts,
            match storm.back_after {
                Some(s) => format!("until it accepted again {s:.1} s after the first close"),
                None => "until the capture ended".into(),
            }
        ));
    }
    let mut f = Finding::new(FindingKind::ServerShutdown, ids, text)
        .number("connections", group.len() as f64)
        .number("spread_seconds", spread)
        .number("refused_attempts", storm.attempts as f64);
    if let Some(s) = storm.back_after {
        f = f.number("accepting_again_after_seconds", s);
    }
    f.time = Some(first);
    (f, recast)
}

/// The reconnect storm after a broker stopped: refused SYNs until it accepted again.
struct Storm {
    attempts: usize,
    back_after: Option<f64>,
}

/// Connection attempts to `server` refused after `from`, until the first one it accepted.
fn refused_after(conns: &[Judged], server: std::net::SocketAddr, from: Timestamp) -> Storm {
    let back = conns
        .iter()
        .filter(|c| c.server == server && c.start >= from)
        .filter_map(|c| c.handshake.syn_ack.map(|a| a.ts))
        .min();
    let attempts = conns
        .iter()
        .filter(|c| c.server == server && c.verdict.cause == Cause::TcpRefused)
        .filter(|c| c.start >= from && back.is_none_or(|b| c.start < b))
        .count();
    Storm {
        attempts,
        back_after: back.map(|b| (b - from).as_secs_f64()),
    }
}
