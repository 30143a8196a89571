//! Joining vantage points: the judged analyses of several probes that captured the same
//! traffic at different places (a device's gateway, the broker) become one record per real
//! connection, with one verdict read from both views.
//!
//! [`join`] is the whole API. It
//! 1. recognises the same TCP connection in two analyses ([`matching`]): the server address
//!    is the same, the client's may differ behind a NAT; initial sequence numbers (Linux NAT
//!    keeps them), the sequence numbers covered (captures that start mid-flow), fingerprints
//!    of the first bytes each way and timing decide, and the NAT mapping is recorded;
//! 2. estimates each probe's clock offset from the connections they share ([`clock`]);
//! 3. gives one verdict per real connection with rules only two views allow ([`rules`]):
//!    data that left the client and never reached the broker, a RST that neither end sent,
//!    a NAT expiry told from an outage, a takeover whose newcomer another probe saw;
//!    otherwise the verdict of the view nearer to the side that acted.
//!
//! Connections seen by one probe only are kept, with their own verdict, as `unmatched`.
//!
//! ```no_run
//! use dropscope::join::{VantagePoint, join};
//! # fn judged_analyses() -> Vec<(String, dropscope::Analysis)> { Vec::new() }
//! // each probe's `Analysis`, from `Analyzer::finish` (or records received from the probe)
//! let points: Vec<VantagePoint> = judged_analyses()
//!     .into_iter()
//!     .map(|(name, analysis)| VantagePoint { name, analysis })
//!     .collect();
//! let joined = join(&points);
//! for c in &joined.connections {
//!     let v = &c.joined_verdict;
//!     println!("{:?}: {} ({})", c.client_id, v.cause.name(), v.rule);
//! }
//! ```

mod clock;
mod json;
mod matching;
mod rules;
mod text;

pub use clock::{ClockOffset, OffsetBasis};
pub use json::{write_joined_json, write_joined_ndjson};
pub use matching::{MatchBasis, NatMapping};
pub use rules::{JoinedVerdict, Seen};
pub use text::write_joined_table;

use crate::engine::Analysis;
use crate::verdict::{Judged, Vantage, Verdict};
use serde::Serialize;
use std::net::SocketAddr;

/// The analysis of one probe, named.
#[derive(Debug, Clone)]
pub struct VantagePoint {
    /// The probe's name (its id, or the capture's file name).
    pub name: String,
    /// Its judged analysis.
    pub analysis: Analysis,
}

/// Where a probe sits on the path, read from its connections (handshake timing and TTLs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Placement {
    /// Near the clients (a device, its gateway).
    ClientSide,
    /// Near the broker.
    BrokerSide,
    /// Its connections do not say.
    Unknown,
}

/// One probe in the joined result.
#[derive(Debug, Clone, Serialize)]
pub struct VantageInfo {
    /// The probe's name.
    pub name: String,
    /// The files it read.
    pub captures: Vec<String>,
    /// Its MQTT connections.
    pub connections: usize,
    /// Where it sits.
    pub placement: Placement,
    /// How far its clock reads ahead of the first probe's, seconds (null when it shares no
    /// connection with a probe whose offset is known).
    pub clock_offset_seconds: Option<f64>,
}

/// One probe's view of a connection.
#[derive(Debug, Clone, Serialize)]
pub struct Sighting {
    /// The probe.
    pub name: String,
    /// The connection's id in that probe's analysis.
    pub connection_id: usize,
    /// The client's address as that probe saw it.
    #[serde(serialize_with = "addr")]
    pub client: SocketAddr,
    /// The server's address.
    #[serde(serialize_with = "addr")]
    pub server: SocketAddr,
    /// The CONNECT's client id, as that probe read it.
    pub client_id: Option<String>,
    /// That probe's own verdict.
    pub verdict: Verdict,
}

