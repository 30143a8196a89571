//! MQTT 3.1, 3.1.1 and 5.0: framing a byte stream into control packets, and decoding each
//! packet into the few facts dropscope keeps ([`Packet`]).
//!
//! Framing comes first ([`frame`]): a whole packet, need more bytes, too big (skip it), or
//! malformed; [`plausible_start`] finds the next packet after a capture hole. [`decode`]
//! then reads one whole packet. Neither panics nor allocates more than the packet's size,
//! whatever lengths the bytes claim.
//!
//! # Which crate, and where it is not used
//! We use `mqttbytes-ng` 0.7, the maintained fork of `mqttbytes` 0.6 (last release 2022):
//! it decodes a bare MQTT 5 DISCONNECT (remaining length 0) that 0.6 rejects, and it has an
//! AUTH packet. Its `check` does the framing and it decodes SUBSCRIBE and UNSUBSCRIBE
//! (`library.rs`). Everything else is read by hand from the slice (`by_hand.rs`, each
//! function saying why): the crate refuses MQTT 3.1 `MQIsdp` CONNECTs, CONNACK codes above
//! 5 and unknown 5.0 reason codes (we keep raw values), cannot read AUTH through
//! `v5::Packet::read`, and needs an owned `BytesMut` copy of every packet, which is waste
//! on the hot path (PUBLISH and the PUBACK family). Its `v4` and `v5` modules are
//! separate types; a connection's [`Version`] picks one.

mod by_hand;
mod frame;
mod library;
mod packet;
mod raw;
mod stream;
#[cfg(test)]
mod tests;

pub use frame::{Framing, frame, looks_like_connect, may_start, plausible_start};
pub use packet::{Connect, Packet, PacketKind, Version};
pub use stream::{Found, MqttStream};

/// Why a whole packet could not be decoded. A data point to count, never a reason to stop.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The fixed header is unusable: reserved type 0, a bad remaining length, or a
    /// remaining length that disagrees with the packet's size.
    #[error("bad fixed header: {0}")]
    Header(&'static str),
    /// The type is known but the packet is malformed (e.g. "topic not UTF-8",
    /// "property overruns packet").
    #[error("malformed {kind}: {reason}")]
    Body {
        /// The packet's type, so callers can still count it.
        kind: PacketKind,
        /// What is wrong, in a few words.
        reason: &'static str,
    },
}

impl DecodeError {
    /// The packet's type, if the fixed header named one.
    pub fn kind(&self) -> Option<PacketKind> {
        match self {
            DecodeError::Header(_) => None,
            DecodeError::Body { kind, .. } => Some(*kind),
        }
    }
}

/// Decodes one whole packet, as delimited by [`frame`].
///
/// `version` is the connection's version once its CONNECT was seen. Before that (`None`) a
/// packet decodes as 3.1.1 unless it says otherwise: a CONNECT carries its own level, AUTH
/// exists only in 5.0, and acknowledgements or a DISCONNECT longer than 3.x allows are 5.0.
pub fn decode(packet: &[u8], version: Option<Version>) -> Result<Packet, DecodeError> {
    decode_as(packet, version, Topics::Keep)
}

/// Decodes one whole packet as [`decode`] does, except that a PUBLISH's topic is checked
/// (UTF-8) but not kept: its `topic` is empty. What the verdicts need, without an allocation
/// per message, when no view lists the packets.
pub fn decode_facts(packet: &[u8], version: Option<Version>) -> Result<Packet, DecodeError> {
    decode_as(packet, version, Topics::Check)
}

/// Whether a PUBLISH's topic is kept, or only checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Topics {
    Keep,
    Check,
}

fn decode_as(
    packet: &[u8],
    version: Option<Version>,
    topics: Topics,
) -> Result<Packet, DecodeError> {
    let (header_len, remaining) =
        frame::fixed_header(packet).ok_or(DecodeError::Header("bad remaining length"))?;
    if header_len + remaining != packet.len() {
        return Err(DecodeError::Header(
            "remaining length does not match packet size",
        ));
    }
    let byte1 = packet[0];
    let kind = PacketKind::from_type_nibble(byte1 >> 4)
        .ok_or(DecodeError::Header("reserved packet type 0"))?;
    let fail = |reason| DecodeError::Body { kind, reason };
    if frame::is_publish_qos3(byte1) {
        return Err(fail("QoS 3"));
    }
    if !frame::flags_valid(byte1) {
        return Err(fail("bad flags for packet type"));
    }
    let body = &packet[header_len..];
    let v5 = match version {
        Some(version) => version == Version::V5,
        None => looks_v5(kind, body.len()),
    };
    decode_kind(kind, packet, header_len, v5, topics).map_err(fail)
}

/// With no CONNECT seen, whether the packet's type and size can only be MQTT 5.0.
fn looks_v5(kind: PacketKind, body_len: usize) -> bool {
    match kind {
        PacketKind::Auth => true,
        PacketKind::ConnAck
        | PacketKind::PubAck
        | PacketKind::PubRec
        | PacketKind::PubRel
        | PacketKind::PubComp
        | PacketKind::UnsubAck => body_len > 2,
        PacketKind::Disconnect => body_len > 0,
        _ => false,
    }
}

/// Dispatches a checked packet to its decoder.
fn decode_kind(
    kind: PacketKind,
    packet: &[u8],
    header_len: usize,
    v5: bool,
    topics: Topics,
) -> Result<Packet, raw::Fault> {
    let body = &packet[header_len..];
    match kind {
        PacketKind::Connect => by_hand::connect(body),
        PacketKind::ConnAck => by_hand::connack(body, v5),
        PacketKind::Publish => by_hand::publish(packet[0], body, v5, topics == Topics::Keep),
        PacketKind::PubAck | PacketKind::PubRec | PacketKind::PubRel | PacketKind::PubComp => {
            by_hand::pub_ack(kind, body, v5)
        }
        PacketKind::Subscribe => library::subscribe(packet, header_len, v5),
        PacketKind::SubAck => by_hand::suback(body, v5),
        PacketKind::Unsubscribe => library::unsubscribe(packet, header_len, v5),
        PacketKind::UnsubAck => by_hand::unsuback(body, v5),
        PacketKind::PingReq | PacketKind::PingResp => by_hand::ping(kind, body),
        PacketKind::Disconnect => by_hand::disconnect(body, v5),
        PacketKind::Auth if v5 => by_hand::auth(body),
        PacketKind::Auth => Err("AUTH does not exist in MQTT 3.x"),
    }
}
