//! The correlator's thresholds and this instance's share of the keys.

use crate::correlate::Windows;
use crate::time::Span;

/// Named thresholds and bounds of the fleet correlator.
#[derive(Debug, Clone)]
pub struct Settings {
    /// A server close this soon after another probe's CONNECT of the same id is a takeover
    /// (the single-probe takeover window).
    pub takeover: Span,
    /// How far two probes' clocks may differ: every cross-probe window is widened by it.
    pub clock_slack: Span,
    /// How long a connection record waits for another probe's record of it. Probes retire a
    /// closed connection within seconds (linger plus a tick); 30 s covers a slow one.
    pub pair_wait: Span,
    /// Server closes at one node within this window are one mass close.
    pub mass_close: Span,
    /// Clients a mass close needs (the single-probe threshold).
    pub mass_close_min: usize,
    /// Mass closes at two nodes this close together are one cluster-wide shutdown; farther
    /// apart (within `rolling_window`) they are a rolling restart.
    pub shutdown_window: Span,
    /// Mass closes at successive nodes within this window are one rolling restart: a node's
    /// restart and its clients' moves take minutes.
    pub rolling_window: Span,
    /// Network drops of different clients of one site within this window are one outage.
    pub outage: Span,
    /// Clients an outage needs (the single-probe cluster threshold).
    pub outage_min: usize,
    /// CONNECTs of different client ids within this window are counted as one storm.
    pub storm: Span,
    /// Client ids a reconnect storm needs: more than a fleet's ordinary churn in 10 s.
    pub storm_min: usize,
    /// State of a key not seen for this long (record time) is forgotten.
    pub state_ttl: Span,
    /// Most client ids tracked.
    pub max_clients: usize,
}

impl Default for Settings {
    fn default() -> Self {
        let w = Windows::default();
        Settings {
            takeover: w.takeover,
            clock_slack: Span::from_secs(1),
            pair_wait: Span::from_secs(30),
            mass_close: w.mass_close,
            mass_close_min: w.mass_close_min,
            shutdown_window: Span::from_secs(10),
            rolling_window: Span::from_secs(600),
            outage: w.cluster,
            outage_min: w.cluster_min,
            storm: Span::from_secs(10),
            storm_min: 20,
            state_ttl: Span::from_secs(3600),
            max_clients: 200_000,
        }
    }
}

/// This instance's share of the keys.
#[derive(Debug, Clone, Copy)]
pub struct Partition {
    /// K, from 0.
    pub instance: u32,
    /// N.
    pub of: u32,
}

impl Partition {
    /// The whole fleet.
    pub const ALL: Partition = Partition { instance: 0, of: 1 };

    /// Whether this instance owns `key`. FxHash has no per-process seed, so every
    /// instance (the same binary) computes the same owner.
    pub fn owns(&self, key: &str) -> bool {
        use std::hash::{BuildHasher, BuildHasherDefault};
        let h = BuildHasherDefault::<rustc_hash::FxHasher>::default().hash_one(key);
        h % u64::from(self.of.max(1)) == u64::from(self.instance)
    }
}
