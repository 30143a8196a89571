//! End-to-end tests of [`decode`]: every link type, the broken cases, and property tests.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use etherparse::TcpHeader;
use proptest::prelude::*;

use super::frames::{self, BROKER, BROKER6, CLIENT, CLIENT6, IP_ID};
use super::linktype::*;
use super::*;

const MQTT_PING: [u8; 2] = [0xc0, 0x00];

fn ether_v4(payload: &[u8]) -> Vec<u8> {
    frames::ethernet(0x0800, &[], &frames::ipv4_tcp(payload))
}

#[test]
fn ethernet_ipv4_tcp_fills_every_field() {
    let frame = ether_v4(&MQTT_PING);
    let segment = decode(ETHERNET, &frame, false).unwrap();
    assert_eq!(
        segment,
        Segment {
            src: IpAddr::V4(Ipv4Addr::from(CLIENT)),
            dst: IpAddr::V4(Ipv4Addr::from(BROKER)),
            src_port: 51000,
            dst_port: 1883,
            seq: 1000,
            ack: 2000,
            flags: TcpFlags::PSH | TcpFlags::ACK,
            window: 4000,
            ttl: 64,
            ip_id: Some(IP_ID),
            payload: &MQTT_PING,
            payload_len: 2,
            truncated: false,
            vlan: None,
        }
    );
}

#[test]
fn ipv6_has_hop_limit_and_no_ip_id() {
    let frame = frames::ethernet(0x86dd, &[], &frames::ipv6_tcp(&MQTT_PING));
    let segment = decode(ETHERNET, &frame, false).unwrap();
    assert_eq!(segment.src, IpAddr::V6(Ipv6Addr::from(CLIENT6)));
    assert_eq!(segment.dst, IpAddr::V6(Ipv6Addr::from(BROKER6)));
    assert_eq!(segment.ttl, 50);
    assert_eq!(segment.ip_id, None);
    assert_eq!((segment.payload, segment.payload_len), (&MQTT_PING[..], 2));
}

#[test]
fn every_link_type_yields_the_same_segment() {
    let v4 = frames::ipv4_tcp(&MQTT_PING);
    let v6 = frames::ipv6_tcp(&MQTT_PING);
    let cases = [
        (ETHERNET, frames::ethernet(0x0800, &[], &v4)),
        (LINUX_SLL, frames::sll(1, 0x0800, &v4)),
        (LINUX_SLL, frames::sll(772, 0x86dd, &v6)),
        (LINUX_SLL2, frames::sll2(1, 0x0800, &v4)),
        (LINUX_SLL2, frames::sll2(65534, 0x86dd, &v6)),
        (NULL, frames::family([2, 0, 0, 0], &v4)),
        (NULL, frames::family([0, 0, 0, 2], &v4)),
        (NULL, frames::family([30, 0, 0, 0], &v6)),
        (LOOP, frames::family([0, 0, 0, 2], &v4)),
        (LOOP, frames::family([0, 0, 0, 24], &v6)),
        (RAW, v4.clone()),
        (RAW, v6.clone()),
        (RAW_BSD, v4.clone()),
        (IPV4, v4.clone()),
        (IPV6, v6.clone()),
    ];
    for (lt, frame) in &cases {
        let segment = decode(*lt, frame, false).unwrap_or_else(|e| panic!("{lt}: {e:?}"));
        assert_eq!((segment.src_port, segment.dst_port), (51000, 1883), "{lt}");
        assert_eq!(segment.seq, 1000, "{lt}");
        assert_eq!(segment.payload, &MQTT_PING, "{lt}");
        assert_eq!(segment.ip_id.is_some(), segment.src.is_ipv4(), "{lt}");
    }
}

#[test]
fn link_and_ip_versions_must_agree() {
    let v4 = frames::ipv4_tcp(&MQTT_PING);
    let v6 = frames::ipv6_tcp(&MQTT_PING);
    assert_eq!(decode(IPV4, &v6, false), Err(Skip::Malformed));
    assert_eq!(decode(IPV6, &v4, false), Err(Skip::Malformed));
    let frame = frames::ethernet(0x0800, &[], &v6);
    assert_eq!(decode(ETHERNET, &frame, false), Err(Skip::Malformed));
    let frame = frames::family([0, 0, 0, 2], &v6);
    assert_eq!(decode(LOOP, &frame, false), Err(Skip::Malformed));
    let mut bad_version = v4;
    bad_version[0] = 0x55;
    assert_eq!(decode(RAW, &bad_version, false), Err(Skip::Malformed));
}

