//! The fast reader's pcapng side: one block at a time from the read buffer, parsed by
//! `pcap-parser`, the packets of Enhanced Packet Blocks handed over in place.
//!
//! Like the classic side it takes only the plain case, the one libpcap hands over as it is:
//! one section, interfaces of the file's one link type with decimal time resolutions of at
//! most nanoseconds and no time offset, packets within the snapshot length. Anything else
//! (a second section, a Simple or obsolete Packet Block, another link type, a damaged
//! block) is left to libpcap from that block on, so what libpcap would do with it (read
//! it, or stop with its own message) stays exactly libpcap's.

use super::fast::{MAX_SNAPLEN, PLAIN_LINKTYPES, word};
use crate::time::Timestamp;
use pcap_parser::pcapng::{
    InterfaceDescriptionBlock, parse_interfacedescriptionblock_be,
    parse_interfacedescriptionblock_le, parse_sectionheaderblock,
};

/// The Section Header Block's type (the same in either byte order).
pub(super) const SHB: u32 = 0x0A0D_0D0A;
/// The Interface Description Block's type.
const IDB: u32 = 1;
/// The Enhanced Packet Block's type.
const EPB: u32 = 6;
/// The obsolete Packet Block and the Simple Packet Block: packets this reader leaves to
/// libpcap (a Simple Packet Block's length depends on the snapshot length).
const PACKET_BLOCKS_LEFT: [u32; 2] = [2, 3];
/// A block's type, length and trailing length: the smallest block there is.
pub(super) const BLOCK_MIN: usize = 12;
/// Where an Enhanced Packet Block's packet starts.
const EPB_DATA: usize = 28;

/// The byte order a Section Header Block's magic (its bytes 8 to 12) gives its section:
/// big-endian or not, `None` for no magic.
pub(super) fn section_big_endian(head: &[u8]) -> Option<bool> {
    match head.get(8..12)? {
        [0x1a, 0x2b, 0x3c, 0x4d] => Some(true),
        [0x4d, 0x3c, 0x2b, 0x1a] => Some(false),
        _ => None,
    }
}

/// What a step over the unread bytes found.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Step {
    /// The next block is not whole yet: this many unread bytes are needed.
    Need(usize),
    /// A block that carries no packet, this long: step over it.
    Skip(usize),
    /// A packet.
    Packet(Packet),
    /// A block this reader does not take: libpcap reads on from it.
    Leave,
}

/// One Enhanced Packet Block's packet, placed in the block.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Packet {
    pub ts: Timestamp,
    pub caplen: u32,
    pub wire_len: u32,
    /// Where the packet starts in the block.
    pub data_at: usize,
    /// The block's length.
    pub block_len: usize,
}

/// What the blocks read so far said: the section's byte order, its interfaces.
#[derive(Debug, Default)]
pub(super) struct Blocks {
    /// `None` before the Section Header Block.
    big_endian: Option<bool>,
    /// The link type of every interface (the first one's).
    linktype: Option<u32>,
    /// libpcap's snapshot length: the first interface's (0 for the largest).
    snapshot: u32,
    /// Units per second of each interface's timestamps.
    units: Vec<u64>,
}

impl Blocks {
    /// Reads the block at the start of `unread`, which holds no more than `max_block`
    /// bytes of a block.
    pub(super) fn step(&mut self, unread: &[u8], max_block: usize) -> Step {
        let Some(head) = unread.first_chunk::<BLOCK_MIN>() else {
            return Step::Need(BLOCK_MIN);
        };
        let kind = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        // A section's byte order, taken once its header block is whole (below).
        let big_endian = match (kind == SHB, self.big_endian) {
            (false, Some(big_endian)) => big_endian,
            (true, None) => match section_big_endian(head) {
                Some(big_endian) => big_endian,
                None => return Step::Leave,
            },
            // A second section (libpcap's), or blocks before any section.
            _ => return Step::Leave,
        };
        let kind = word(&head[..4], big_endian);
        let len = word(&head[4..8], big_endian) as usize;
        if len < BLOCK_MIN
            || !len.is_multiple_of(4)
            || len > max_block
            || PACKET_BLOCKS_LEFT.contains(&kind)
        {
            return Step::Leave;
        }
        let Some(block) = unread.get(..len) else {
            return Step::Need(len);
        };
        if block[len - 4..] != head[4..8] {
            return Step::Leave; // the trailing length is not the leading one
        }
        // Each block by the parser of its type: the `Block` enum of `parse_block_*` is moved
        // through the stack in pieces, a quarter of a run on the fleet workload.
        match (kind, big_endian) {
            (EPB, _) => self.packet(block, big_endian),
            (IDB, false) => parse_interfacedescriptionblock_le(block)
                .map_or(Step::Leave, |(_, b)| self.interface(&b, len)),
            (IDB, true) => parse_interfacedescriptionblock_be(block)
                .map_or(Step::Leave, |(_, b)| self.interface(&b, len)),
            (SHB, _) => match parse_sectionheaderblock(block) {
                Ok((_, shb)) if shb.major_version == 1 => {
                    self.big_endian = Some(big_endian);
                    Step::Skip(len)
                }
                _ => Step::Leave,
            },
            // Name resolution, statistics, secrets (read before the analysis), custom and
            // unknown blocks carry no packet.
            _ => Step::Skip(len),
        }
    }

