//! The decoded facts dropscope keeps about each control packet.

use serde::Serialize;

/// MQTT protocol version of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Version {
    /// MQTT 3.1: protocol name `MQIsdp`, level 3.
    #[serde(rename = "3.1")]
    V31,
    /// MQTT 3.1.1: protocol name `MQTT`, level 4.
    #[serde(rename = "3.1.1")]
    V311,
    /// MQTT 5.0: protocol name `MQTT`, level 5.
    #[serde(rename = "5.0")]
    V5,
}

impl Version {
    /// The version as reports name it ("3.1", "3.1.1", "5.0").
    pub fn name(self) -> &'static str {
        match self {
            Version::V31 => "3.1",
            Version::V311 => "3.1.1",
            Version::V5 => "5.0",
        }
    }
}

/// The fifteen MQTT control packet types, named by the 4-bit type in the fixed header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum PacketKind {
    /// Type 1: client asks to connect.
    Connect,
    /// Type 2: server answers CONNECT.
    ConnAck,
    /// Type 3: an application message.
    Publish,
    /// Type 4: QoS 1 acknowledgement.
    PubAck,
    /// Type 5: QoS 2, first acknowledgement.
    PubRec,
    /// Type 6: QoS 2, release.
    PubRel,
    /// Type 7: QoS 2, completion.
    PubComp,
    /// Type 8: subscription request.
    Subscribe,
    /// Type 9: subscription answer.
    SubAck,
    /// Type 10: unsubscription request.
    Unsubscribe,
    /// Type 11: unsubscription answer.
    UnsubAck,
    /// Type 12: keepalive probe.
    PingReq,
    /// Type 13: keepalive answer.
    PingResp,
    /// Type 14: orderly close (either direction in 5.0).
    Disconnect,
    /// Type 15: MQTT 5.0 extended authentication.
    Auth,
}

impl PacketKind {
    /// Every kind, in type-number order (index + 1 is the type nibble).
    pub const ALL: [PacketKind; 15] = [
        PacketKind::Connect,
        PacketKind::ConnAck,
        PacketKind::Publish,
        PacketKind::PubAck,
        PacketKind::PubRec,
        PacketKind::PubRel,
        PacketKind::PubComp,
        PacketKind::Subscribe,
        PacketKind::SubAck,
        PacketKind::Unsubscribe,
        PacketKind::UnsubAck,
        PacketKind::PingReq,
        PacketKind::PingResp,
        PacketKind::Disconnect,
        PacketKind::Auth,
    ];

    /// The kind for a fixed header's type nibble (1..=15); `None` for the reserved 0 or above 15.
    pub fn from_type_nibble(nibble: u8) -> Option<PacketKind> {
        let index = usize::from(nibble).checked_sub(1)?;
        PacketKind::ALL.get(index).copied()
    }

    /// The name the specification uses: `"CONNECT"`, `"CONNACK"`, … `"AUTH"`.
    pub fn name(self) -> &'static str {
        match self {
            PacketKind::Connect => "CONNECT",
            PacketKind::ConnAck => "CONNACK",
            PacketKind::Publish => "PUBLISH",
            PacketKind::PubAck => "PUBACK",
            PacketKind::PubRec => "PUBREC",
            PacketKind::PubRel => "PUBREL",
            PacketKind::PubComp => "PUBCOMP",
            PacketKind::Subscribe => "SUBSCRIBE",
            PacketKind::SubAck => "SUBACK",
            PacketKind::Unsubscribe => "UNSUBSCRIBE",
            PacketKind::UnsubAck => "UNSUBACK",
            PacketKind::PingReq => "PINGREQ",
            PacketKind::PingResp => "PINGRESP",
            PacketKind::Disconnect => "DISCONNECT",
            PacketKind::Auth => "AUTH",
        }
    }
}

impl std::fmt::Display for PacketKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What a CONNECT says about the client. Never holds the password, nor the will message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Connect {
    /// Version from the protocol name and level (the bridge bit 0x80 of the level ignored).
    pub version: Version,
    /// Client identifier; may be empty (the server then assigns one).
    pub client_id: String,
    /// Keepalive in seconds; 0 turns the keepalive mechanism off.
    pub keepalive: u16,
    /// Clean Session (3.x) or Clean Start (5.0) flag.
    pub clean_session: bool,
    /// Whether a will message was registered.
    pub will: bool,
    /// Whether the User Name flag was set (true even if the name is empty).
    pub has_username: bool,
    /// Whether the Password flag was set; the password itself is skipped, never copied.
    pub has_password: bool,
    /// The user name, if the flag was set. Output layers decide whether to show it.
    pub username: Option<String>,
}

