//! Link layers: strip the per-frame link header and find the IP packet behind it.
//!
//! Ethernet and VLAN tags go through etherparse. The Linux cooked headers, BSD loopback and
//! raw IP are read by hand: etherparse has no SLL2, no loopback/raw link types, and its SLL
//! parser refuses hardware types it doesn't list (see [`sll`]).

use etherparse::{EtherPayloadSlice, EtherType, Ethernet2Slice, LenSource, SingleVlanSlice};

use super::Skip;
use super::linktype;

/// Which IP version the link layer announced for its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum IpVersion {
    /// IPv4 only.
    V4,
    /// IPv6 only.
    V6,
    /// Raw IP: the version nibble decides.
    Either,
}

/// The bytes after the link layer, and what the link layer said about them.
#[derive(Debug)]
pub(super) struct Network<'a> {
    /// The IP packet as captured, possibly followed by link padding.
    pub bytes: &'a [u8],
    /// The IP version the link layer announced.
    pub version: IpVersion,
    /// The outermost VLAN id, if the frame was tagged.
    pub vlan: Option<u16>,
}

impl<'a> Network<'a> {
    fn untagged(bytes: &'a [u8], version: IpVersion) -> Self {
        Network {
            bytes,
            version,
            vlan: None,
        }
    }
}

/// Strips the link layer of `linktype` from `data`.
pub(super) fn strip(linktype: u32, data: &[u8], caplen_cut: bool) -> Result<Network<'_>, Skip> {
    match linktype {
        linktype::ETHERNET => ethernet(data, caplen_cut),
        linktype::LINUX_SLL => sll(data, caplen_cut),
        linktype::LINUX_SLL2 => sll2(data, caplen_cut),
        linktype::NULL => bsd_null(data, caplen_cut),
        linktype::LOOP => bsd_loop(data, caplen_cut),
        linktype::RAW | linktype::RAW_BSD => Ok(Network::untagged(data, IpVersion::Either)),
        linktype::IPV4 => Ok(Network::untagged(data, IpVersion::V4)),
        linktype::IPV6 => Ok(Network::untagged(data, IpVersion::V6)),
        _ => Err(Skip::UnsupportedLinkType),
    }
}

/// Ethernet II (without FCS; an FCS, like padding, is cut off later by the IP length).
fn ethernet(data: &[u8], caplen_cut: bool) -> Result<Network<'_>, Skip> {
    let frame =
        Ethernet2Slice::from_slice_without_fcs(data).map_err(|_| Skip::short_frame(caplen_cut))?;
    ether_payload(frame.payload(), caplen_cut)
}

/// Steps over any stack of VLAN tags (802.1Q 0x8100, 802.1ad 0x88a8, old QinQ 0x9100),
/// keeping the outermost id, up to an IPv4 or IPv6 EtherType.
///
/// The loop is bounded: every tag consumes four bytes of the frame.
fn ether_payload(
    mut payload: EtherPayloadSlice<'_>,
    caplen_cut: bool,
) -> Result<Network<'_>, Skip> {
    let mut vlan = None;
    loop {
        let version = match payload.ether_type {
            EtherType::IPV4 => IpVersion::V4,
            EtherType::IPV6 => IpVersion::V6,
            EtherType::VLAN_TAGGED_FRAME
            | EtherType::PROVIDER_BRIDGING
            | EtherType::VLAN_DOUBLE_TAGGED_FRAME => {
                let tag = SingleVlanSlice::from_slice(payload.payload)
                    .map_err(|_| Skip::short_frame(caplen_cut))?;
                vlan = vlan.or(Some(tag.vlan_identifier().value()));
                payload = tag.payload();
                continue;
            }
            _ => return Err(Skip::NotIp),
        };
        return Ok(Network {
            bytes: payload.payload,
            version,
            vlan,
        });
    }
}

/// ARPHRD types whose cooked "protocol" field is not an EtherType (libpcap's SLL docs):
/// netlink carries a netlink protocol, FRAD and radiotap leave it unused.
const ARPHRD_NOT_ETHERTYPE: [u16; 3] = [
    824, /* NETLINK */
    770, /* FRAD */
    803, /* RADIOTAP */
];

/// Linux cooked capture v1: packet type (2), ARPHRD type (2), address length (2),
/// address (8), protocol (2), all big-endian.
///
/// Read by hand although etherparse has `LinuxSllHeaderSlice`: that parser rejects every
/// ARPHRD type it doesn't list, among them ARPHRD_LOOPBACK (772) and ARPHRD_NONE (65534,
/// tun/VPN devices), which `tcpdump -i any` records for traffic to a local broker.
fn sll(data: &[u8], caplen_cut: bool) -> Result<Network<'_>, Skip> {
    let (header, rest) = data
        .split_first_chunk::<16>()
        .ok_or(Skip::short_frame(caplen_cut))?;
    let arphrd = u16::from_be_bytes([header[2], header[3]]);
    let protocol = u16::from_be_bytes([header[14], header[15]]);
    cooked(arphrd, protocol, rest, caplen_cut)
}

