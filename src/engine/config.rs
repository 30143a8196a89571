//! The settings of an analysis: every cap and threshold, each with its reason.

use crate::correlate::Windows;
use crate::time::Span;
use crate::transport::PortHint;
use crate::verdict::Thresholds;

/// Settings of an analysis; every cap and threshold is here, with its reason.
#[derive(Debug, Clone)]
pub struct Config {
    /// Ports that carry plain MQTT (1883 by default).
    pub mqtt_ports: Vec<u16>,
    /// Ports that carry MQTT over TLS (8883 by default): tracked at the TCP level only.
    pub tls_ports: Vec<u16>,
    /// Most flows tracked at once; past it the least recently active flows are evicted and
    /// counted. A flow still in its handshake (SYNs, SYN-ACKs, RSTs only) costs about
    /// 200 bytes and an analyzed flow about a kilobyte, so the default bounds the table
    /// between 40 and 220 MB.
    pub max_flows: usize,
    /// Out-of-order bytes buffered per direction of a flow before the missing range is
    /// declared a hole.
    pub reassembly_cap: usize,
    /// Longest MQTT packet reassembled (the MQTT maximum is 256 MB; brokers default far
    /// lower, mosquitto to no limit but clients rarely exceed a megabyte).
    pub max_packet: usize,
    /// Most connection records kept for the report and the cross-connection stage; past it
    /// further connections are counted, not kept. A record costs 1.4 KB (2 KB of peak
    /// memory with its share of the analysis), so 200,000 records are about 400 MB.
    pub max_connections: usize,
    /// Most records kept of connections never established (a SYN refused by a RST, sent
    /// into silence, or answered by a SYN-ACK the client never acknowledged); past it they
    /// are counted, not kept. A SYN flood or a reconnect storm against a dead port makes one
    /// per SYN, and past the first thousands each says what the others said: the cap keeps
    /// such a capture's memory and report small.
    pub max_attempts: usize,
    /// Idle gaps shorter than this are not recorded.
    pub idle_gap_floor: Span,
    /// A closed flow stays this long for its last ACKs before it is retired.
    pub linger: Span,
    /// Live: a flow one side closed (FIN or RST) is judged once `linger` has passed since
    /// that close, without waiting for the other side (a broker closing a dead client gets
    /// no answer); its later segments are folded into it, not taken for a new connection.
    pub judge_half_closed: bool,
    /// Timeline entries kept per connection from the start and before the end.
    pub timeline: (usize, usize),
    /// Keep user names from CONNECT (never passwords).
    pub keep_usernames: bool,
    /// Classifier thresholds.
    pub thresholds: Thresholds,
    /// Cross-connection windows.
    pub windows: Windows,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            mqtt_ports: vec![1883],
            tls_ports: vec![8883],
            max_flows: 200_000,
            reassembly_cap: 256 * 1024,
            max_packet: 1 << 20,
            max_connections: 200_000,
            max_attempts: 20_000,
            idle_gap_floor: Span::from_secs(1),
            linger: Span::from_secs(30),
            judge_half_closed: false,
            timeline: (200, 200),
            keep_usernames: false,
            thresholds: Thresholds::default(),
            windows: Windows::default(),
        }
    }
}

impl Config {
    /// What the configuration says a server port carries.
    pub fn port_hint(&self, port: u16) -> PortHint {
        if self.mqtt_ports.contains(&port) {
            PortHint::Mqtt
        } else if self.tls_ports.contains(&port) {
            PortHint::Tls
        } else {
            PortHint::None
        }
    }

    /// Whether a port is named as a server port (plain or TLS).
    pub fn is_server_port(&self, port: u16) -> bool {
        self.port_hint(port) != PortHint::None
    }
}