    /// An Interface Description Block of `len` bytes.
    fn interface(&mut self, idb: &InterfaceDescriptionBlock<'_>, len: usize) -> Step {
        let linktype = idb.linktype.0 as u32;
        let plain = PLAIN_LINKTYPES.contains(&linktype)
            && self.linktype.is_none_or(|first| first == linktype)
            && idb.if_tsoffset == 0;
        // Decimal resolutions down to nanoseconds; binary ones are libpcap's.
        let units = (idb.if_tsresol <= 9).then(|| 10u64.pow(u32::from(idb.if_tsresol)));
        let Some(units) = units.filter(|_| plain) else {
            return Step::Leave;
        };
        if self.linktype.is_none() {
            self.snapshot = idb.snaplen;
        }
        self.linktype = Some(linktype);
        self.units.push(units);
        Step::Skip(len)
    }

    /// An Enhanced Packet Block, whole.
    ///
    /// Its five fixed fields are read by hand: `pcap-parser`'s parser of the block (which
    /// also collects its options in a vector) took 10 % of a run on the fleet workload,
    /// as much as the analysis of the TCP segments.
    fn packet(&self, block: &[u8], big_endian: bool) -> Step {
        let Some(fixed) = block.get(8..EPB_DATA) else {
            return Step::Leave;
        };
        let field = |i: usize| word(&fixed[i..i + 4], big_endian);
        let (interface, ts_high, ts_low) = (field(0), field(4), field(8));
        let (caplen, wire_len) = (field(12), field(16));
        let Some(&units) = self.units.get(interface as usize) else {
            return Step::Leave;
        };
        let snapshot = match self.snapshot {
            0 => MAX_SNAPLEN,
            s => s.min(MAX_SNAPLEN),
        };
        // The packet, and the trailing length after it.
        if caplen > snapshot || EPB_DATA + caplen as usize + 4 > block.len() {
            return Step::Leave;
        }
        let ticks = u64::from(ts_high) << 32 | u64::from(ts_low);
        // Seconds past 2106 are libpcap's to read as it reads them.
        let Ok(seconds) = u32::try_from(ticks / units) else {
            return Step::Leave;
        };
        let nanos = (ticks % units) * (1_000_000_000 / units);
        Step::Packet(Packet {
            ts: Timestamp::from_parts(i64::from(seconds), nanos as i64),
            caplen,
            wire_len,
            data_at: EPB_DATA,
            block_len: block.len(),
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A pcapng file written block by block, in either byte order.
    pub(crate) struct Ng {
        big_endian: bool,
        out: Vec<u8>,
    }

    impl Ng {
        /// A section: its header block, no options.
        pub(crate) fn new(big_endian: bool) -> Ng {
            let ng = Ng {
                big_endian,
                out: Vec::new(),
            };
            let mut body = ng.u32(0x1a2b_3c4d);
            body.extend(ng.u16(1));
            body.extend(ng.u16(0));
            body.extend([0xff; 8]); // section length unknown
            ng.block(SHB, &body)
        }

        fn u32(&self, v: u32) -> Vec<u8> {
            match self.big_endian {
                true => v.to_be_bytes().to_vec(),
                false => v.to_le_bytes().to_vec(),
            }
        }

        fn u16(&self, v: u16) -> Vec<u8> {
            match self.big_endian {
                true => v.to_be_bytes().to_vec(),
                false => v.to_le_bytes().to_vec(),
            }
        }

        fn block(mut self, kind: u32, body: &[u8]) -> Ng {
            let padded = body.len().div_ceil(4) * 4;
            let len = (12 + padded) as u32;
            let (kind, len) = (self.u32(kind), self.u32(len));
            self.out.extend(&kind);
            self.out.extend(&len);
            self.out.extend(body);
            self.out.resize(self.out.len() + padded - body.len(), 0);
            self.out.extend(&len);
            self
        }

        fn add(&mut self, kind: u32, body: &[u8]) -> &mut Ng {
            let ng = std::mem::replace(self, Ng::empty(self.big_endian));
            *self = ng.block(kind, body);
            self
        }

        fn empty(big_endian: bool) -> Ng {
            Ng {
                big_endian,
                out: Vec::new(),
            }
        }

        /// An interface, with a time resolution option if given.
        pub(crate) fn idb(&mut self, linktype: u16, snaplen: u32, tsresol: Option<u8>) -> &mut Ng {
            let mut body = self.u16(linktype);
            body.extend(self.u16(0));
            body.extend(self.u32(snaplen));
            if let Some(r) = tsresol {
                body.extend(self.u16(9));
                body.extend(self.u16(1));
                body.extend([r, 0, 0, 0]);
                body.extend([0; 4]); // end of options
            }
            self.add(IDB, &body)
        }

        /// A packet on `interface` at `ticks` of its resolution.
        pub(crate) fn epb(&mut self, interface: u32, ticks: u64, data: &[u8]) -> &mut Ng {
            let mut body = self.u32(interface);
            body.extend(self.u32((ticks >> 32) as u32));
            body.extend(self.u32(ticks as u32));
            body.extend(self.u32(data.len() as u32));
            body.extend(self.u32(data.len() as u32 + 4));
            body.extend(data);
            self.add(EPB, &body)
        }

        /// A custom block (no packet).
        pub(crate) fn custom(&mut self) -> &mut Ng {
            let mut body = self.u32(32473); // the example enterprise number
            body.extend(b"dropscope");
            self.add(0x4000_0BAD, &body)
        }

        /// A Decryption Secrets Block of TLS key log text.
        pub(crate) fn dsb(&mut self) -> &mut Ng {
            let text = b"# no session\n";
            let mut body = self.u32(0x544c_534b);
            body.extend(self.u32(text.len() as u32));
            body.extend(text);
            self.add(0x0A, &body)
        }

        pub(crate) fn bytes(&self) -> Vec<u8> {
            self.out.clone()
        }
    }

    /// An Ethernet frame of 60 bytes marked `n`.
    pub(crate) fn frame(n: u8) -> Vec<u8> {
        let mut f = vec![n; 60];
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        f
    }

    /// Every step over `bytes`, until the end or a block left to libpcap.
    fn steps(bytes: &[u8]) -> Vec<Step> {
        let (mut blocks, mut at, mut out) = (Blocks::default(), 0, Vec::new());
        while at < bytes.len() {
            let step = blocks.step(&bytes[at..], 1 << 20);
            match &step {
                Step::Skip(n) => at += n,
                Step::Packet(p) => at += p.block_len,
                Step::Need(_) | Step::Leave => {
                    out.push(step);
                    break;
                }
            }
            out.push(step);
        }
        out
    }

    #[test]
    fn packets_come_with_their_interfaces_time_resolution_in_either_byte_order() {
        for big_endian in [false, true] {
            let mut ng = Ng::new(big_endian);
            ng.idb(1, 0, Some(3)).idb(1, 0, None).custom().dsb();
            ng.epb(0, 1_700_000_000_123, &frame(1))
                .epb(1, 1_700_000_000_000_042, &frame(2));
            let got = steps(&ng.bytes());
            let packets: Vec<(i64, u32, u32)> = got
                .iter()
                .filter_map(|s| match s {
                    Step::Packet(p) => Some((p.ts.0, p.caplen, p.wire_len)),
                    _ => None,
                })
                .collect();
            assert_eq!(
                packets,
                [
                    (1_700_000_000_123_000_000, 60, 64),
                    (1_700_000_000_000_042_000, 60, 64)
                ],
                "big-endian {big_endian}"
            );
            assert_eq!(got.len(), 7, "{got:?}");
        }
    }

    #[test]
    fn a_section_header_read_in_two_pieces_is_still_the_first_section() {
        let mut ng = Ng::new(true);
        ng.idb(1, 0, None);
        let bytes = ng.bytes();
        let mut blocks = Blocks::default();
        assert_eq!(blocks.step(&bytes[..20], 1 << 20), Step::Need(28));
        assert_eq!(blocks.step(&bytes, 1 << 20), Step::Skip(28));
        assert_eq!(blocks.step(&bytes[28..], 1 << 20), Step::Skip(20));
    }

    #[test]
    fn what_libpcap_reads_its_own_way_is_left_to_it() {
        let left = |ng: &Ng| steps(&ng.bytes()).last() == Some(&Step::Leave);
        let mut binary = Ng::new(false);
        binary.idb(1, 0, Some(0x8a)).epb(0, 1, &frame(1));
        let mut other_linktype = Ng::new(false);
        other_linktype.idb(1, 0, None).idb(113, 0, None);
        let mut no_interface = Ng::new(false);
        no_interface.idb(1, 0, None).epb(1, 1, &frame(1));
        let mut over_snaplen = Ng::new(false);
        over_snaplen.idb(1, 59, None).epb(0, 1, &frame(1));
        let mut second = Ng::new(false);
        second.idb(1, 0, None);
        let second = Ng {
            out: [second.bytes(), Ng::new(false).bytes()].concat(),
            big_endian: false,
        };
        let mut simple = Ng::new(false);
        simple.idb(1, 0, None).add(3, &[0, 0, 0, 60]);
        let mut trailer = Ng::new(false);
        trailer.idb(1, 0, None).epb(0, 1, &frame(1));
        let n = trailer.out.len();
        trailer.out[n - 4] ^= 4;
        for (what, ng) in [
            ("binary resolution", &binary),
            ("another link type", &other_linktype),
            ("an unknown interface", &no_interface),
            ("over the snapshot length", &over_snaplen),
            ("a second section", &second),
            ("a simple packet block", &simple),
            ("a trailing length that differs", &trailer),
        ] {
            assert!(left(ng), "{what}: {:?}", steps(&ng.bytes()));
        }
        let mut fine = Ng::new(false);
        fine.idb(1, 60, None).epb(0, 1, &frame(1));
        assert!(!left(&fine));
    }
}
