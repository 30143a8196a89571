//! Every MQTT packet of an analysis, one row each in frame order: the `--packets` view, in
//! text (a tshark-like field dump), JSON and NDJSON alike.

use crate::engine::Analysis;
use crate::evidence::FrameRef;
use crate::mqtt::{Packet, PacketKind};
use crate::session::What;
use crate::tcp::Side;
use serde::Serialize;

/// One MQTT packet.
#[derive(Debug, Serialize)]
pub struct PacketRow<'a> {
    /// Its frame and time.
    #[serde(flatten)]
    pub at: FrameRef,
    /// The connection's id.
    pub connection: usize,
    /// Who sent it.
    pub direction: Side,
    /// Its type.
    #[serde(rename = "type")]
    pub kind: PacketKind,
    /// What it said; `None` for a packet inferred from TLS record sizes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub packet: Option<&'a Packet>,
    /// Inferred from the transport's framing (TLS without keys), not read.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub inferred: bool,
}

/// Every packet in the connections' timelines, by frame (then connection).
pub fn packet_rows(a: &Analysis) -> Vec<PacketRow<'_>> {
    let mut rows: Vec<PacketRow<'_>> = a
        .connections
        .iter()
        .flat_map(|c| {
            c.timeline.iter().filter_map(move |e| {
                let (kind, packet) = match &e.what {
                    What::Mqtt(p) => (p.kind(), Some(p)),
                    What::Inferred(p) => (p.kind, None),
                    _ => return None,
                };
                Some(PacketRow {
                    at: e.at,
                    connection: c.id,
                    direction: e.side,
                    kind,
                    packet,
                    inferred: packet.is_none(),
                })
            })
        })
        .collect();
    rows.sort_by_key(|r| (r.at.frame(), r.connection));
    rows
}
