//! The `Connection` record: everything dropscope learned about one TCP connection, as the
//! JSON output documents it field by field (see README, "JSON schema").

use super::{Anomaly, Entry, KeepaliveMiss, PingedIdle, Session};
use crate::evidence::FrameRef;
use crate::mqtt::{PacketKind, Version};
use crate::tcp::{Flow, HalfFacts, Handshake, IdleGap, Side};
use crate::time::{Span, Timestamp};
use crate::transport::tls::{DecryptStatus, TlsFacts, infer_keepalive};
use crate::transport::ws::{CloseFact, WsFacts};
use crate::transport::{Basis, TransportKind};
use serde::{Serialize, Serializer};
use std::net::SocketAddr;

/// Counts of MQTT packets by type, both directions together.
///
/// Every record holds one, so the counts are 32-bit; should one pass 4,294,967,295 (a
/// connection followed live for weeks), all fifteen move to a boxed 64-bit array.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PacketCounts {
    narrow: [u32; 15],
    wide: Option<Box<[u64; 15]>>,
}

impl PacketCounts {
    /// Counts one packet.
    pub fn add(&mut self, kind: PacketKind) {
        let i = kind as usize;
        if let Some(wide) = &mut self.wide {
            wide[i] += 1;
        } else if let Some(n) = self.narrow[i].checked_add(1) {
            self.narrow[i] = n;
        } else {
            let mut wide = Box::new(self.narrow.map(u64::from));
            wide[i] += 1;
            self.wide = Some(wide);
        }
    }

    /// The count of one type.
    pub fn get(&self, kind: PacketKind) -> u64 {
        let i = kind as usize;
        match &self.wide {
            Some(wide) => wide[i],
            None => u64::from(self.narrow[i]),
        }
    }

    /// All packets.
    pub fn total(&self) -> u64 {
        PacketKind::ALL.iter().map(|&k| self.get(k)).sum()
    }
}

impl Serialize for PacketCounts {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(15))?;
        for kind in PacketKind::ALL {
            m.serialize_entry(kind.name(), &self.get(kind))?;
        }
        m.end()
    }
}

/// The server's CONNACK.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ConnAckFacts {
    /// The frame.
    #[serde(flatten)]
    pub at: FrameRef,
    /// Return code (3.x) or reason code (5.0).
    pub code: u8,
    /// Session Present flag.
    pub session_present: bool,
}

/// The first DISCONNECT on the connection.
#[derive(Debug, Clone, Serialize)]
pub struct DisconnectFacts {
    /// The frame.
    #[serde(flatten)]
    pub at: FrameRef,
    /// Who sent it.
    pub side: Side,
    /// MQTT 5 reason code (0 for a bare v5 DISCONNECT); null for 3.x.
    pub reason: Option<u8>,
    /// MQTT 5 reason string property.
    pub reason_string: Option<String>,
}

/// How the TCP connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TcpEndKind {
    /// An orderly close.
    Fin,
    /// An abort.
    Rst,
}

/// Who closed first, and how.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct TcpEnd {
    /// FIN or RST.
    pub kind: TcpEndKind,
    /// Who sent it.
    pub by: Side,
    /// The frame.
    #[serde(flatten)]
    pub at: FrameRef,
}

/// Both sides' TCP facts.
#[derive(Debug, Clone, Serialize)]
pub struct Sides {
    /// The client's half.
    pub client: HalfFacts,
    /// The server's half.
    pub server: HalfFacts,
}

impl Sides {
    /// One side's facts.
    pub fn get(&self, side: Side) -> &HalfFacts {
        match side {
            Side::Client => &self.client,
            Side::Server => &self.server,
        }
    }
}

/// A keepalive inferred from the client's PINGREQ cadence.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct InferredKeepalive {
    /// The typical interval between PINGREQs, seconds.
    pub seconds: f64,
    /// How much the intervals vary, seconds.
    pub spread: f64,
}