/// Linux cooked capture v2 (etherparse has none): protocol (2), reserved (2), interface
/// index (4), ARPHRD type (2), packet type (1), address length (1), address (8).
fn sll2(data: &[u8], caplen_cut: bool) -> Result<Network<'_>, Skip> {
    let (header, rest) = data
        .split_first_chunk::<20>()
        .ok_or(Skip::short_frame(caplen_cut))?;
    let protocol = u16::from_be_bytes([header[0], header[1]]);
    let arphrd = u16::from_be_bytes([header[8], header[9]]);
    cooked(arphrd, protocol, rest, caplen_cut)
}

/// The payload of a cooked header: an Ethernet payload unless the hardware type says the
/// protocol field means something else.
fn cooked(arphrd: u16, protocol: u16, rest: &[u8], caplen_cut: bool) -> Result<Network<'_>, Skip> {
    if ARPHRD_NOT_ETHERTYPE.contains(&arphrd) {
        return Err(Skip::NotIp);
    }
    let payload = EtherPayloadSlice {
        ether_type: EtherType(protocol),
        len_source: LenSource::Slice,
        payload: rest,
    };
    ether_payload(payload, caplen_cut)
}

/// BSD loopback (DLT_NULL): a 4-byte address family in the *capturing* host's byte order,
/// so both orders are tried (the small AF values can't be confused).
fn bsd_null(data: &[u8], caplen_cut: bool) -> Result<Network<'_>, Skip> {
    let (family, rest) = data
        .split_first_chunk::<4>()
        .ok_or(Skip::short_frame(caplen_cut))?;
    let version = address_family(u32::from_le_bytes(*family))
        .or_else(|| address_family(u32::from_be_bytes(*family)))
        .ok_or(Skip::NotIp)?;
    Ok(Network::untagged(rest, version))
}

/// OpenBSD loopback (DLT_LOOP): like DLT_NULL but always network byte order.
fn bsd_loop(data: &[u8], caplen_cut: bool) -> Result<Network<'_>, Skip> {
    let (family, rest) = data
        .split_first_chunk::<4>()
        .ok_or(Skip::short_frame(caplen_cut))?;
    let version = address_family(u32::from_be_bytes(*family)).ok_or(Skip::NotIp)?;
    Ok(Network::untagged(rest, version))
}

