//! The checked view of one TCP segment that the rest of the pipeline consumes.

use std::fmt;
use std::net::IpAddr;
use std::ops::BitOr;

/// One TCP segment, borrowed from the captured frame. Every field has been validated by
/// [`super::decode`]; nothing here needs re-checking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment<'a> {
    /// IP source address.
    pub src: IpAddr,
    /// IP destination address.
    pub dst: IpAddr,
    /// TCP source port.
    pub src_port: u16,
    /// TCP destination port.
    pub dst_port: u16,
    /// Raw TCP sequence number.
    pub seq: u32,
    /// Raw TCP acknowledgment number (meaningful only when `flags.ack()`).
    pub ack: u32,
    /// TCP control flags.
    pub flags: TcpFlags,
    /// Raw window field, not scaled by the window-scale option.
    pub window: u16,
    /// IPv4 TTL or IPv6 hop limit.
    pub ttl: u8,
    /// IPv4 identification; `None` for IPv6.
    pub ip_id: Option<u16>,
    /// The TCP payload bytes that were captured; shorter than `payload_len` when `truncated`.
    pub payload: &'a [u8],
    /// TCP payload length on the wire, from the IP total/payload length.
    pub payload_len: u32,
    /// `payload.len() < payload_len`: the capture cut the payload (snaplen).
    pub truncated: bool,
    /// The outermost 802.1Q/802.1ad VLAN id, if the frame was tagged.
    pub vlan: Option<u16>,
}

/// The eight TCP control flags, as the byte at offset 13 of the TCP header.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    /// No more data from the sender.
    pub const FIN: TcpFlags = TcpFlags(0x01);
    /// Synchronize sequence numbers (connection open).
    pub const SYN: TcpFlags = TcpFlags(0x02);
    /// Reset the connection.
    pub const RST: TcpFlags = TcpFlags(0x04);
    /// Push buffered data to the application.
    pub const PSH: TcpFlags = TcpFlags(0x08);
    /// The acknowledgment field is significant.
    pub const ACK: TcpFlags = TcpFlags(0x10);
    /// The urgent pointer is significant.
    pub const URG: TcpFlags = TcpFlags(0x20);
    /// ECN echo.
    pub const ECE: TcpFlags = TcpFlags(0x40);
    /// Congestion window reduced.
    pub const CWR: TcpFlags = TcpFlags(0x80);

    const NAMES: [(TcpFlags, &'static str); 8] = [
        (Self::FIN, "FIN"),
        (Self::SYN, "SYN"),
        (Self::RST, "RST"),
        (Self::PSH, "PSH"),
        (Self::ACK, "ACK"),
        (Self::URG, "URG"),
        (Self::ECE, "ECE"),
        (Self::CWR, "CWR"),
    ];

    /// True if every flag set in `flags` is set here.
    pub fn contains(self, flags: TcpFlags) -> bool {
        self.0 & flags.0 == flags.0
    }

    /// FIN is set.
    pub fn fin(self) -> bool {
        self.contains(Self::FIN)
    }

    /// SYN is set.
    pub fn syn(self) -> bool {
        self.contains(Self::SYN)
    }

    /// RST is set.
    pub fn rst(self) -> bool {
        self.contains(Self::RST)
    }

    /// ACK is set.
    pub fn ack(self) -> bool {
        self.contains(Self::ACK)
    }
}

impl BitOr for TcpFlags {
    type Output = TcpFlags;

    /// Both sets of flags, e.g. `TcpFlags::SYN | TcpFlags::ACK`.
    fn bitor(self, other: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | other.0)
    }
}

/// Prints the set flags by name, `SYN|ACK`, or `-` when none is set.
impl fmt::Debug for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut set = Self::NAMES.iter().filter(|(flag, _)| self.contains(*flag));
        match set.next() {
            None => f.write_str("-"),
            Some((_, first)) => {
                f.write_str(first)?;
                set.try_for_each(|(_, name)| write!(f, "|{name}"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_bits_match_the_tcp_header_layout() {
        // Byte 13 of a SYN+ACK header is 0x12 on the wire.
        let syn_ack = TcpFlags(0x12);
        assert!(syn_ack.syn() && syn_ack.ack());
        assert!(!syn_ack.fin() && !syn_ack.rst());
        assert_eq!(TcpFlags::SYN | TcpFlags::ACK, syn_ack);
        assert!(TcpFlags(0x11).fin());
        assert!(TcpFlags(0x04).rst());
        assert_eq!(TcpFlags::CWR.0 | TcpFlags::ECE.0 | TcpFlags::URG.0, 0xe0);
    }

    #[test]
    fn contains_needs_every_flag() {
        let fin_ack = TcpFlags::FIN | TcpFlags::ACK;
        assert!(fin_ack.contains(TcpFlags::FIN | TcpFlags::ACK));
        assert!(!fin_ack.contains(TcpFlags::FIN | TcpFlags::RST));
        assert!(fin_ack.contains(TcpFlags::default()));
    }

    #[test]
    fn debug_names_the_set_flags() {
        assert_eq!(format!("{:?}", TcpFlags::SYN | TcpFlags::ACK), "SYN|ACK");
        assert_eq!(format!("{:?}", TcpFlags::RST), "RST");
        assert_eq!(format!("{:?}", TcpFlags::default()), "-");
    }
}
