//! The fleet correlator: the records of many probes (gateways, broker nodes), read from
//! the JetStream stream they publish into or from saved NDJSON, correlated across probes.
//!
//! What one probe cannot see and the fleet finds, each with named thresholds
//! ([`Settings`]):
//! - `cross_probe_takeover`: a CONNECT seen by one probe and the broker closing the holder of
//!   the same client id seen by another, within the takeover window;
//! - `server_mass_close` at one broker node, and across nodes `cluster_shutdown` (nodes
//!   closing together) or `rolling_restart` (nodes closing one after another);
//! - `site_outage` (network drops of many clients of one /24, or /64, at once: a site or a
//!   NAT) and `probe_outage` (the same at one probe);
//! - `reconnect_storm`: CONNECTs of many client ids at once across the fleet;
//! - drop patterns: every real connection counted once by cause, the views of one
//!   connection from several probes joined first ([`views`], where the join of vantage
//!   points plugs in).
//!
//! Work is shared by hash: instance K of N owns the keys whose hash modulo N is K (a client
//! id, a site, a probe, and one key each for the broker nodes and the storm detector); every
//! instance reads every record and keeps state only for its keys, so N instances find
//! exactly what one finds, each about 1/N of the per-client state. The clock is the records'
//! capture time; state expires by it.

pub mod burst;
pub mod clients;
pub mod consume;
pub mod files;
mod finding;
pub mod metrics;
pub mod record;
pub mod report;
mod settings;
pub mod views;

pub use finding::{FleetFinding, FleetKind};
pub use settings::{Partition, Settings};

use crate::live::metrics::{CauseLabels, KindLabels};
use crate::time::{Span, Timestamp};
use burst::{Burst, Bursts};
use clients::{ClientState, ClientWindows};
use finding::{burst_finding, cluster_finding, takeover_finding};
use metrics::{FleetMetrics, ProbeKindLabels, ProbeLabels};
use record::{ConnView, Observation, Record};
use rustc_hash::FxHashMap;
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::net::IpAddr;
use std::sync::Arc;
use views::{JoinedConnection, PendingView};

/// Counts behind the fleet report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FleetCounts {
    /// Records read, by probe and kind (counted by the instance owning the probe).
    pub records: BTreeMap<String, BTreeMap<&'static str, u64>>,
    /// Lines that were not records.
    pub bad_records: u64,
    /// Real connections by cause.
    pub connections: BTreeMap<&'static str, u64>,
    /// Real connections that dropped, by the probe whose view stood, then cause.
    pub drops: BTreeMap<String, BTreeMap<&'static str, u64>>,
    /// Connections seen by two or more probes.
    pub joined: u64,
    /// Fleet findings by kind.
    pub findings: BTreeMap<&'static str, u64>,
    /// Probes' own findings by probe, then kind.
    pub probe_findings: BTreeMap<String, BTreeMap<String, u64>>,
    /// Client ids forgotten early because the cap was reached.
    pub clients_evicted: u64,
}

/// Most findings kept for the next report; further ones are counted.
const MAX_KEPT_FINDINGS: usize = 10_000;
/// Most broker-node mass closes remembered for the cluster-wide view.
const MAX_NODE_BURSTS: usize = 256;
/// Most probes counted by name in the report's tables (probes are deployed, not
/// attacker-chosen; this bounds a misconfigured fleet).
const MAX_PROBES: usize = 4096;

/// The fleet correlator: no I/O, no wall clock; records in, findings out.
pub struct Correlator {
    settings: Settings,
    part: Partition,
    metrics: Arc<FleetMetrics>,
    clients: FxHashMap<String, ClientState>,
    server_closes: Bursts,
    node_bursts: VecDeque<Burst>,
    cluster_found: Vec<(FleetKind, Timestamp)>,
    sites: Bursts,
    probes: Bursts,
    connects: Bursts,
    now: Timestamp,
    counts: FleetCounts,
    kept: Vec<FleetFinding>,
}

