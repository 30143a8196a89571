//! Fleet metrics for Prometheus, served by the same endpoint as `live`'s
//! ([`crate::live::metrics::serve`]), named `dropscope_fleet_*`.

use crate::live::metrics::{CauseLabels, KindLabels, Render};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Labels of per-probe counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProbeLabels {
    /// The probe.
    pub probe: String,
    /// The record kind (`connection`, `event`, `finding`, `other`).
    pub record: String,
}

/// Labels of a probe's own findings.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProbeKindLabels {
    /// The probe.
    pub probe: String,
    /// The finding's kind.
    pub kind: String,
}

/// Every metric `fleet` exports.
pub struct FleetMetrics {
    registry: Registry,
    /// Records read, by probe and kind.
    pub records: Family<ProbeLabels, Counter>,
    /// Lines that were not records.
    pub bad_records: Counter,
    /// Real connections (views of one connection joined), by cause and layer.
    pub connections: Family<CauseLabels, Counter>,
    /// Real connections that dropped, by cause and layer.
    pub drops: Family<CauseLabels, Counter>,
    /// Connections seen by two or more probes.
    pub joined: Counter,
    /// Fleet findings, by kind.
    pub findings: Family<KindLabels, Counter>,
    /// Probes' own findings, by probe and kind.
    pub probe_findings: Family<ProbeKindLabels, Counter>,
    /// Client ids tracked now.
    pub clients: Gauge,
    /// Client ids forgotten before their lifetime because the cap was reached.
    pub clients_evicted: Counter,
    /// Newest record time, seconds since the epoch.
    pub record_time: Gauge,
}

impl FleetMetrics {
    /// All metrics at zero, registered.
    pub fn new() -> FleetMetrics {
        let mut m = FleetMetrics {
            registry: Registry::with_prefix("dropscope_fleet"),
            records: Family::default(),
            bad_records: Counter::default(),
            connections: Family::default(),
            drops: Family::default(),
            joined: Counter::default(),
            findings: Family::default(),
            probe_findings: Family::default(),
            clients: Gauge::default(),
            clients_evicted: Counter::default(),
            record_time: Gauge::default(),
        };
        m.register_all();
        m
    }

    fn register_all(&mut self) {
        let r = &mut self.registry;
        r.register(
            "records",
            "Records read, by probe and kind",
            self.records.clone(),
        );
        r.register(
            "bad_records",
            "Lines that were not records",
            self.bad_records.clone(),
        );
        r.register(
            "connections",
            "Real connections (views joined), by cause and layer",
            self.connections.clone(),
        );
        r.register(
            "drops",
            "Real connections dropped, by cause and layer",
            self.drops.clone(),
        );
        r.register(
            "joined",
            "Connections seen by two or more probes",
            self.joined.clone(),
        );
        r.register("findings", "Fleet findings, by kind", self.findings.clone());
        r.register(
            "probe_findings",
            "Probes' own findings, by probe and kind",
            self.probe_findings.clone(),
        );
        r.register("clients", "Client ids tracked now", self.clients.clone());
        r.register(
            "clients_evicted",
            "Client ids forgotten early: cap reached",
            self.clients_evicted.clone(),
        );
        r.register(
            "record_time",
            "Newest record time, seconds since the epoch",
            self.record_time.clone(),
        );
    }
}

impl Default for FleetMetrics {
    fn default() -> Self {
        FleetMetrics::new()
    }
}

impl Render for FleetMetrics {
    fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
