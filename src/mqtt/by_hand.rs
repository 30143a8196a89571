//! Packets decoded from the slice by hand, each with the reason mqttbytes-ng is not used.
//!
//! Functions take the packet body (the bytes after the fixed header) and whether the packet
//! is MQTT 5.0, and return the packet or the reason it is malformed.

use super::packet::{Connect, Packet, PacketKind, Version};
use super::raw::{Fault, Reader};

/// CONNECT. mqttbytes-ng refuses MQTT 3.1 (`MQIsdp`, level 3) and bridge levels (0x83/0x84),
/// insists the binary password is UTF-8, copies password and will payload into owned
/// buffers, and drops the User Name flag when the name is empty.
pub(super) fn connect(body: &[u8]) -> Result<Packet, Fault> {
    let mut r = Reader::new(body);
    let version = protocol(r.binary()?, r.u8()?)?;
    let v5 = version == Version::V5;
    let flags = r.u8()?;
    let keepalive = r.u16()?;
    if v5 {
        r.properties()?;
    }
    let client_id = r.string("client id not UTF-8")?.to_owned();
    let will = flags & 0x04 != 0;
    if will {
        if v5 {
            r.properties()?;
        }
        r.binary()?; // will topic
        r.binary()?; // will payload
    }
    let has_username = flags & 0x80 != 0;
    let has_password = flags & 0x40 != 0;
    let username = if has_username {
        Some(r.string("user name not UTF-8")?.to_owned())
    } else {
        None
    };
    if has_password {
        r.binary()?; // skipped: the password is never copied anywhere
    }
    Ok(Packet::Connect(Connect {
        version,
        client_id,
        keepalive,
        clean_session: flags & 0x02 != 0,
        will,
        has_username,
        has_password,
        username,
    }))
}

/// The version named by a CONNECT's protocol name and level. Bridges (mosquitto
/// `try_private`) set bit 7 of the level, which says nothing about the wire format.
fn protocol(name: &[u8], level: u8) -> Result<Version, Fault> {
    match (name, level & 0x7F) {
        (b"MQIsdp", 3) => Ok(Version::V31),
        (b"MQTT", 4) => Ok(Version::V311),
        (b"MQTT", 5) => Ok(Version::V5),
        (b"MQIsdp" | b"MQTT", _) => Err("unsupported protocol level"),
        _ => Err("unknown protocol name"),
    }
}

/// CONNACK. mqttbytes-ng refuses return codes it has no name for (3.x codes above 5, new 5.0
/// codes); dropscope keeps the raw code.
pub(super) fn connack(body: &[u8], v5: bool) -> Result<Packet, Fault> {
    let mut r = Reader::new(body);
    let flags = r.u8()?;
    let code = r.u8()?;
    exact_end_or_properties(&mut r, v5)?;
    Ok(Packet::ConnAck {
        session_present: flags & 0x01 != 0,
        code,
    })
}

/// PUBLISH: the hot path. mqttbytes-ng would need a `BytesMut` copy of the whole packet
/// (payload included) and decode every property; this reads the topic and packet id from
/// the slice, steps over the properties, and only counts the payload. The topic is copied
/// out only if `keep_topic`.
pub(super) fn publish(byte1: u8, body: &[u8], v5: bool, keep_topic: bool) -> Result<Packet, Fault> {
    let mut r = Reader::new(body);
    let qos = (byte1 >> 1) & 0b11;
    let topic = r.checked_string("topic not UTF-8")?;
    let packet_id = match qos {
        0 => None,
        _ => Some(r.u16()?),
    };
    if v5 {
        r.properties()?;
    }
    Ok(Packet::Publish {
        topic: if keep_topic {
            String::from_utf8_lossy(topic).into_owned()
        } else {
            String::new()
        },
        qos,
        retain: byte1 & 0x01 != 0,
        dup: byte1 & 0x08 != 0,
        packet_id,
        // The remaining length is at most 268,435,455, so this never saturates.
        payload_len: u32::try_from(r.remaining()).unwrap_or(u32::MAX),
    })
}