#[test]
fn vlan_and_qinq_report_the_outermost_id() {
    let ip = frames::ipv4_tcp(&MQTT_PING);
    let single = frames::ethernet(0x0800, &[(0x8100, 42)], &ip);
    let qinq = frames::ethernet(0x0800, &[(0x88a8, 100), (0x8100, 42)], &ip);
    let old_qinq = frames::ethernet(0x0800, &[(0x9100, 200), (0x8100, 42)], &ip);
    let triple = frames::ethernet(0x0800, &[(0x88a8, 1), (0x8100, 2), (0x8100, 3)], &ip);
    for (frame, vlan) in [(single, 42), (qinq, 100), (old_qinq, 200), (triple, 1)] {
        let segment = decode(ETHERNET, &frame, false).unwrap();
        assert_eq!(segment.vlan, Some(vlan));
        assert_eq!(segment.payload, &MQTT_PING);
    }
}

#[test]
fn vlan_id_ignores_priority_and_dei_bits() {
    let frame = frames::ethernet(0x0800, &[(0x8100, 0xf000 | 42)], &frames::ipv4_tcp(&[]));
    assert_eq!(decode(ETHERNET, &frame, false).unwrap().vlan, Some(42));
}

#[test]
fn ipv6_extension_header_is_stepped_over() {
    // Destination options (60) with a PadN option filling its six bytes.
    let packet = frames::with_ipv6_ext(&frames::ipv6_tcp(&MQTT_PING), 60, [1, 4, 0, 0, 0, 0]);
    let segment = decode(RAW, &packet, false).unwrap();
    assert_eq!(segment.payload, &MQTT_PING);
    assert_eq!(
        segment.payload_len, 2,
        "the extension header is not payload"
    );
    assert_eq!(segment.dst_port, 1883);
}

#[test]
fn ipv6_fragment_header_is_a_fragment_unless_atomic() {
    let packet = frames::ipv6_tcp(&MQTT_PING);
    let more_fragments = frames::with_ipv6_ext(&packet, 44, [0, 1, 0, 0, 0, 9]);
    assert_eq!(decode(RAW, &more_fragments, false), Err(Skip::IpFragment));
    let later_fragment = frames::with_ipv6_ext(&packet, 44, [0x01, 0x00, 0, 0, 0, 9]);
    assert_eq!(decode(RAW, &later_fragment, false), Err(Skip::IpFragment));
    // Offset 0 and no more fragments: the whole datagram is here.
    let atomic = frames::with_ipv6_ext(&packet, 44, [0, 0, 0, 0, 0, 9]);
    assert_eq!(decode(RAW, &atomic, false).unwrap().payload, &MQTT_PING);
}

#[test]
fn ipv4_fragments_of_tcp_are_counted_as_fragments() {
    let packet = frames::ipv4_tcp(&MQTT_PING);
    let mut first = packet.clone();
    first[6] = 0x20; // MF
    assert_eq!(decode(RAW, &first, false), Err(Skip::IpFragment));
    let mut later = packet.clone();
    later[6..8].copy_from_slice(&[0x00, 0x10]); // offset 128 bytes, last fragment
    assert_eq!(decode(RAW, &later, false), Err(Skip::IpFragment));
    let mut dont_fragment = packet;
    dont_fragment[6] = 0x40; // DF: not a fragment
    assert!(decode(RAW, &dont_fragment, false).is_ok());
}

#[test]
fn udp_fragments_are_not_tcp() {
    let mut packet = frames::ipv4_udp(&[0; 16]);
    packet[6] = 0x20; // MF
    assert_eq!(decode(RAW, &packet, false), Err(Skip::NotTcp));
}

#[test]
fn udp_and_icmp_are_not_tcp() {
    let udp = frames::ethernet(0x0800, &[], &frames::ipv4_udp(&[1, 2, 3]));
    assert_eq!(decode(ETHERNET, &udp, false), Err(Skip::NotTcp));
    let mut icmp = frames::ipv4_udp(&[0; 8]);
    icmp[9] = 1;
    assert_eq!(decode(RAW, &icmp, false), Err(Skip::NotTcp));
}