impl Correlator {
    /// A correlator for this instance's share, counting into `metrics`.
    pub fn new(settings: Settings, part: Partition, metrics: Arc<FleetMetrics>) -> Correlator {
        let s = &settings;
        Correlator {
            server_closes: Bursts::new(Span(s.mass_close.0 + s.clock_slack.0), s.mass_close_min),
            sites: Bursts::new(Span(s.outage.0 + s.clock_slack.0), s.outage_min),
            probes: Bursts::new(Span(s.outage.0 + s.clock_slack.0), s.outage_min),
            connects: Bursts::new(s.storm, s.storm_min),
            settings,
            part,
            metrics,
            clients: FxHashMap::default(),
            node_bursts: VecDeque::new(),
            cluster_found: Vec::new(),
            now: Timestamp::default(),
            counts: FleetCounts::default(),
            kept: Vec::new(),
        }
    }

    /// The newest record time.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// Counts a line that was not a record.
    pub fn bad_record(&mut self) {
        self.counts.bad_records += 1;
        self.metrics.bad_records.inc();
    }

    /// Takes one record (`raw` is the line as read, kept for the join); returns the
    /// findings it completes.
    pub fn push(&mut self, rec: Record, raw: &[u8]) -> Vec<FleetFinding> {
        self.now = self.now.max(rec.captured);
        self.metrics.record_time.set(self.now.0 / 1_000_000_000);
        let mut found = Vec::new();
        self.count_record(&rec);
        match &rec.observation {
            Observation::Connection(v) => {
                self.view(v, &mut found);
                self.offer(v, raw, rec.captured);
            }
            Observation::Opened(v) | Observation::Closed(v) => self.view(v, &mut found),
            Observation::Finding { probe, kind } => self.probe_finding(probe, kind),
            Observation::Other => {}
        }
        for f in &found {
            self.found(f);
        }
        found
    }

    fn count_record(&mut self, rec: &Record) {
        if !self.part.owns(&format!("probe:{}", rec.probe)) {
            return;
        }
        let kind = match rec.observation {
            Observation::Connection(_) => "connection",
            Observation::Opened(_) | Observation::Closed(_) => "event",
            Observation::Finding { .. } => "finding",
            Observation::Other => "other",
        };
        if let Some(per) = probe_entry(&mut self.counts.records, &rec.probe) {
            *per.entry(kind).or_default() += 1;
        }
        self.metrics
            .records
            .get_or_create(&ProbeLabels {
                probe: rec.probe.clone(),
                record: kind.into(),
            })
            .inc();
    }

    fn probe_finding(&mut self, probe: &str, kind: &str) {
        if !self.part.owns(&format!("probe:{probe}")) {
            return;
        }
        if let Some(per) = probe_entry(&mut self.counts.probe_findings, probe)
            && (per.len() < 64 || per.contains_key(kind))
        {
            *per.entry(kind.to_string()).or_default() += 1;
        }
        self.metrics
            .probe_findings
            .get_or_create(&ProbeKindLabels {
                probe: probe.into(),
                kind: kind.into(),
            })
            .inc();
    }

    fn found(&mut self, f: &FleetFinding) {
        *self.counts.findings.entry(f.kind.name()).or_default() += 1;
        self.metrics
            .findings
            .get_or_create(&KindLabels {
                kind: f.kind.name().into(),
            })
            .inc();
        if self.kept.len() < MAX_KEPT_FINDINGS {
            self.kept.push(f.clone());
        }
    }

    /// One view of a connection, through every detector this instance owns a key of.
    fn view(&mut self, v: &ConnView, found: &mut Vec<FleetFinding>) {
        let member = member(v);
        if let Some(id) = &v.client_id
            && self.part.owns(&client_key(id))
        {
            let w = self.client_windows();
            let takeovers = self.client(id).observe(v, w);
            found.extend(takeovers.iter().map(takeover_finding));
        }
        if let Some(at) = v.connect
            && self.part.owns("storm")
            && let Some(b) = self.connects.add("fleet", at, &member, &v.probe)
        {
            found.push(burst_finding(FleetKind::ReconnectStorm, &b, "CONNECTs of"));
        }
        let Some(end) = v.end.filter(|_| v.is_drop()) else {
            return;
        };
        if v.side.as_deref() == Some("server") && self.part.owns("servers") {
            self.server_close(v, end, &member, found);
        }
        if v.layer == Some(crate::verdict::Layer::Network) {
            self.network_drop(v, end, &member, found);
        }
    }

