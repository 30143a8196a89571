//! IP and TCP: check the headers and derive the on-the-wire payload length.
//!
//! Slicing is etherparse's lax kind, so a snaplen-cut packet still yields its headers; the
//! length bookkeeping on top of it (what the wire carried versus what was captured) is ours.

use etherparse::err::{ip, ipv6_exts, tcp};
use etherparse::{IpNumber, LaxIpSlice, TcpSlice};
use std::net::IpAddr;

use super::link::{IpVersion, Network};
use super::{Segment, Skip, TcpFlags};

/// Length of the fixed IPv6 header.
const IPV6_HEADER_LEN: usize = 40;

/// Checks the IP and TCP headers in `network` and builds the segment. Inlined with `build`
/// into `decode`, so the segment is built where it is returned instead of copied out of
/// each call (50 instructions a frame, 3 % of a run, counted by cachegrind).
#[inline(always)]
pub(super) fn segment(network: Network<'_>, caplen_cut: bool) -> Result<Segment<'_>, Skip> {
    if !caplen_cut
        && network.version != IpVersion::V6
        && let Some(segment) = plain_ipv4(network.bytes, network.vlan)
    {
        return Ok(segment);
    }
    sliced(network, caplen_cut)
}

/// The common shape read at fixed offsets: an uncut IPv4 datagram without options or
/// fragmentation, carrying a whole TCP header, its length field within the captured bytes.
/// `Some` only where [`sliced`] builds the very same segment, which the tests check on
/// mutated and random bytes; anything else is `None`, left to [`sliced`].
///
/// By hand because etherparse's general slicing (extension headers, lax lengths, error
/// kinds) is most of a frame's decoding cost, about 270 instructions where this shape
/// needs 60, and nearly every frame of an MQTT capture has this shape.
#[inline(always)]
pub(super) fn plain_ipv4(ip: &[u8], vlan: Option<u16>) -> Option<Segment<'_>> {
    let header: &[u8; 40] = ip.first_chunk()?;
    let total = usize::from(u16::from_be_bytes([header[2], header[3]]));
    let fragment = u16::from_be_bytes([header[6], header[7]]) & 0x3fff;
    let tcp_header_len = usize::from(header[32] >> 4) * 4;
    let plain = header[0] == 0x45
        && header[9] == 6
        && fragment == 0
        && total <= ip.len()
        && tcp_header_len >= 20
        && 20 + tcp_header_len <= total;
    if !plain {
        return None;
    }
    let at = |i: usize| [header[i], header[i + 1], header[i + 2], header[i + 3]];
    let payload = &ip[20 + tcp_header_len..total];
    Some(Segment {
        src: IpAddr::from(at(12)),
        dst: IpAddr::from(at(16)),
        src_port: u16::from_be_bytes([header[20], header[21]]),
        dst_port: u16::from_be_bytes([header[22], header[23]]),
        seq: u32::from_be_bytes(at(24)),
        ack: u32::from_be_bytes(at(28)),
        flags: TcpFlags(header[33]),
        window: u16::from_be_bytes([header[34], header[35]]),
        ttl: header[8],
        ip_id: Some(u16::from_be_bytes([header[4], header[5]])),
        payload,
        payload_len: payload.len() as u32,
        truncated: false,
        vlan,
    })
}