/// One TCP connection and what it carried.
#[derive(Debug, Clone, Serialize)]
pub struct Connection {
    /// Index in the analysis, in order of first frame.
    pub id: usize,
    /// Client endpoint.
    #[serde(serialize_with = "addr")]
    pub client: SocketAddr,
    /// Server endpoint.
    #[serde(serialize_with = "addr")]
    pub server: SocketAddr,
    /// CONNECT's client identifier.
    pub client_id: Option<String>,
    /// The CONNECT frame.
    pub connect: Option<FrameRef>,
    /// MQTT version from CONNECT.
    pub protocol: Option<Version>,
    /// Keepalive from CONNECT, seconds.
    pub keepalive: Option<u16>,
    /// Clean session / clean start.
    pub clean_session: Option<bool>,
    /// A will message was registered.
    pub will: Option<bool>,
    /// CONNECT carried a user name.
    pub has_username: bool,
    /// CONNECT carried a password (its value is never kept).
    pub has_password: bool,
    /// The user name, only with `--show-usernames`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// What carried MQTT: `tcp` or `tls`.
    pub transport: TransportKind,
    /// MQTT over TLS (`transport` is `tls`).
    pub encrypted: bool,
    /// How the MQTT facts were seen: `plaintext`, or `inferred` from TLS record sizes.
    pub basis: Basis,
    /// The TLS facts, for a TLS connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<Box<TlsFacts>>,
    /// The WebSocket facts, for MQTT over WebSocket (`ws` or `wss`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ws: Option<Box<WsFacts>>,
    /// The keepalive inferred from the PINGREQ cadence when CONNECT could not be read (boxed:
    /// most records read their CONNECT).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keepalive_inferred: Option<Box<InferredKeepalive>>,
    /// First packet time.
    pub start: Timestamp,
    /// Last packet time.
    pub end: Timestamp,
    /// end − start, seconds.
    pub duration: Span,
    /// First frame number.
    pub first_frame: u64,
    /// Last frame number.
    pub last_frame: u64,
    /// The capture holds the SYN.
    pub syn_seen: bool,
    /// The handshake frames.
    pub handshake: Handshake,
    /// MQTT packets by type.
    pub packets: PacketCounts,
    /// PUBLISH payload bytes, both directions.
    pub published_bytes: u64,
    /// Retransmitted segments, both directions.
    pub retransmissions: u64,
    /// Who sent FIN or RST first; null while open.
    pub tcp_end: Option<TcpEnd>,
    /// Per side TCP facts.
    pub tcp: Sides,
    /// The CONNACK.
    pub connack: Option<ConnAckFacts>,
    /// The first DISCONNECT.
    pub disconnect: Option<DisconnectFacts>,
    /// The client's last MQTT packet.
    pub last_client_packet: Option<FrameRef>,
    /// The server's last MQTT packet.
    pub last_server_packet: Option<FrameRef>,
    /// Client packets that came later than the keepalive allows.
    pub keepalive_misses: Vec<KeepaliveMiss>,
    /// PINGREQs never answered by a PINGRESP.
    pub unanswered_pingreqs: Vec<FrameRef>,
    /// Read as MQTT on a port not named MQTT without a CONNECT: kept only if its server
    /// carried MQTT on another connection.
    #[serde(skip)]
    pub unconfirmed: bool,
    /// The flow was evicted from a full flow table (`--max-flows`): what came after its
    /// last frame here was not followed.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub evicted: bool,
    /// The longest quiet spell a client PINGREQ ended and the broker answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pinged_idle: Option<PingedIdle>,
    /// Idle gaps (no packet either way), the longest and the last.
    pub idle_gaps: Vec<IdleGap>,
    /// Anomalies, the first ones kept.
    pub anomalies: Vec<Entry>,
    /// All anomalies, counted.
    pub anomalies_total: u64,
    /// Timeline of packets and events (first and last entries); only with `--timeline`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub timeline: Vec<Entry>,
    /// Timeline entries dropped from the middle.
    pub timeline_omitted: u64,
}

fn addr<S: Serializer>(a: &SocketAddr, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(a)
}

impl Connection {
    /// Builds the record of a finished flow, with its idle gaps (handed over rather than
    /// read from `flow`, so that a retired flow's can be moved in, not copied).
    pub fn build(
        id: usize,
        flow: &Flow,
        mut idle_gaps: Vec<IdleGap>,
        session: Option<Session>,
        transport: TransportKind,
    ) -> Connection {
        idle_gaps.shrink_to_fit();
        let [client_half, server_half] = flow.sides.clone();
        let tcp_end = tcp_end(&client_half, &server_half);
        let mut c = Connection {
            id,
            client: flow.client,
            server: flow.server,
            client_id: None,
            connect: None,
            protocol: None,
            keepalive: None,
            clean_session: None,
            will: None,
            has_username: false,
            has_password: false,
            username: None,
            transport,
            encrypted: matches!(transport, TransportKind::Tls | TransportKind::Wss),
            basis: Basis::Plaintext,
            tls: None,
            ws: None,
            keepalive_inferred: None,
            start: flow.first.ts,
            end: flow.last.ts,
            duration: flow.last.ts - flow.first.ts,
            first_frame: flow.first.frame(),
            last_frame: flow.last.frame(),
            syn_seen: flow.syn_seen,
            handshake: flow.handshake,
            packets: PacketCounts::default(),
            published_bytes: 0,
            retransmissions: client_half.retransmissions + server_half.retransmissions,
            tcp_end,
            tcp: Sides {
                client: client_half,
                server: server_half,
            },
            connack: None,
            disconnect: None,
            last_client_packet: None,
            last_server_packet: None,
            keepalive_misses: Vec::new(),
            unanswered_pingreqs: Vec::new(),
            pinged_idle: None,
            unconfirmed: false,
            evicted: false,
            idle_gaps,
            anomalies: Vec::new(),
            anomalies_total: 0,
            timeline: Vec::new(),
            timeline_omitted: 0,
        };
        if let Some(s) = session {
            c.absorb(s);
        }
        c
    }