    fn server_close(
        &mut self,
        v: &ConnView,
        end: Timestamp,
        member: &str,
        found: &mut Vec<FleetFinding>,
    ) {
        let Some(server) = v.server else { return };
        let Some(b) = self
            .server_closes
            .add(&server.ip().to_string(), end, member, &v.probe)
        else {
            return;
        };
        found.push(burst_finding(
            FleetKind::ServerMassClose,
            &b,
            "server closes of",
        ));
        found.extend(self.cluster_view(&b));
        if self.node_bursts.len() == MAX_NODE_BURSTS {
            self.node_bursts.pop_front();
        }
        self.node_bursts.push_back(b);
    }

    /// A node's mass close against the other nodes': together, a cluster-wide shutdown;
    /// one after another, a rolling restart. One finding per episode.
    fn cluster_view(&mut self, b: &Burst) -> Option<FleetFinding> {
        let s = &self.settings;
        let others: Vec<&Burst> = self.node_bursts.iter().filter(|o| o.key != b.key).collect();
        let together: Vec<&Burst> = others
            .iter()
            .copied()
            .filter(|o| (o.start - b.start).0.abs() <= s.shutdown_window.0)
            .collect();
        let (kind, nodes, window) = if !together.is_empty() {
            (FleetKind::ClusterShutdown, together, s.shutdown_window)
        } else {
            let before: Vec<&Burst> = others
                .into_iter()
                .filter(|o| o.start <= b.start && b.start - o.start <= s.rolling_window)
                .collect();
            (!before.is_empty()).then_some(())?;
            (FleetKind::RollingRestart, before, s.rolling_window)
        };
        let known = self
            .cluster_found
            .iter()
            .any(|(k, t)| *k == kind && (b.start - *t).0.abs() <= window.0);
        if known {
            return None;
        }
        self.cluster_found.push((kind, b.start));
        Some(cluster_finding(kind, b, &nodes))
    }

    fn network_drop(
        &mut self,
        v: &ConnView,
        end: Timestamp,
        member: &str,
        found: &mut Vec<FleetFinding>,
    ) {
        if let Some(site) = v.client.map(|c| subnet(c.ip()))
            && self.part.owns(&format!("site:{site}"))
            && let Some(b) = self.sites.add(&site, end, member, &v.probe)
        {
            found.push(burst_finding(FleetKind::SiteOutage, &b, "network drops of"));
        }
        if self.part.owns(&format!("probe:{}", v.probe))
            && let Some(b) = self.probes.add(&v.probe, end, member, &v.probe)
        {
            found.push(burst_finding(
                FleetKind::ProbeOutage,
                &b,
                "network drops of",
            ));
        }
    }

    fn client_windows(&self) -> ClientWindows {
        ClientWindows {
            takeover: self.settings.takeover,
            slack: self.settings.clock_slack,
            pair_wait: self.settings.pair_wait,
        }
    }

    /// The state of a client id, made room for when the cap is reached.
    fn client(&mut self, id: &str) -> &mut ClientState {
        if !self.clients.contains_key(id) && self.clients.len() >= self.settings.max_clients {
            self.make_room();
        }
        let now = self.now;
        let state = self.clients.entry(id.to_string()).or_default();
        state.last_seen = state.last_seen.max(now);
        state
    }

    /// Forgets the least recently seen eighth of the client ids (their waiting views come
    /// out alone): amortized, a constant cost per new client.
    fn make_room(&mut self) {
        let mut seen: Vec<Timestamp> = self.clients.values().map(|c| c.last_seen).collect();
        let cut = seen.len() / 8;
        let (_, &mut oldest_kept, _) = seen.select_nth_unstable(cut);
        let mut gone = Vec::new();
        self.clients.retain(|_, c| {
            let keep = c.last_seen >= oldest_kept;
            if !keep {
                gone.extend(c.take_pending());
            }
            keep
        });
        let evicted = seen.len().saturating_sub(self.clients.len()) as u64;
        self.counts.clients_evicted += evicted;
        self.metrics.clients_evicted.inc_by(evicted);
        for j in gone {
            self.count_connection(&j);
        }
    }

