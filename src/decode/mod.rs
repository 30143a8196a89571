//! `decode`: raw captured frame bytes → a checked TCP [`Segment`] view.
//!
//! This is the only stage that reads raw frame bytes. Everything after it works on the
//! checked values of a [`Segment`], whose accessors cannot fail. A frame that yields no
//! segment is not an error: [`decode`] returns the [`Skip`] reason, and the caller counts it
//! in [`SkipCounts`] so that nothing disappears silently.
//!
//! The work is split by layer:
//! - `link` strips the link layer (Ethernet and VLAN tags via etherparse; Linux cooked
//!   SLL/SLL2, BSD loopback and raw IP by hand) and says which IP version follows;
//! - `net` checks the IP and TCP headers (via etherparse's lax slicing) and works out the
//!   on-the-wire payload length from the IP length fields; the common shape, an uncut
//!   IPv4 datagram without options, is read at fixed offsets first;
//! - `segment` and `skip` hold the output types.
//!
//! What decoding deliberately does not do:
//! - **No checksum validation.** Checksum offload makes every outgoing packet captured on
//!   the sending host carry a wrong IP/TCP checksum; rejecting them would drop real traffic.
//! - **No IP reassembly.** Fragments of a TCP datagram are reported as [`Skip::IpFragment`].
//! - **No allocation and no copying.** The payload is a borrowed sub-slice of the frame.

mod link;
mod net;
mod segment;
mod skip;

pub use segment::{Segment, TcpFlags};

pub use skip::{Skip, SkipCounts};

/// The libpcap LINKTYPE numbers [`decode`] understands.
pub mod linktype {
    /// BSD loopback: a 4-byte address family in the capturing host's byte order.
    pub const NULL: u32 = 0;
    /// Ethernet II, with any number of 802.1Q / 802.1ad (QinQ) tags.
    pub const ETHERNET: u32 = 1;
    /// Raw IP, as numbered on some BSDs (`DLT_RAW` = 12); the version nibble decides.
    pub const RAW_BSD: u32 = 12;
    /// Raw IP (`LINKTYPE_RAW`); the version nibble decides.
    pub const RAW: u32 = 101;
    /// OpenBSD loopback: a 4-byte address family in network byte order.
    pub const LOOP: u32 = 108;
    /// Linux cooked capture v1 (`tcpdump -i any` on older systems).
    pub const LINUX_SLL: u32 = 113;
    /// Raw IPv4 only.
    pub const IPV4: u32 = 228;
    /// Raw IPv6 only.
    pub const IPV6: u32 = 229;
    /// Linux cooked capture v2 (`tcpdump -i any` on libpcap ≥ 1.10).
    pub const LINUX_SLL2: u32 = 276;
}

/// Decodes one captured frame of the given link type (a libpcap LINKTYPE number, see
/// [`linktype`]) into a TCP segment, or says why it is not one.
///
/// `caplen_cut` must be true when `data` is shorter than the frame was on the wire (snaplen,
/// or a capture file that ends mid-record). It decides how missing bytes are read:
/// - cut: headers that end past the captured bytes give [`Skip::Truncated`], and a TCP
///   segment whose header was captured whole is returned with `truncated = true`;
/// - not cut: `data` is the whole frame, so any header or length field that claims more
///   bytes than it holds is a lie and gives [`Skip::Malformed`]. The one exception is an
///   IP length field of zero (TCP segmentation offload on the capturing host, or an IPv6
///   jumbogram), where the captured length is taken as the wire length.
///
/// Never panics, whatever the bytes.
pub fn decode(linktype: u32, data: &[u8], caplen_cut: bool) -> Result<Segment<'_>, Skip> {
    let network = link::strip(linktype, data, caplen_cut)?;
    net::segment(network, caplen_cut)
}

#[cfg(test)]
mod frames;
#[cfg(test)]
mod tests;
