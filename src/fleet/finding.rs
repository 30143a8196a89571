//! Fleet findings: what the correlator reports, one JSON line each.

use super::burst::Burst;
use super::clients::CrossTakeover;
use crate::time::Timestamp;
use serde::Serialize;
use std::collections::BTreeSet;

/// What the fleet found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FleetKind {
    /// A takeover whose CONNECT and close were seen by different probes.
    CrossProbeTakeover,
    /// A broker node closed many connections at once.
    ServerMassClose,
    /// Several broker nodes closed their connections together.
    ClusterShutdown,
    /// Broker nodes closed their connections one after another.
    RollingRestart,
    /// Many clients of one site (subnet) dropped at once by the network.
    SiteOutage,
    /// Many clients seen by one probe dropped at once by the network.
    ProbeOutage,
    /// Many client ids CONNECTed at once.
    ReconnectStorm,
}

impl FleetKind {
    /// The snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            FleetKind::CrossProbeTakeover => "cross_probe_takeover",
            FleetKind::ServerMassClose => "server_mass_close",
            FleetKind::ClusterShutdown => "cluster_shutdown",
            FleetKind::RollingRestart => "rolling_restart",
            FleetKind::SiteOutage => "site_outage",
            FleetKind::ProbeOutage => "probe_outage",
            FleetKind::ReconnectStorm => "reconnect_storm",
        }
    }
}

/// One fleet finding, as `fleet` prints it (one JSON line each).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FleetFinding {
    /// What was found.
    pub kind: FleetKind,
    /// Where: the client id, broker node address, subnet or probe.
    pub key: String,
    /// When it began (record time).
    pub time: Timestamp,
    /// When its last event was, when it was found.
    pub end: Timestamp,
    /// The probes whose records show it.
    pub probes: Vec<String>,
    /// Distinct clients (or broker nodes, for a cluster-wide finding) involved.
    pub count: usize,
    /// The connections involved, as `probe#id`, when few.
    pub connections: Vec<String>,
    /// One readable sentence.
    pub explanation: String,
}

pub(super) fn takeover_finding(t: &CrossTakeover) -> FleetFinding {
    let (n, h) = (&t.newcomer, &t.holder);
    let at = n.connect.unwrap_or(n.start);
    let closed = h.end.unwrap_or(at);
    let id = h.client_id.clone().unwrap_or_default();
    FleetFinding {
        kind: FleetKind::CrossProbeTakeover,
        key: id.clone(),
        time: at,
        end: closed,
        probes: vec![h.probe.clone(), n.probe.clone()],
        count: 2,
        connections: vec![
            format!("{}#{}", h.probe, h.conn),
            format!("{}#{}", n.probe, n.conn),
        ],
        explanation: format!(
            "{id}: connection {}#{} was taken over: {} saw a new CONNECT with the same client id and the broker closed the old connection {:.3} s later (seen by {})",
            h.probe,
            h.conn,
            n.probe,
            (closed - at).as_secs_f64(),
            h.probe
        ),
    }
}

pub(super) fn burst_finding(kind: FleetKind, b: &Burst, what: &str) -> FleetFinding {
    let probes: Vec<String> = b.probes.iter().cloned().collect();
    FleetFinding {
        kind,
        key: b.key.clone(),
        time: b.start,
        end: b.end,
        count: b.members,
        explanation: format!(
            "{}: {what} {} clients within {:.3} s, seen by {}",
            b.key,
            b.members,
            (b.end - b.start).as_secs_f64(),
            probes.join(", ")
        ),
        probes,
        connections: Vec::new(),
    }
}

pub(super) fn cluster_finding(kind: FleetKind, b: &Burst, others: &[&Burst]) -> FleetFinding {
    let nodes: BTreeSet<&str> = others
        .iter()
        .map(|o| o.key.as_str())
        .chain([b.key.as_str()])
        .collect();
    let probes: BTreeSet<String> = others
        .iter()
        .chain([&b])
        .flat_map(|o| o.probes.iter().cloned())
        .collect();
    let start = others
        .iter()
        .map(|o| o.start)
        .min()
        .unwrap_or(b.start)
        .min(b.start);
    let how = match kind {
        FleetKind::ClusterShutdown => "closed their connections together",
        _ => "closed their connections one after another",
    };
    FleetFinding {
        kind,
        key: "cluster".into(),
        time: start,
        end: b.end,
        count: nodes.len(),
        connections: Vec::new(),
        explanation: format!(
            "{} broker nodes ({}) {how}, over {:.1} s",
            nodes.len(),
            nodes.iter().copied().collect::<Vec<_>>().join(", "),
            (b.end - start).as_secs_f64()
        ),
        probes: probes.into_iter().collect(),
    }
}