#[test]
fn arp_is_not_ip() {
    let arp = [0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 192, 168, 1, 1];
    let frame = frames::ethernet(0x0806, &[], &[arp.as_slice(), &[0; 10]].concat());
    assert_eq!(decode(ETHERNET, &frame, false), Err(Skip::NotIp));
    let frame = frames::sll2(1, 0x0806, &arp);
    assert_eq!(decode(LINUX_SLL2, &frame, false), Err(Skip::NotIp));
}

#[test]
fn snaplen_cut_in_payload_keeps_the_wire_length() {
    let payload: Vec<u8> = (0..200).map(|i| i as u8).collect();
    let frame = ether_v4(&payload);
    let cut = &frame[..14 + 20 + 20 + 50];
    let segment = decode(ETHERNET, cut, true).unwrap();
    assert!(segment.truncated);
    assert_eq!(segment.payload_len, 200);
    assert_eq!(segment.payload, &payload[..50]);
}

#[test]
fn snaplen_cut_right_after_the_tcp_header_still_decodes() {
    let frame = frames::ethernet(0x86dd, &[], &frames::ipv6_tcp(&[7; 100]));
    let segment = decode(ETHERNET, &frame[..14 + 40 + 20], true).unwrap();
    assert!(segment.truncated);
    assert_eq!((segment.payload.len(), segment.payload_len), (0, 100));
}

#[test]
fn uncut_frame_shorter_than_its_ip_length_is_malformed() {
    let frame = ether_v4(&[7; 100]);
    let short = &frame[..frame.len() - 10];
    assert_eq!(decode(ETHERNET, short, false), Err(Skip::Malformed));
    assert!(decode(ETHERNET, short, true).unwrap().truncated);
}

#[test]
fn cut_inside_the_tcp_header_is_truncated() {
    let frame = ether_v4(&MQTT_PING);
    let cut = &frame[..14 + 20 + 12];
    assert_eq!(decode(ETHERNET, cut, true), Err(Skip::Truncated));
}

#[test]
fn cut_inside_tcp_options_is_truncated() {
    let mut tcp = frames::tcp_header();
    tcp.set_options_raw(&[1; 12]).unwrap();
    let packet = frames::ipv4_with(tcp, &MQTT_PING);
    assert_eq!(decode(RAW, &packet[..20 + 24], true), Err(Skip::Truncated));
    let whole = decode(RAW, &packet, false).unwrap();
    assert_eq!((whole.payload, whole.payload_len), (&MQTT_PING[..], 2));
}

#[test]
fn cut_inside_the_ip_header_is_truncated() {
    let frame = ether_v4(&MQTT_PING);
    assert_eq!(
        decode(ETHERNET, &frame[..14 + 10], true),
        Err(Skip::Truncated)
    );
    let v6 = frames::ipv6_tcp(&MQTT_PING);
    assert_eq!(decode(IPV6, &v6[..39], true), Err(Skip::Truncated));
}

#[test]
fn cut_inside_an_ipv6_extension_header_is_truncated() {
    let packet = frames::with_ipv6_ext(&frames::ipv6_tcp(&MQTT_PING), 60, [1, 4, 0, 0, 0, 0]);
    assert_eq!(decode(IPV6, &packet[..44], true), Err(Skip::Truncated));
}

#[test]
fn ethernet_padding_is_not_payload() {
    // A bare ACK is 54 bytes; Ethernet pads it to 60.
    let mut frame = ether_v4(&[]);
    frame.resize(60, 0);
    let segment = decode(ETHERNET, &frame, false).unwrap();
    assert_eq!((segment.payload, segment.payload_len), (&[][..], 0));
    assert!(!segment.truncated);
}

#[test]
fn ipv4_ihl_below_five_is_malformed() {
    let mut packet = frames::ipv4_tcp(&MQTT_PING);
    packet[0] = 0x44;
    assert_eq!(decode(RAW, &packet, false), Err(Skip::Malformed));
    assert_eq!(decode(RAW, &packet, true), Err(Skip::Malformed));
}