    fn absorb(&mut self, s: Session) {
        let f = s.facts;
        if let Some((at, connect)) = f.connect {
            self.connect = Some(at);
            self.client_id = Some(connect.client_id);
            self.protocol = Some(connect.version);
            self.keepalive = Some(connect.keepalive);
            self.clean_session = Some(connect.clean_session);
            self.will = Some(connect.will);
            self.has_username = connect.has_username;
            self.has_password = connect.has_password;
            self.username = connect.username;
        }
        self.keepalive_inferred = infer_keepalive(&f.inferred_pingreqs)
            .map(|(seconds, spread)| Box::new(InferredKeepalive { seconds, spread }));
        if self.connect.is_none() {
            self.connect = f.inferred_connect;
        }
        self.packets = f.counts;
        self.published_bytes = f.published_bytes;
        self.connack = f.connack;
        self.disconnect = f.disconnect;
        self.last_client_packet = f.last_packet[Side::Client.idx()];
        self.last_server_packet = f.last_packet[Side::Server.idx()];
        self.keepalive_misses = f.misses;
        self.unanswered_pingreqs = f.outstanding_pings.into_iter().collect();
        self.pinged_idle = f.longest_pinged_idle;
        self.anomalies = f
            .anomalies
            .into_iter()
            .map(|(at, side, a)| Entry {
                at,
                side,
                what: super::What::Anomaly(a),
            })
            .collect();
        self.anomalies_total = f.anomalies_total;
        self.timeline_omitted = f.timeline.omitted();
        self.timeline = f.timeline.into_entries();
    }

    /// The named anomalies of this connection.
    pub fn anomaly_kinds(&self) -> impl Iterator<Item = (&Entry, &Anomaly)> {
        self.anomalies.iter().filter_map(|e| match &e.what {
            super::What::Anomaly(a) => Some((e, a)),
            _ => None,
        })
    }

    /// Takes the TLS facts of a connection: decrypted, its MQTT facts were read as in
    /// plaintext; otherwise they are inferred, and its keepalive comes from the PINGREQ
    /// cadence.
    pub fn absorb_tls(&mut self, tls: Option<TlsFacts>) {
        let Some(tls) = tls else { return };
        let decrypted = tls
            .decryption
            .is_some_and(|d| d.status == DecryptStatus::Decrypted);
        self.basis = if decrypted {
            Basis::Decrypted
        } else {
            Basis::Inferred
        };
        self.tls = Some(Box::new(tls));
    }

    /// The keepalive in force: from CONNECT, else as inferred (rounded to whole seconds).
    pub fn keepalive_secs(&self) -> Option<u16> {
        self.keepalive.or_else(|| {
            self.keepalive_inferred
                .as_ref()
                .map(|k| k.seconds.round().clamp(0.0, f64::from(u16::MAX)) as u16)
        })
    }