    /// A connection record waits for its pair, or completes one.
    fn offer(&mut self, v: &ConnView, raw: &[u8], arrived: Timestamp) {
        let Some(id) = v
            .client_id
            .as_deref()
            .filter(|id| self.part.owns(&client_key(id)))
        else {
            if v.client_id.is_none() && self.part.owns(&member(v)) {
                let lone = JoinedConnection {
                    view: v.clone(),
                    probes: vec![v.probe.clone()],
                };
                self.count_connection(&lone);
            }
            return;
        };
        let pending = PendingView {
            view: v.clone(),
            raw: String::from_utf8_lossy(raw).into(),
            arrived,
        };
        let w = self.client_windows();
        if let Some(j) = self.client(id).offer(pending, w) {
            self.count_connection(&j);
        }
    }

    fn count_connection(&mut self, j: &JoinedConnection) {
        let cause = j.cause();
        let labels = CauseLabels {
            cause: cause.name().into(),
            layer: j.layer().map_or("unknown", |l| l.name()).into(),
        };
        *self.counts.connections.entry(cause.name()).or_default() += 1;
        self.metrics.connections.get_or_create(&labels).inc();
        if j.probes.len() > 1 {
            self.counts.joined += 1;
            self.metrics.joined.inc();
        }
        if cause.is_drop() {
            self.metrics.drops.get_or_create(&labels).inc();
            if let Some(per) = probe_entry(&mut self.counts.drops, &j.view.probe) {
                *per.entry(cause.name()).or_default() += 1;
            }
        }
    }

    /// Expires state by record time: views that waited past the pair wait come out alone,
    /// keys not seen within the state lifetime are forgotten.
    pub fn sweep(&mut self) {
        let (now, w) = (self.now, self.client_windows());
        let horizon = Timestamp(now.0.saturating_sub(self.settings.state_ttl.0));
        let mut done = Vec::new();
        self.clients.retain(|_, c| {
            done.extend(c.expire_pending(now, w));
            let keep = c.last_seen >= horizon;
            if !keep {
                done.extend(c.take_pending());
            }
            keep
        });
        for j in done {
            self.count_connection(&j);
        }
        for b in [
            &mut self.server_closes,
            &mut self.sites,
            &mut self.probes,
            &mut self.connects,
        ] {
            b.expire(horizon);
        }
        self.node_bursts.retain(|b| b.end >= horizon);
        self.cluster_found.retain(|(_, t)| *t >= horizon);
        self.metrics.clients.set(self.clients.len() as i64);
    }

    /// At the end of the records: every waiting view comes out alone.
    pub fn finish(&mut self) {
        let mut done = Vec::new();
        for c in self.clients.values_mut() {
            done.extend(c.take_pending());
        }
        for j in done {
            self.count_connection(&j);
        }
    }

    /// Client ids tracked now.
    pub fn clients(&self) -> usize {
        self.clients.len()
    }

    /// The counts so far.
    pub fn counts(&self) -> &FleetCounts {
        &self.counts
    }

    /// The findings since the last call (for a periodic report).
    pub fn take_findings(&mut self) -> Vec<FleetFinding> {
        std::mem::take(&mut self.kept)
    }

    /// The mass closes, outages and storms found so far, with their counts to now.
    pub fn bursts(&self) -> impl Iterator<Item = &Burst> {
        self.sites
            .bursts()
            .chain(self.probes.bursts())
            .chain(self.server_closes.bursts())
            .chain(self.connects.bursts())
    }
}

fn probe_entry<'a, V: Default>(m: &'a mut BTreeMap<String, V>, probe: &str) -> Option<&'a mut V> {
    if m.len() >= MAX_PROBES && !m.contains_key(probe) {
        return None;
    }
    Some(m.entry(probe.to_string()).or_default())
}

fn client_key(id: &str) -> String {
    format!("client:{id}")
}

/// What a burst counts: the client id, or the connection when CONNECT was not seen.
fn member(v: &ConnView) -> String {
    match &v.client_id {
        Some(id) => id.clone(),
        None => format!("{}#{}", v.probe, v.conn),
    }
}

/// A client's site: its /24 (IPv4) or /64 (IPv6): one office, one NAT's outside pool.
pub fn subnet(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(a) => {
            let o = a.octets();
            format!("{}.{}.{}.0/24", o[0], o[1], o[2])
        }
        IpAddr::V6(a) => {
            let s = a.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

#[cfg(test)]
mod tests;