#[test]
fn tcp_data_offset_below_five_is_malformed() {
    let mut packet = frames::ipv4_tcp(&MQTT_PING);
    packet[20 + 12] = 0x40;
    assert_eq!(decode(RAW, &packet, false), Err(Skip::Malformed));
    assert_eq!(decode(RAW, &packet, true), Err(Skip::Malformed));
}

#[test]
fn tcp_data_offset_beyond_the_datagram_is_malformed_even_when_cut() {
    let mut packet = frames::ipv4_tcp(&MQTT_PING);
    packet[20 + 12] = 0xf0; // 60-byte header in a 22-byte TCP datagram
    assert_eq!(decode(RAW, &packet, false), Err(Skip::Malformed));
    assert_eq!(decode(RAW, &packet, true), Err(Skip::Malformed));
}

#[test]
fn ipv4_total_length_shorter_than_its_header_is_malformed() {
    let mut packet = frames::ipv4_tcp(&MQTT_PING);
    packet[2..4].copy_from_slice(&19u16.to_be_bytes());
    assert_eq!(decode(RAW, &packet, false), Err(Skip::Malformed));
    packet[2..4].copy_from_slice(&30u16.to_be_bytes()); // IP header fits, TCP doesn't
    assert_eq!(decode(RAW, &packet, false), Err(Skip::Malformed));
}

#[test]
fn zero_ip_length_from_segmentation_offload_uses_the_captured_length() {
    let mut packet = frames::ipv4_tcp(&[9; 3000]);
    packet[2..4].copy_from_slice(&[0, 0]);
    let segment = decode(RAW, &packet, false).unwrap();
    assert_eq!((segment.payload.len(), segment.payload_len), (3000, 3000));
    // Cut, the wire length is unknowable.
    assert_eq!(decode(RAW, &packet[..100], true), Err(Skip::Malformed));
    let mut v6 = frames::ipv6_tcp(&[9; 30]);
    v6[4..6].copy_from_slice(&[0, 0]);
    assert_eq!(decode(IPV6, &v6, false).unwrap().payload_len, 30);
}

#[test]
fn flags_come_from_the_wire() {
    let mut tcp = frames::tcp_header();
    (tcp.psh, tcp.ack, tcp.fin, tcp.rst) = (false, true, true, false);
    let flags_of = |tcp: &TcpHeader| {
        let packet = frames::ipv4_with(tcp.clone(), &[]);
        decode(RAW, &packet, false).unwrap().flags
    };
    assert_eq!(flags_of(&tcp), TcpFlags::FIN | TcpFlags::ACK);
    (tcp.ack, tcp.fin, tcp.rst) = (false, false, true);
    assert_eq!(flags_of(&tcp), TcpFlags::RST);
    (tcp.rst, tcp.syn, tcp.ece, tcp.cwr) = (false, true, true, true);
    assert_eq!(
        flags_of(&tcp),
        TcpFlags::SYN | TcpFlags::ECE | TcpFlags::CWR
    );
}

#[test]
fn empty_input_never_decodes() {
    for lt in [
        NULL, ETHERNET, RAW_BSD, RAW, LOOP, LINUX_SLL, IPV4, IPV6, LINUX_SLL2,
    ] {
        assert_eq!(decode(lt, &[], true), Err(Skip::Truncated), "{lt}");
        assert_eq!(decode(lt, &[], false), Err(Skip::Malformed), "{lt}");
    }
    assert_eq!(decode(999, &[], false), Err(Skip::UnsupportedLinkType));
}

const ALL_LINKTYPES: [u32; 10] = [
    NULL, ETHERNET, RAW_BSD, RAW, LOOP, LINUX_SLL, IPV4, IPV6, LINUX_SLL2, 147,
];

/// What every decoded segment must satisfy, whatever the input.
fn check_invariants(data: &[u8], segment: &Segment<'_>) {
    let data_range = data.as_ptr_range();
    let payload_range = segment.payload.as_ptr_range();
    assert!(data_range.start <= payload_range.start && payload_range.end <= data_range.end);
    assert!(segment.payload.len() <= segment.payload_len as usize);
    assert_eq!(
        segment.truncated,
        segment.payload.len() < segment.payload_len as usize
    );
}