/// The IP version of a BSD address family: AF_INET is 2 everywhere; AF_INET6 is 24
/// (NetBSD, OpenBSD), 28 (FreeBSD, DragonFly) or 30 (macOS).
fn address_family(family: u32) -> Option<IpVersion> {
    match family {
        2 => Some(IpVersion::V4),
        24 | 28 | 30 => Some(IpVersion::V6),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::frames;
    use super::*;

    fn version_of(linktype: u32, frame: &[u8]) -> Result<(IpVersion, usize), Skip> {
        strip(linktype, frame, false).map(|n| (n.version, frame.len() - n.bytes.len()))
    }

    #[test]
    fn ethernet_strips_fourteen_bytes() {
        let frame = frames::ethernet(0x0800, &[], &[0x45]);
        assert_eq!(
            version_of(linktype::ETHERNET, &frame),
            Ok((IpVersion::V4, 14))
        );
        let frame = frames::ethernet(0x86dd, &[], &[0x60]);
        assert_eq!(
            version_of(linktype::ETHERNET, &frame),
            Ok((IpVersion::V6, 14))
        );
    }

    #[test]
    fn every_vlan_tpid_is_stepped_over_and_the_outer_id_kept() {
        for tpid in [0x8100, 0x88a8, 0x9100] {
            let frame = frames::ethernet(0x0800, &[(tpid, 300), (0x8100, 7)], &[0x45]);
            let network = strip(linktype::ETHERNET, &frame, false).unwrap();
            assert_eq!(network.vlan, Some(300), "tpid {tpid:#x}");
            assert_eq!(network.bytes, &[0x45], "tpid {tpid:#x}");
        }
    }

    #[test]
    fn non_ip_ethertypes_are_not_ip() {
        for ether_type in [
            0x0806, /* ARP */
            0x88cc, /* LLDP */
            0x0026, /* 802.3 length */
        ] {
            let frame = frames::ethernet(ether_type, &[], &[0; 28]);
            assert_eq!(version_of(linktype::ETHERNET, &frame), Err(Skip::NotIp));
        }
        // Behind a tag too.
        let frame = frames::ethernet(0x0806, &[(0x8100, 1)], &[0; 28]);
        assert_eq!(version_of(linktype::ETHERNET, &frame), Err(Skip::NotIp));
    }

    #[test]
    fn a_cut_tag_is_truncated_only_if_the_capture_was_cut() {
        let frame = frames::ethernet(0x0800, &[(0x8100, 1)], &[]);
        let cut_tag = &frame[..16];
        assert_eq!(
            strip(linktype::ETHERNET, cut_tag, true).err(),
            Some(Skip::Truncated)
        );
        assert_eq!(
            strip(linktype::ETHERNET, cut_tag, false).err(),
            Some(Skip::Malformed)
        );
    }

    #[test]
    fn sll_accepts_loopback_and_tun_hardware_types() {
        for arphrd in [
            1, 772,   /* LOOPBACK */
            65534, /* NONE */
            778,   /* IPGRE */
        ] {
            let frame = frames::sll(arphrd, 0x86dd, &[0x60]);
            assert_eq!(
                version_of(linktype::LINUX_SLL, &frame),
                Ok((IpVersion::V6, 16))
            );
        }
    }

    #[test]
    fn sll_netlink_is_not_ip_even_with_an_ip_protocol_number() {
        let frame = frames::sll(824, 0x0800, &[0x45]);
        assert_eq!(version_of(linktype::LINUX_SLL, &frame), Err(Skip::NotIp));
        let frame = frames::sll2(824, 0x0800, &[0x45]);
        assert_eq!(version_of(linktype::LINUX_SLL2, &frame), Err(Skip::NotIp));
    }

    #[test]
    fn sll2_reads_protocol_at_offset_zero() {
        let frame = frames::sll2(772, 0x0800, &[0x45]);
        assert_eq!(
            version_of(linktype::LINUX_SLL2, &frame),
            Ok((IpVersion::V4, 20))
        );
        let short = &frame[..19];
        assert_eq!(
            strip(linktype::LINUX_SLL2, short, true).err(),
            Some(Skip::Truncated)
        );
    }

    #[test]
    fn bsd_null_accepts_both_byte_orders_and_every_inet6_value() {
        let le = [2, 0, 0, 0, 0x45];
        let be = [0, 0, 0, 2, 0x45];
        assert_eq!(version_of(linktype::NULL, &le), Ok((IpVersion::V4, 4)));
        assert_eq!(version_of(linktype::NULL, &be), Ok((IpVersion::V4, 4)));
        for af in [24u32, 28, 30] {
            let frame = [af.to_le_bytes().as_slice(), &[0x60]].concat();
            assert_eq!(version_of(linktype::NULL, &frame), Ok((IpVersion::V6, 4)));
        }
        assert_eq!(
            version_of(linktype::NULL, &[7, 0, 0, 0, 0]),
            Err(Skip::NotIp)
        );
    }

    #[test]
    fn bsd_loop_is_network_order_only() {
        assert_eq!(
            version_of(linktype::LOOP, &[0, 0, 0, 24, 0x60]),
            Ok((IpVersion::V6, 4))
        );
        assert_eq!(
            version_of(linktype::LOOP, &[2, 0, 0, 0, 0x45]),
            Err(Skip::NotIp)
        );
    }

    #[test]
    fn raw_link_types_pass_the_whole_frame() {
        for (lt, version) in [
            (linktype::RAW, IpVersion::Either),
            (linktype::RAW_BSD, IpVersion::Either),
            (linktype::IPV4, IpVersion::V4),
            (linktype::IPV6, IpVersion::V6),
        ] {
            assert_eq!(version_of(lt, &[0x45]), Ok((version, 0)));
        }
    }

    #[test]
    fn unknown_link_types_are_reported_as_such() {
        for lt in [
            105, /* 802.11 */
            127, /* radiotap */
            147,
            u32::MAX,
        ] {
            assert_eq!(version_of(lt, &[0x45; 64]), Err(Skip::UnsupportedLinkType));
        }
    }

    #[test]
    fn empty_frames_never_decode() {
        for lt in [
            linktype::ETHERNET,
            linktype::LINUX_SLL,
            linktype::LINUX_SLL2,
            0,
            108,
        ] {
            assert_eq!(
                strip(lt, &[], true).err(),
                Some(Skip::Truncated),
                "linktype {lt}"
            );
            assert_eq!(
                strip(lt, &[], false).err(),
                Some(Skip::Malformed),
                "linktype {lt}"
            );
        }
    }
}