    /// A connection from 10.0.0.2:40000 to 10.0.0.1:1883 that connected at t=0 (frame 4,
    /// CONNACK frame 5) with keepalive `ka` and did nothing else: for unit tests.
    #[cfg(test)]
    pub(crate) fn sample(ka: u16) -> Connection {
        use crate::evidence::frame_at as at;
        Connection {
            id: 0,
            client: "10.0.0.2:40000".parse().unwrap(),
            server: "10.0.0.1:1883".parse().unwrap(),
            client_id: Some("dev".into()),
            connect: Some(at(4, 0.0)),
            protocol: Some(Version::V311),
            keepalive: Some(ka),
            clean_session: Some(true),
            will: Some(false),
            has_username: false,
            has_password: false,
            username: None,
            transport: TransportKind::Tcp,
            encrypted: false,
            basis: Basis::Plaintext,
            tls: None,
            ws: None,
            keepalive_inferred: None,
            start: Timestamp(0),
            end: Timestamp(0),
            duration: Span(0),
            first_frame: 1,
            last_frame: 5,
            syn_seen: true,
            handshake: Handshake::default(),
            packets: PacketCounts::default(),
            published_bytes: 0,
            retransmissions: 0,
            tcp_end: None,
            tcp: Sides {
                client: HalfFacts::default(),
                server: HalfFacts::default(),
            },
            connack: Some(ConnAckFacts {
                at: at(5, 0.01),
                code: 0,
                session_present: false,
            }),
            disconnect: None,
            last_client_packet: Some(at(4, 0.0)),
            last_server_packet: Some(at(5, 0.01)),
            keepalive_misses: vec![],
            unanswered_pingreqs: vec![],
            pinged_idle: None,
            unconfirmed: false,
            evicted: false,
            idle_gaps: vec![],
            anomalies: vec![],
            anomalies_total: 0,
            timeline: vec![],
            timeline_omitted: 0,
        }
    }

    /// One side's TCP facts.
    pub fn half(&self, side: Side) -> &HalfFacts {
        self.tcp.get(side)
    }

    /// A side's announced close: its TLS close_notify or its WebSocket Close frame,
    /// whichever came first.
    pub fn announced_close(&self, side: Side) -> Option<FrameRef> {
        let tls = self
            .tls
            .as_ref()
            .and_then(|t| t.close_notify.get(side).as_ref().map(|n| n.at));
        let ws = self.ws_close(side).map(|c| c.at);
        tls.into_iter().chain(ws).min_by_key(|at| at.frame())
    }

    /// A side's first WebSocket Close frame.
    pub fn ws_close(&self, side: Side) -> Option<&CloseFact> {
        self.ws.as_ref()?.closes.get(side).as_ref()
    }

    /// How the connection was ended as the endpoints meant it: its first FIN or RST, except
    /// that over TLS and WebSocket an endpoint announces its close (close_notify, a Close
    /// frame) before its FIN and the peer may FIN first in reply, so an announced close sent
    /// before the other side's FIN/RST is the close.
    pub fn close(&self) -> Option<TcpEnd> {
        let end = self.tcp_end?;
        let notify = [Side::Client, Side::Server]
            .into_iter()
            .filter_map(|s| self.announced_close(s).map(|at| (s, at)))
            .min_by_key(|(_, at)| at.frame());
        Some(match notify {
            Some((by, at)) if by != end.by && at.frame() < end.at.frame() => TcpEnd {
                kind: TcpEndKind::Fin,
                by,
                at,
            },
            _ => end,
        })
    }

    /// When the connection ended: its first FIN or RST, else its last packet.
    pub fn drop_time(&self) -> Timestamp {
        self.tcp_end.map_or(self.end, |e| e.at.ts)
    }
}

fn tcp_end(client: &HalfFacts, server: &HalfFacts) -> Option<TcpEnd> {
    let mut ends = Vec::with_capacity(4);
    for (side, half) in [(Side::Client, client), (Side::Server, server)] {
        if let Some(at) = half.fin {
            ends.push(TcpEnd {
                kind: TcpEndKind::Fin,
                by: side,
                at,
            });
        }
        if let Some(r) = half.rst.as_deref() {
            ends.push(TcpEnd {
                kind: TcpEndKind::Rst,
                by: side,
                at: r.at,
            });
        }
    }
    ends.into_iter().min_by_key(|e| e.at.frame())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packet_counts_widen_past_32_bits_and_keep_every_count() {
        let mut counts = PacketCounts::default();
        counts.add(PacketKind::PingReq);
        counts.narrow[PacketKind::Publish as usize] = u32::MAX - 1;
        counts.add(PacketKind::Publish);
        assert!(counts.wide.is_none());
        counts.add(PacketKind::Publish);
        counts.add(PacketKind::Publish);
        assert!(counts.wide.is_some());
        assert_eq!(counts.get(PacketKind::Publish), u64::from(u32::MAX) + 2);
        assert_eq!(counts.get(PacketKind::PingReq), 1);
        assert_eq!(counts.get(PacketKind::Connect), 0);
        assert_eq!(counts.total(), u64::from(u32::MAX) + 3);
        counts.add(PacketKind::PingReq);
        assert_eq!(counts.get(PacketKind::PingReq), 2);
    }
}