/// What every outcome must satisfy: only a cut frame is ever `Truncated`.
fn check_outcome(data: &[u8], outcome: Result<Segment<'_>, Skip>, cut: bool) {
    match outcome {
        Ok(segment) => check_invariants(data, &segment),
        Err(skip) => assert!(
            cut || skip != Skip::Truncated,
            "uncut frame called truncated"
        ),
    }
}

/// Valid frames of every link type, for mutation.
fn seed_frames() -> Vec<(u32, Vec<u8>)> {
    let v4 = frames::ipv4_tcp(&[0x30, 0x05, 0, 1, b't', b'x', b'y']);
    let v6 = frames::with_ipv6_ext(&frames::ipv6_tcp(&MQTT_PING), 0, [1, 4, 0, 0, 0, 0]);
    vec![
        (
            ETHERNET,
            frames::ethernet(0x0800, &[(0x88a8, 5), (0x8100, 6)], &v4),
        ),
        (LINUX_SLL, frames::sll(772, 0x86dd, &v6)),
        (LINUX_SLL2, frames::sll2(1, 0x0800, &v4)),
        (NULL, frames::family([28, 0, 0, 0], &v6)),
        (LOOP, frames::family([0, 0, 0, 2], &v4)),
        (RAW, v6),
        (IPV4, v4),
    ]
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(
        data in proptest::collection::vec(any::<u8>(), 0..128),
        lt in proptest::sample::select(ALL_LINKTYPES.as_slice()),
        cut in any::<bool>(),
    ) {
        check_outcome(&data, decode(lt, &data, cut), cut);
    }

    #[test]
    fn mutated_valid_frames_never_panic(
        seed in 0..7usize,
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4),
        keep in any::<usize>(),
        cut in any::<bool>(),
    ) {
        let (lt, mut data) = seed_frames().swap_remove(seed);
        for (at, value) in flips {
            let len = data.len();
            data[at % len] = value;
        }
        data.truncate(keep % (data.len() + 1));
        check_outcome(&data, decode(lt, &data, cut), cut);
    }

    #[test]
    fn any_cut_of_a_valid_frame_is_truncated_or_a_truncated_segment(
        seed in 0..7usize,
        keep in any::<usize>(),
    ) {
        let (lt, data) = seed_frames().swap_remove(seed);
        let whole = decode(lt, &data, false).unwrap();
        let cut = &data[..keep % data.len()];
        match decode(lt, cut, true) {
            Ok(segment) => {
                prop_assert!(segment.truncated);
                prop_assert_eq!(segment.payload_len, whole.payload_len);
                prop_assert!(whole.payload.starts_with(segment.payload));
            }
            Err(skip) => prop_assert_eq!(skip, Skip::Truncated),
        }
    }
}

/// Decodes through etherparse's slicing alone, without the fixed-offset path.
fn sliced_only(lt: u32, data: &[u8], cut: bool) -> Result<Segment<'_>, Skip> {
    net::sliced(link::strip(lt, data, cut)?, cut)
}

/// The fixed-offset path changes nothing: `decode` gives what etherparse's slicing gives.
fn check_same_as_sliced(lt: u32, data: &[u8], cut: bool) -> Result<(), TestCaseError> {
    prop_assert_eq!(
        decode(lt, data, cut),
        sliced_only(lt, data, cut),
        "{:02x?}",
        data
    );
    Ok(())
}

