//! Finding packet boundaries in a byte stream, before any decoding.

use super::raw::varint;

/// Outcome of looking for one MQTT control packet at the start of `buf`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// A whole packet of `len` bytes (fixed header included) is at the start of `buf`.
    Whole {
        /// Packet length, fixed header included.
        len: usize,
    },
    /// Not enough bytes yet; at least `needed` more are required (1 if unknown).
    NeedMore {
        /// Lower bound on the bytes still missing.
        needed: usize,
    },
    /// A valid fixed header whose remaining length exceeds the cap: the caller skips `len`
    /// bytes (fixed header included), which may be more than it has.
    TooBig {
        /// Packet length, fixed header included.
        len: usize,
    },
    /// Not an MQTT fixed header: reserved type 0, wrong flag bits for the type, or a
    /// remaining length whose 4th byte still has the continuation bit set.
    Malformed,
}

/// Looks for one packet at the start of `buf`, refusing remaining lengths above `max_len`.
///
/// Never allocates, whatever length the header claims. Type 15 (AUTH) is accepted because
/// framing does not know the version; `decode` refuses it in a 3.x connection.
pub fn frame(buf: &[u8], max_len: usize) -> Framing {
    let Some(&byte1) = buf.first() else {
        return Framing::NeedMore { needed: 2 };
    };
    // A PUBLISH with QoS 3 is framed like any other: its length is sound, so the stream
    // keeps its place and `decode` names the fault.
    if !flags_valid(byte1) && !is_publish_qos3(byte1) {
        return Framing::Malformed;
    }
    // mqttbytes-ng's `check` frames well and allocates nothing; it only misses type and
    // flag validation (done above) and hides the header length (needed for `TooBig`).
    match mqttbytes_ng::check(buf.iter(), max_len) {
        Ok(header) => Framing::Whole {
            len: header.frame_length(),
        },
        Err(mqttbytes_ng::Error::InsufficientBytes(needed)) => Framing::NeedMore {
            needed: needed.max(1),
        },
        Err(mqttbytes_ng::Error::PayloadSizeLimitExceeded(remaining)) => match fixed_header(buf) {
            Some((header_len, _)) => Framing::TooBig {
                len: header_len + remaining,
            },
            None => Framing::Malformed,
        },
        Err(_) => Framing::Malformed,
    }
}

/// Whether `buf` plausibly starts an MQTT packet, to find the next packet after a capture hole.
///
/// Requires a valid fixed header whose remaining length fits the type, and for CONNECT the
/// protocol name and level; bytes past the checked ones need not be in `buf`.
pub fn plausible_start(buf: &[u8]) -> bool {
    let Some((header_len, remaining)) = fixed_header(buf) else {
        return false;
    };
    let byte1 = buf[0];
    flags_valid(byte1) && plausible_body(byte1, remaining, &buf[header_len..])
}

/// Whether `buf`, too short to hold a whole fixed header, may be the start of one: a
/// legal first byte and a remaining length not yet complete.
pub fn may_start(buf: &[u8]) -> bool {
    !buf.is_empty() && buf.len() < 5 && flags_valid(buf[0]) && fixed_header(buf).is_none()
}

/// Whether the flag bits of the first header byte are legal for its packet type.
pub(super) fn flags_valid(byte1: u8) -> bool {
    let flags = byte1 & 0x0F;
    match byte1 >> 4 {
        0 => false,
        // PUBLISH: any DUP/RETAIN, but QoS 3 does not exist.
        3 => flags & 0b0110 != 0b0110,
        // PUBREL, SUBSCRIBE, UNSUBSCRIBE: 0b0010. MQTT 3.1 clients may also set DUP on a resend.
        6 | 8 | 10 => flags & 0b0111 == 0b0010,
        _ => flags == 0,
    }
}

/// A PUBLISH whose QoS bits say 3, which does not exist.
pub(super) fn is_publish_qos3(byte1: u8) -> bool {
    byte1 >> 4 == 3 && byte1 & 0b0110 == 0b0110
}

/// Parses the fixed header: `(header length, remaining length)`, `None` if incomplete or bad.
pub(super) fn fixed_header(buf: &[u8]) -> Option<(usize, usize)> {
    let (remaining, used) = varint(buf.get(1..)?).ok()??;
    Some((1 + used, remaining))
}

/// Whether a remaining length (and the first body bytes present) fit the packet type.
fn plausible_body(byte1: u8, remaining: usize, body: &[u8]) -> bool {
    match byte1 >> 4 {
        1 => plausible_connect(remaining, body),
        // CONNACK: flags and code (3.x), plus properties (5.0); only bit 0 of the flags is used.
        2 => remaining >= 2 && body.first().is_none_or(|&flags| flags <= 1),
        3 => plausible_publish(byte1, remaining, body),
        // PUBACK family and UNSUBACK: exactly 2 in 3.x, at least 2 in 5.0.
        4..=7 | 11 => remaining >= 2,
        // SUBSCRIBE: id, one non-empty filter, options. SUBACK: id, one code.
        8 => remaining >= 6,
        9 => remaining >= 3,
        // UNSUBSCRIBE: id, one non-empty filter.
        10 => remaining >= 5,
        12 | 13 => remaining == 0,
        // AUTH: empty, or a defined reason code and a property length.
        15 => {
            remaining == 0
                || (remaining >= 2 && body.first().is_none_or(|c| matches!(c, 0x00 | 0x18 | 0x19)))
        }
        // DISCONNECT: empty in 3.x, anything in 5.0.
        _ => true,
    }
}

/// A CONNECT must start with a known protocol name and level, and hold at least a client id length.
fn plausible_connect(remaining: usize, body: &[u8]) -> bool {
    let (name_len, levels): (usize, &[u8]) = if body.starts_with(b"\x00\x04MQTT") {
        (6, &[4, 5])
    } else if body.starts_with(b"\x00\x06MQIsdp") {
        (8, &[3])
    } else {
        return false;
    };
    // name, level, flags, keepalive (2), client id length (2)
    let level_ok = body
        .get(name_len)
        .is_some_and(|l| levels.contains(&(l & 0x7F)));
    level_ok && remaining >= name_len + 6
}

/// A PUBLISH must hold its topic length, topic and (QoS > 0) packet id.
fn plausible_publish(byte1: u8, remaining: usize, body: &[u8]) -> bool {
    let id_len = if byte1 & 0b0110 == 0 { 0 } else { 2 };
    let topic_len = match body {
        [hi, lo, ..] => usize::from(u16::from_be_bytes([*hi, *lo])),
        _ => 0,
    };
    remaining >= 2 + topic_len + id_len
}

/// Whether a payload starts with an MQTT CONNECT (fixed header 0x10, then the protocol
/// name "MQTT" or "MQIsdp" after the remaining length): a client's first words, which
/// settle the roles of a connection whose SYN is not in the capture.
pub fn looks_like_connect(payload: &[u8]) -> bool {
    if payload.first() != Some(&0x10) {
        return false;
    }
    let varint = payload[1..].iter().take(4).position(|b| b & 0x80 == 0);
    let Some(i) = varint else { return false };
    let rest = &payload[(2 + i).min(payload.len())..];
    rest.starts_with(b"\x00\x04MQTT") || rest.starts_with(b"\x00\x06MQIsdp")
}
