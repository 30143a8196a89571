//! The result of an analysis: what every report renders. Documented field by field in the
//! README's JSON schema.

use crate::correlate::{Finding, Summary};
use crate::decode::SkipCounts;
use crate::source::ReadWarning;
use crate::verdict::Judged;
use serde::Serialize;

/// Counters of the engine: what was read, skipped and capped.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EngineStats {
    /// Frames read (numbered), including those a filter rejected.
    pub frames: u64,
    /// Frames that passed the filter and were decoded.
    pub frames_analyzed: u64,
    /// Captured bytes of analyzed frames.
    pub bytes: u64,
    /// TCP segments.
    pub tcp_segments: u64,
    /// Frames that were not TCP segments, by reason.
    pub skipped: SkipCounts,
    /// Frames whose captured length was shorter than on the wire.
    pub snaplen_cut: u64,
    /// TCP flows seen (MQTT or not).
    pub tcp_flows: u64,
    /// TCP flows that were not MQTT (and not on a TLS port), ignored.
    pub other_flows: u64,
    /// Flows evicted because the flow table was full.
    pub flows_evicted: u64,
    /// Times a flow's out-of-order buffer hit its cap.
    pub reassembly_cap_hits: u64,
    /// MQTT packets skipped for being longer than the packet cap.
    pub oversized_packets: u64,
    /// Timeline entries dropped from the middle of connections (the timeline cap).
    pub timeline_omitted: u64,
    /// Connections analyzed but not kept because the connection cap was reached.
    pub connections_not_kept: u64,
    /// Connections never established (SYNs refused, unanswered, or their SYN-ACK never
    /// acknowledged) counted but not kept: past the attempt cap, or SYNs with no answer
    /// evicted from a full flow table.
    pub attempts_not_kept: u64,
    /// Live: segments of flows judged half-closed that came after the judgement, folded
    /// into them (not taken for new connections).
    #[serde(skip_serializing_if = "is_zero")]
    pub late_segments: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl EngineStats {
    /// Adds the counters of another shard of the same analysis (`frames`, the frames read,
    /// is the same for every shard and stays).
    pub fn add(&mut self, o: &EngineStats) {
        self.frames_analyzed += o.frames_analyzed;
        self.bytes += o.bytes;
        self.tcp_segments += o.tcp_segments;
        let (s, t) = (&mut self.skipped, &o.skipped);
        s.unsupported_link_type += t.unsupported_link_type;
        s.not_ip += t.not_ip;
        s.not_tcp += t.not_tcp;
        s.ip_fragment += t.ip_fragment;
        s.truncated += t.truncated;
        s.malformed += t.malformed;
        self.snaplen_cut += o.snaplen_cut;
        self.tcp_flows += o.tcp_flows;
        self.other_flows += o.other_flows;
        self.flows_evicted += o.flows_evicted;
        self.reassembly_cap_hits += o.reassembly_cap_hits;
        self.oversized_packets += o.oversized_packets;
        self.timeline_omitted += o.timeline_omitted;
        self.connections_not_kept += o.connections_not_kept;
        self.attempts_not_kept += o.attempts_not_kept;
        self.late_segments += o.late_segments;
    }
}

/// Everything dropscope concluded from one capture (or capture set).
#[derive(Debug, Clone)]
pub struct Analysis {
    /// The files read, in order.
    pub captures: Vec<String>,
    /// Engine counters.
    pub stats: EngineStats,
    /// Problems reading the files (truncation, corruption); the analysis covers what was read.
    pub warnings: Vec<ReadWarning>,
    /// Summary metrics across connections.
    pub summary: Summary,
    /// Findings across connections (takeovers, mass closes, patterns, NAT bracket).
    pub findings: Vec<Finding>,
    /// Every MQTT (or MQTT-over-TLS) connection, in order of first frame.
    pub connections: Vec<Judged>,
}

/// An analysis as it is written, with `connections` in place of its connections (the JSON
/// view writes them on several threads and splices them in).
#[derive(Serialize)]
pub struct AnalysisView<'a, C> {
    captures: &'a [String],
    stats: &'a EngineStats,
    warnings: &'a [ReadWarning],
    summary: &'a Summary,
    findings: &'a [Finding],
    connections: C,
}

impl Analysis {
    /// This analysis as it is written, with `connections` in place of its connections.
    pub fn with_connections<C: Serialize>(&self, connections: C) -> AnalysisView<'_, C> {
        AnalysisView {
            captures: &self.captures,
            stats: &self.stats,
            warnings: &self.warnings,
            summary: &self.summary,
            findings: &self.findings,
            connections,
        }
    }
}

impl Serialize for Analysis {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.with_connections(&self.connections).serialize(s)
    }
}