/// One decoded control packet: the facts dropscope keeps. Never holds a password or payload bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "UPPERCASE")]
pub enum Packet {
    /// CONNECT.
    Connect(Connect),
    /// CONNACK.
    ConnAck {
        /// Session Present flag.
        session_present: bool,
        /// Raw return code (3.x) or reason code (5.0); values the specification does not
        /// define are kept as they are.
        code: u8,
    },
    /// PUBLISH. The payload is counted, not kept.
    Publish {
        /// Topic name; empty when an MQTT 5 publisher uses a topic alias instead.
        topic: String,
        /// QoS 0, 1 or 2.
        qos: u8,
        /// RETAIN flag.
        retain: bool,
        /// DUP flag (a redelivery).
        dup: bool,
        /// Packet identifier, present for QoS 1 and 2.
        packet_id: Option<u16>,
        /// Payload size in bytes: remaining length minus the variable header.
        payload_len: u32,
    },
    /// PUBACK (QoS 1 acknowledgement).
    PubAck {
        /// Packet identifier of the acknowledged PUBLISH.
        packet_id: u16,
        /// 5.0 reason code (0x00 when omitted); `None` in 3.x.
        reason: Option<u8>,
    },
    /// PUBREC (QoS 2, step 1).
    PubRec {
        /// Packet identifier of the PUBLISH.
        packet_id: u16,
        /// 5.0 reason code (0x00 when omitted); `None` in 3.x.
        reason: Option<u8>,
    },
    /// PUBREL (QoS 2, step 2).
    PubRel {
        /// Packet identifier of the PUBLISH.
        packet_id: u16,
        /// 5.0 reason code (0x00 when omitted); `None` in 3.x.
        reason: Option<u8>,
    },
    /// PUBCOMP (QoS 2, step 3).
    PubComp {
        /// Packet identifier of the PUBLISH.
        packet_id: u16,
        /// 5.0 reason code (0x00 when omitted); `None` in 3.x.
        reason: Option<u8>,
    },
    /// SUBSCRIBE.
    Subscribe {
        /// Packet identifier.
        packet_id: u16,
        /// (topic filter, requested QoS) pairs in packet order.
        topics: Vec<(String, u8)>,
    },
    /// SUBACK.
    SubAck {
        /// Packet identifier of the SUBSCRIBE.
        packet_id: u16,
        /// One raw code per filter: the granted QoS, or a failure (0x80, or >= 0x80 in 5.0).
        codes: Vec<u8>,
    },
    /// UNSUBSCRIBE.
    Unsubscribe {
        /// Packet identifier.
        packet_id: u16,
        /// Topic filters in packet order.
        topics: Vec<String>,
    },
    /// UNSUBACK.
    UnsubAck {
        /// Packet identifier of the UNSUBSCRIBE.
        packet_id: u16,
    },
    /// PINGREQ.
    PingReq,
    /// PINGRESP.
    PingResp,
    /// DISCONNECT.
    Disconnect {
        /// 5.0 reason code (a bare DISCONNECT means 0x00, normal disconnection); `None` in 3.x.
        reason: Option<u8>,
        /// 5.0 Reason String property, if sent.
        reason_string: Option<String>,
    },
    /// AUTH (5.0 only).
    Auth {
        /// Reason code: 0x00 success (also when omitted), 0x18 continue, 0x19 re-authenticate.
        /// Always `Some` for a decoded AUTH; optional for symmetry with the acknowledgements.
        reason: Option<u8>,
    },
}

impl Packet {
    /// The packet's type.
    pub fn kind(&self) -> PacketKind {
        match self {
            Packet::Connect(_) => PacketKind::Connect,
            Packet::ConnAck { .. } => PacketKind::ConnAck,
            Packet::Publish { .. } => PacketKind::Publish,
            Packet::PubAck { .. } => PacketKind::PubAck,
            Packet::PubRec { .. } => PacketKind::PubRec,
            Packet::PubRel { .. } => PacketKind::PubRel,
            Packet::PubComp { .. } => PacketKind::PubComp,
            Packet::Subscribe { .. } => PacketKind::Subscribe,
            Packet::SubAck { .. } => PacketKind::SubAck,
            Packet::Unsubscribe { .. } => PacketKind::Unsubscribe,
            Packet::UnsubAck { .. } => PacketKind::UnsubAck,
            Packet::PingReq => PacketKind::PingReq,
            Packet::PingResp => PacketKind::PingResp,
            Packet::Disconnect { .. } => PacketKind::Disconnect,
            Packet::Auth { .. } => PacketKind::Auth,
        }
    }
}