#[test]
fn plain_ipv4_is_read_at_fixed_offsets_on_every_link_type_and_nothing_else_is() {
    let datagram = frames::ipv4_tcp(&MQTT_PING);
    let tagged = frames::ethernet(0x0800, &[(0x8100, 5)], &datagram);
    for (lt, frame) in [
        (ETHERNET, ether_v4(&MQTT_PING)),
        (ETHERNET, tagged),
        (LINUX_SLL, frames::sll(1, 0x0800, &datagram)),
        (RAW, datagram.clone()),
    ] {
        let network = link::strip(lt, &frame, false).expect("link");
        let fast = net::plain_ipv4(network.bytes, network.vlan);
        assert!(fast.is_some(), "link type {lt}");
        assert_eq!(Ok(fast.unwrap()), sliced_only(lt, &frame, false));
    }
    let frame = ether_v4(&MQTT_PING);
    let mut fragment = frame.clone();
    fragment[14 + 6] |= 0x20; // more fragments
    let mut options = frame.clone();
    options[14] = 0x46;
    let mut short_tcp_header = frame.clone();
    short_tcp_header[14 + 20 + 12] = 0x40; // data offset 4
    let mut long_ip = frame.clone();
    long_ip[14 + 3] += 1; // one byte more than the frame holds
    let mut short_ip = frame.clone();
    short_ip[14 + 2..14 + 4].copy_from_slice(&39u16.to_be_bytes()); // less than the headers
    let mut offloaded = frame.clone();
    offloaded[14 + 2..14 + 4].copy_from_slice(&[0, 0]); // TSO: length left to the capture
    let v6 = frames::ethernet(0x86dd, &[], &frames::ipv6_tcp(&MQTT_PING));
    for (what, data) in [
        ("a fragment", &fragment),
        ("IP options", &options),
        ("IPv6", &v6),
        ("a TCP header below 20 bytes", &short_tcp_header),
        ("an IP length past the frame", &long_ip),
        ("an IP length short of the headers", &short_ip),
        ("an IP length of zero", &offloaded),
    ] {
        let network = link::strip(ETHERNET, data, false).expect("link");
        assert_eq!(net::plain_ipv4(network.bytes, None), None, "{what}");
    }
    // The decoder reads these as before: the fragment and IPv6 by etherparse's slicing,
    // a cut frame never at fixed offsets.
    assert_eq!(decode(ETHERNET, &fragment, false), Err(Skip::IpFragment));
    assert_eq!(
        decode(ETHERNET, &offloaded, false),
        sliced_only(ETHERNET, &offloaded, false)
    );
    assert!(
        decode(ETHERNET, &frame, true)
            .is_ok_and(|s| s == sliced_only(ETHERNET, &frame, true).unwrap())
    );
}

proptest! {
    #[test]
    fn decode_agrees_with_the_sliced_path_on_mutated_headers(
        payload in proptest::collection::vec(any::<u8>(), 0..40),
        flips in proptest::collection::vec((0..60usize, any::<u8>()), 0..4),
        keep in any::<usize>(),
        cut in any::<bool>(),
        tagged in any::<bool>(),
    ) {
        let datagram = frames::ipv4_tcp(&payload);
        let mut data = if tagged {
            frames::ethernet(0x0800, &[(0x8100, 9)], &datagram)
        } else {
            frames::ethernet(0x0800, &[], &datagram)
        };
        let len = data.len();
        for (at, value) in flips {
            data[at % len] = value;
        }
        data.truncate(keep % (data.len() + 1) + usize::from(keep % 2 == 0) * data.len());
        check_same_as_sliced(ETHERNET, &data, cut)?;
    }

    #[test]
    fn decode_agrees_with_the_sliced_path_on_any_bytes(
        data in proptest::collection::vec(any::<u8>(), 0..128),
        lt in proptest::sample::select(ALL_LINKTYPES.as_slice()),
        cut in any::<bool>(),
    ) {
        check_same_as_sliced(lt, &data, cut)?;
    }
}

/// Throughput of the hot path. Run with
/// `cargo test --release -- --ignored --nocapture decode_speed`.
#[test]
#[ignore]
fn decode_speed() {
    use std::hint::black_box;
    use std::time::Instant;

    const ROUNDS: u32 = 5_000_000;
    let frame = ether_v4(&MQTT_PING);
    let start = Instant::now();
    let mut bytes = 0usize;
    for _ in 0..ROUNDS {
        let segment = decode(black_box(ETHERNET), black_box(&frame), black_box(false));
        bytes += segment.map_or(0, |s| s.payload.len());
    }
    let ours = start.elapsed().as_nanos() as f64 / f64::from(ROUNDS);
    let start = Instant::now();
    for _ in 0..ROUNDS {
        let sliced = etherparse::LaxSlicedPacket::from_ethernet(black_box(&frame));
        bytes += sliced.map_or(0, |s| usize::from(s.transport.is_some()));
    }
    let lax = start.elapsed().as_nanos() as f64 / f64::from(ROUNDS);
    println!("decode: {ours:.1} ns/frame; LaxSlicedPacket::from_ethernet: {lax:.1} ns/frame");
    assert!(bytes > 0);
}