/// One real connection seen by two (or more) probes.
#[derive(Debug, Clone, Serialize)]
pub struct JoinedConnection {
    /// Index in the joined result.
    pub id: usize,
    /// The client id.
    pub client_id: Option<String>,
    /// The server's address (the same at every probe).
    #[serde(serialize_with = "addr")]
    pub server: SocketAddr,
    /// What recognised it as one connection.
    pub matched_by: MatchBasis,
    /// The client's address before and after a NAT, when they differ.
    pub nat_mapping: Option<NatMapping>,
    /// How far the broker-side probe's clock reads ahead of the client-side probe's for
    /// this pair, seconds (the estimate over all connections they share).
    pub clock_offset: Option<f64>,
    /// Each probe's view, the client-side one first.
    pub vantages: Vec<Sighting>,
    /// The one verdict from all views.
    pub joined_verdict: JoinedVerdict,
}

/// The joined result: what every joined view renders.
#[derive(Debug, Clone, Serialize)]
pub struct Joined {
    /// The probes, in the order given.
    pub vantages: Vec<VantageInfo>,
    /// The clock offset of each pair of probes that share connections.
    pub clock_offsets: Vec<ClockOffset>,
    /// The connections seen by more than one probe.
    pub connections: Vec<JoinedConnection>,
    /// The connections seen by one probe only, with that probe's verdict (re-judged when
    /// another probe saw what explains it, e.g. a takeover's newcomer).
    pub unmatched: Vec<Sighting>,
}

/// Joins the analyses of several probes of the same traffic (see the module docs).
/// The first probe's clock is the reference for `clock_offset_seconds`.
pub fn join(points: &[VantagePoint]) -> Joined {
    let placements: Vec<Placement> = points.iter().map(|p| placement(&p.analysis)).collect();
    let pairs = matching::match_all(points, &placements);
    let offsets = clock::offsets_from_first(points.len(), &pairs);
    let (groups, alone) = matching::groups(points, &pairs, &offsets);
    let ctx = rules::Context::new(points, &offsets);
    let connections = groups
        .iter()
        .enumerate()
        .map(|(id, g)| {
            let pair = &pairs[g.pair];
            let [(vc, ic), _] = g.members;
            JoinedConnection {
                id,
                client_id: g.client_id(points),
                server: matching::conn(points, vc, ic).server,
                matched_by: g.basis,
                nat_mapping: g.nat_mapping(points),
                clock_offset: pair.offset.as_ref().map(|o| o.seconds_from(vc)),
                vantages: g
                    .members
                    .iter()
                    .map(|&(v, i)| sighting(points, v, i))
                    .collect(),
                joined_verdict: rules::judge_pair(&ctx, g, pair),
            }
        })
        .collect();
    let unmatched = alone
        .into_iter()
        .map(|(v, i)| {
            let mut s = sighting(points, v, i);
            rules::alone(&ctx, v, i, &mut s.verdict);
            s
        })
        .collect();
    Joined {
        vantages: points
            .iter()
            .zip(&placements)
            .enumerate()
            .map(|(v, (p, &placement))| VantageInfo {
                name: p.name.clone(),
                captures: p.analysis.captures.clone(),
                connections: p.analysis.connections.len(),
                placement,
                clock_offset_seconds: offsets[v],
            })
            .collect(),
        clock_offsets: pairs.iter().filter_map(|p| p.offset.clone()).collect(),
        connections,
        unmatched,
    }
}

fn sighting(points: &[VantagePoint], v: usize, i: usize) -> Sighting {
    let j: &Judged = &points[v].analysis.connections[i];
    Sighting {
        name: points[v].name.clone(),
        connection_id: j.id,
        client: j.client,
        server: j.server,
        client_id: j.client_id.clone(),
        verdict: j.verdict.clone(),
    }
}

/// Where a probe sits: the vantage most of its connections' handshakes and TTLs show.
fn placement(a: &Analysis) -> Placement {
    let count = |v| {
        a.connections
            .iter()
            .filter(|j| j.verdict.vantage == v)
            .count()
    };
    let (client, server) = (count(Vantage::Client), count(Vantage::Server));
    match client.cmp(&server) {
        std::cmp::Ordering::Greater => Placement::ClientSide,
        std::cmp::Ordering::Less => Placement::BrokerSide,
        std::cmp::Ordering::Equal => Placement::Unknown,
    }
}

fn addr<S: serde::Serializer>(a: &SocketAddr, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(a)
}

#[cfg(test)]
mod tests;
