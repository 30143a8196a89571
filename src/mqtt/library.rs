//! Packets mqttbytes-ng decodes well: SUBSCRIBE and UNSUBSCRIBE, which are rare, so its
//! copy of the packet into `Bytes` costs nothing that matters.

use bytes::Bytes;
use mqttbytes_ng::{Error, v4, v5};

use super::packet::Packet;
use super::raw::Fault;

/// SUBSCRIBE: packet id and (filter, requested QoS) pairs. `header_len` is the fixed header's size.
pub(super) fn subscribe(packet: &[u8], header_len: usize, v5: bool) -> Result<Packet, Fault> {
    let bytes = Bytes::copy_from_slice(packet);
    let remaining = packet.len() - header_len;
    let (packet_id, topics) = if v5 {
        let header = v5::FixedHeader::new(packet[0], header_len - 1, remaining);
        let s = v5::Subscribe::read(header, bytes).map_err(fault)?;
        let topics = s.filters.into_iter().map(|f| (f.path, f.qos as u8));
        (s.pkid, topics.collect())
    } else {
        let header = mqttbytes_ng::FixedHeader::new(packet[0], header_len - 1, remaining);
        let s = v4::Subscribe::read(header, bytes).map_err(fault)?;
        let topics = s.filters.into_iter().map(|f| (f.path, f.qos as u8));
        (s.pkid, topics.collect())
    };
    Ok(Packet::Subscribe { packet_id, topics })
}

/// UNSUBSCRIBE: packet id and topic filters. `header_len` is the fixed header's size.
pub(super) fn unsubscribe(packet: &[u8], header_len: usize, v5: bool) -> Result<Packet, Fault> {
    let bytes = Bytes::copy_from_slice(packet);
    let remaining = packet.len() - header_len;
    let (packet_id, topics) = if v5 {
        let header = v5::FixedHeader::new(packet[0], header_len - 1, remaining);
        let u = v5::Unsubscribe::read(header, bytes).map_err(fault)?;
        (u.pkid, u.filters)
    } else {
        let header = mqttbytes_ng::FixedHeader::new(packet[0], header_len - 1, remaining);
        let u = v4::Unsubscribe::read(header, bytes).map_err(fault)?;
        (u.pkid, u.topics)
    };
    if topics.is_empty() {
        return Err("no topic filters");
    }
    Ok(Packet::Unsubscribe { packet_id, topics })
}

/// Names an mqttbytes-ng error the way dropscope's own decoders do.
fn fault(error: Error) -> Fault {
    match error {
        Error::TopicNotUtf8 => "topic filter not UTF-8",
        Error::InvalidQoS(_) => "bad requested QoS",
        Error::EmptySubscription => "no topic filters",
        Error::BoundaryCrossed(_) => "string overruns packet",
        Error::InvalidPropertyType(_) => "unknown property",
        Error::InvalidRetainForwardRule(_) => "bad retain handling option",
        Error::MalformedPacket | Error::InsufficientBytes(_) => "packet too short",
        _ => "malformed packet",
    }
}