/// PUBACK, PUBREC, PUBREL and PUBCOMP: hot path too, and mqttbytes-ng refuses unknown 5.0
/// reason codes. In 5.0 an omitted reason code means 0x00.
pub(super) fn pub_ack(kind: PacketKind, body: &[u8], v5: bool) -> Result<Packet, Fault> {
    let mut r = Reader::new(body);
    let packet_id = r.u16()?;
    let reason = optional_reason(&mut r, v5)?;
    exact_end_or_properties(&mut r, v5)?;
    Ok(match kind {
        PacketKind::PubAck => Packet::PubAck { packet_id, reason },
        PacketKind::PubRec => Packet::PubRec { packet_id, reason },
        PacketKind::PubRel => Packet::PubRel { packet_id, reason },
        _ => Packet::PubComp { packet_id, reason },
    })
}

/// SUBACK. mqttbytes-ng maps codes to enums and refuses those it does not know; dropscope
/// keeps every code raw (0x80 and, in 5.0, every code >= 0x80 is a refusal).
pub(super) fn suback(body: &[u8], v5: bool) -> Result<Packet, Fault> {
    let mut r = Reader::new(body);
    let packet_id = r.u16()?;
    if v5 {
        r.properties()?;
    }
    let codes = r.rest().to_vec();
    if codes.is_empty() {
        return Err("no return codes");
    }
    Ok(Packet::SubAck { packet_id, codes })
}

/// UNSUBACK: two bytes dropscope needs; the 5.0 reason codes after them are not kept.
pub(super) fn unsuback(body: &[u8], v5: bool) -> Result<Packet, Fault> {
    let mut r = Reader::new(body);
    let packet_id = r.u16()?;
    if !v5 && !r.is_empty() {
        return Err("bad remaining length");
    }
    Ok(Packet::UnsubAck { packet_id })
}

/// PINGREQ and PINGRESP: nothing after the fixed header.
pub(super) fn ping(kind: PacketKind, body: &[u8]) -> Result<Packet, Fault> {
    if !body.is_empty() {
        return Err("bad remaining length");
    }
    Ok(match kind {
        PacketKind::PingReq => Packet::PingReq,
        _ => Packet::PingResp,
    })
}

/// DISCONNECT. mqttbytes-ng refuses unknown 5.0 reason codes, a reason code without a property
/// length, and properties it does not expect; the reason and its string are what
/// dropscope needs most from a close.
pub(super) fn disconnect(body: &[u8], v5: bool) -> Result<Packet, Fault> {
    let mut r = Reader::new(body);
    let reason = optional_reason(&mut r, v5)?;
    let reason_string = match (v5, trailing_properties(&mut r)?) {
        (true, Some(properties)) => properties.reason_string()?,
        _ => None,
    };
    Ok(Packet::Disconnect {
        reason,
        reason_string,
    })
}

/// AUTH. mqttbytes-ng's `v5::Packet::read` does not know type 15 at all, and `Auth::read`
/// miscounts string property lengths and refuses a reason code without a property length.
pub(super) fn auth(body: &[u8]) -> Result<Packet, Fault> {
    let mut r = Reader::new(body);
    let reason = optional_reason(&mut r, true)?;
    exact_end_or_properties(&mut r, true)?;
    Ok(Packet::Auth { reason })
}

/// The optional 5.0 reason code after a packet id (or alone, for DISCONNECT and AUTH); 0x00
/// when omitted. `None` in 3.x, where nothing may follow.
fn optional_reason(r: &mut Reader<'_>, v5: bool) -> Result<Option<u8>, Fault> {
    if !v5 {
        return if r.is_empty() {
            Ok(None)
        } else {
            Err("bad remaining length")
        };
    }
    let reason = if r.is_empty() { 0x00 } else { r.u8()? };
    Ok(Some(reason))
}

/// In 3.x the packet must end here; in 5.0 a property block may follow, and then the end.
fn exact_end_or_properties(r: &mut Reader<'_>, v5: bool) -> Result<(), Fault> {
    match (v5, r.is_empty()) {
        (_, true) => Ok(()),
        (true, false) => trailing_properties(r).map(drop),
        (false, false) => Err("bad remaining length"),
    }
}

/// A 5.0 property block ending the packet, if any bytes are left.
fn trailing_properties<'a>(r: &mut Reader<'a>) -> Result<Option<Reader<'a>>, Fault> {
    if r.is_empty() {
        return Ok(None);
    }
    let properties = r.properties()?;
    if r.is_empty() {
        Ok(Some(properties))
    } else {
        Err("bytes after properties")
    }
}
