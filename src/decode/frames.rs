//! Test frames: IP packets from etherparse's `PacketBuilder`, link headers by hand so every
//! field (TPIDs, ARPHRD types, address families) is under the test's control.

use etherparse::{PacketBuilder, TcpHeader};

/// Client side of the test connection.
pub const CLIENT: [u8; 4] = [192, 168, 1, 20];
/// Broker side of the test connection.
pub const BROKER: [u8; 4] = [10, 0, 0, 5];
/// IPv6 client address.
pub const CLIENT6: [u8; 16] = [
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x20,
];
/// IPv6 broker address.
pub const BROKER6: [u8; 16] = [
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x05,
];
/// IPv4 identification written into [`ipv4_tcp`] packets.
pub const IP_ID: u16 = 0x1234;

/// A PSH|ACK from port 51000 to 1883, seq 1000, ack 2000, window 4000.
pub fn tcp_header() -> TcpHeader {
    let mut tcp = TcpHeader::new(51000, 1883, 1000, 4000);
    tcp.acknowledgment_number = 2000;
    tcp.psh = true;
    tcp.ack = true;
    tcp
}

/// IPv4 (TTL 64, id [`IP_ID`]) + TCP.
pub fn ipv4_tcp(payload: &[u8]) -> Vec<u8> {
    ipv4_with(tcp_header(), payload)
}

/// IPv4 (TTL 64, id [`IP_ID`]) + the given TCP header.
pub fn ipv4_with(tcp: TcpHeader, payload: &[u8]) -> Vec<u8> {
    let mut packet = Vec::new();
    PacketBuilder::ipv4(CLIENT, BROKER, 64)
        .tcp_header(tcp)
        .write_to_vec(&mut packet, payload)
        .unwrap();
    packet[4..6].copy_from_slice(&IP_ID.to_be_bytes());
    packet
}

/// IPv6 (hop limit 50) + TCP.
pub fn ipv6_tcp(payload: &[u8]) -> Vec<u8> {
    let mut packet = Vec::new();
    PacketBuilder::ipv6(CLIENT6, BROKER6, 50)
        .tcp_header(tcp_header())
        .write_to_vec(&mut packet, payload)
        .unwrap();
    packet
}

/// IPv4 + UDP.
pub fn ipv4_udp(payload: &[u8]) -> Vec<u8> {
    let mut packet = Vec::new();
    PacketBuilder::ipv4(CLIENT, BROKER, 64)
        .udp(5353, 5353)
        .write_to_vec(&mut packet, payload)
        .unwrap();
    packet
}

/// Inserts an 8-byte IPv6 extension header of type `kind` right after the fixed header of
/// an IPv6 packet, with `body` as its last six bytes.
pub fn with_ipv6_ext(packet: &[u8], kind: u8, body: [u8; 6]) -> Vec<u8> {
    let (fixed, rest) = packet.split_at(40);
    let mut out = fixed.to_vec();
    let payload_length = u16::from_be_bytes([fixed[4], fixed[5]]) + 8;
    out[4..6].copy_from_slice(&payload_length.to_be_bytes());
    let next = std::mem::replace(&mut out[6], kind);
    out.extend_from_slice(&[next, 0]);
    out.extend_from_slice(&body);
    out.extend_from_slice(rest);
    out
}

/// An Ethernet II frame with the given VLAN tags `(tpid, id)`, outermost first.
pub fn ethernet(ether_type: u16, tags: &[(u16, u16)], payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2];
    for (tpid, id) in tags {
        frame.extend_from_slice(&tpid.to_be_bytes());
        frame.extend_from_slice(&id.to_be_bytes());
    }
    frame.extend_from_slice(&ether_type.to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

/// A Linux cooked v1 frame (outgoing, 6-byte address).
pub fn sll(arphrd: u16, protocol: u16, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![0, 4];
    frame.extend_from_slice(&arphrd.to_be_bytes());
    frame.extend_from_slice(&[0, 6, 0x02, 0, 0, 0, 0, 1, 0, 0]);
    frame.extend_from_slice(&protocol.to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

/// A Linux cooked v2 frame (interface 3, outgoing, 6-byte address).
pub fn sll2(arphrd: u16, protocol: u16, payload: &[u8]) -> Vec<u8> {
    let mut frame = protocol.to_be_bytes().to_vec();
    frame.extend_from_slice(&[0, 0, 0, 0, 0, 3]);
    frame.extend_from_slice(&arphrd.to_be_bytes());
    frame.extend_from_slice(&[4, 6, 0x02, 0, 0, 0, 0, 1, 0, 0]);
    frame.extend_from_slice(payload);
    frame
}

/// A 4-byte address-family header followed by `payload`.
pub fn family(header: [u8; 4], payload: &[u8]) -> Vec<u8> {
    [header.as_slice(), payload].concat()
}