/// Checks the IP and TCP headers through etherparse's lax slicing and builds the segment:
/// every shape, IPv6 and cut frames among them.
#[inline(always)]
pub(super) fn sliced(network: Network<'_>, caplen_cut: bool) -> Result<Segment<'_>, Skip> {
    let bytes = network.bytes;
    check_version(bytes, network.version, caplen_cut)?;
    let (ip, ext_error) = LaxIpSlice::from_slice(bytes).map_err(|e| ip_error(e, caplen_cut))?;
    let wire_len = datagram_len(&ip, bytes.len(), caplen_cut)?;
    if let Some((error, _layer)) = ext_error {
        return Err(ext_header_error(error, wire_len > bytes.len()));
    }
    let ip_payload = ip.payload();
    if ip_payload.ip_number != IpNumber::TCP {
        return Err(Skip::NotTcp);
    }
    if ip_payload.fragmented {
        return Err(Skip::IpFragment);
    }
    let tcp_wire_len = wire_len
        .checked_sub(headers_len(&ip))
        .ok_or(Skip::Malformed)?;
    let tcp = TcpSlice::from_slice(ip_payload.payload).map_err(|e| tcp_error(e, tcp_wire_len))?;
    let payload_len = tcp_wire_len.saturating_sub(tcp.header_len());
    let payload_len = u32::try_from(payload_len).map_err(|_| Skip::Malformed)?;
    Ok(build(&ip, &tcp, payload_len, network.vlan))
}

/// The version nibble must be the one the link layer announced (any, for raw IP).
fn check_version(bytes: &[u8], expected: IpVersion, caplen_cut: bool) -> Result<(), Skip> {
    let first = bytes.first().ok_or(Skip::short_frame(caplen_cut))?;
    match (expected, first >> 4) {
        (IpVersion::V4, 4) | (IpVersion::V6, 6) | (IpVersion::Either, _) => Ok(()),
        _ => Err(Skip::Malformed),
    }
}

fn ip_error(error: ip::LaxHeaderSliceError, caplen_cut: bool) -> Skip {
    match error {
        ip::LaxHeaderSliceError::Len(_) => Skip::short_frame(caplen_cut),
        ip::LaxHeaderSliceError::Content(_) => Skip::Malformed,
    }
}

/// An IPv6 extension (or IPv4 authentication) header that did not parse: cut by the capture
/// if the datagram went on past the captured bytes, malformed otherwise.
fn ext_header_error(error: ipv6_exts::HeaderSliceError, capture_ended_early: bool) -> Skip {
    match error {
        ipv6_exts::HeaderSliceError::Len(_) if capture_ended_early => Skip::Truncated,
        _ => Skip::Malformed,
    }
}

/// A TCP header that did not parse: cut by the capture if the datagram had room for it on
/// the wire, malformed otherwise (data offset below 5, or beyond the datagram).
fn tcp_error(error: tcp::HeaderSliceError, tcp_wire_len: usize) -> Skip {
    match error {
        tcp::HeaderSliceError::Len(len) if len.required_len <= tcp_wire_len => Skip::Truncated,
        _ => Skip::Malformed,
    }
}

/// Length of the IP datagram on the wire, from its header's length field.
///
/// Zero is read as "unknown" (TSO on the capturing host, IPv6 jumbogram) and replaced by the
/// captured length, which is only right when the frame was not cut. A length beyond the
/// captured bytes of an uncut frame is a lie.
fn datagram_len(ip: &LaxIpSlice<'_>, captured: usize, caplen_cut: bool) -> Result<usize, Skip> {
    let declared = match ip {
        LaxIpSlice::Ipv4(v4) => usize::from(v4.header().total_len()),
        LaxIpSlice::Ipv6(v6) => match v6.header().payload_length() {
            0 => 0,
            len => IPV6_HEADER_LEN + usize::from(len),
        },
    };
    match declared {
        0 if !caplen_cut => Ok(captured),
        0 => Err(Skip::Malformed),
        len if len > captured && !caplen_cut => Err(Skip::Malformed),
        len => Ok(len),
    }
}

/// Length of the IP header and its extension headers, i.e. where TCP starts.
fn headers_len(ip: &LaxIpSlice<'_>) -> usize {
    match ip {
        LaxIpSlice::Ipv4(v4) => {
            let auth = v4.extensions().auth.map_or(0, |auth| auth.slice().len());
            v4.header().slice().len() + auth
        }
        LaxIpSlice::Ipv6(v6) => IPV6_HEADER_LEN + v6.extensions().slice().len(),
    }
}

#[inline(always)]
fn build<'a>(
    ip: &LaxIpSlice<'a>,
    tcp: &TcpSlice<'a>,
    payload_len: u32,
    vlan: Option<u16>,
) -> Segment<'a> {
    let (ttl, ip_id) = match ip {
        LaxIpSlice::Ipv4(v4) => (v4.header().ttl(), Some(v4.header().identification())),
        LaxIpSlice::Ipv6(v6) => (v6.header().hop_limit(), None),
    };
    let payload = tcp.payload();
    Segment {
        src: ip.source_addr(),
        dst: ip.destination_addr(),
        src_port: tcp.source_port(),
        dst_port: tcp.destination_port(),
        seq: tcp.sequence_number(),
        ack: tcp.acknowledgment_number(),
        flags: flags(tcp),
        window: tcp.window_size(),
        ttl,
        ip_id,
        payload,
        payload_len,
        truncated: payload.len() < payload_len as usize,
        vlan,
    }
}

/// The flags byte as it is on the wire: `TcpFlags` keeps the header's bit layout.
fn flags(tcp: &TcpSlice<'_>) -> TcpFlags {
    TcpFlags(tcp.slice().get(13).copied().unwrap_or_default())
}
