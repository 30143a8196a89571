//! RFC 6455 framing of one direction: frame headers, payloads unmasked as they arrive, holes.
//!
//! The header parser is written here rather than taken from `tungstenite` (0.30,
//! `FrameHeader::parse`): that parser returns an error *instead of* the header for a reserved
//! opcode (3-7, 11-15), so the payload length is lost and a reader that wants to record the
//! bad opcode and step over the frame cannot; and even with `default-features = false` the
//! crate brings `rand`, `log`, `thiserror` and `bytes` along for a 40-line parse. This one
//! returns every header as it is written and leaves judging it to the caller.

use super::MAX_SCRATCH;

/// Longest header: 2 bytes, an 8-byte length, a 4-byte masking key.
pub(super) const MAX_HEADER: usize = 14;

/// A frame header as written on the wire, not judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Header {
    /// The final fragment of its message.
    pub fin: bool,
    /// RSV1 (permessage-deflate's "compressed" bit on a message's first frame).
    pub rsv1: bool,
    /// RSV2 or RSV3: no extension here defines them.
    pub rsv23: bool,
    /// The 4-bit opcode.
    pub opcode: u8,
    /// The masking key, when the MASK bit is set.
    pub mask: Option<[u8; 4]>,
    /// Payload length.
    pub len: u64,
}

/// Parses a header from the start of `b`: `None` while incomplete, otherwise the header and
/// its length in bytes. Every bit pattern is a header; a 64-bit length with its top bit set
/// (forbidden) is read as written.
pub(super) fn parse_header(b: &[u8]) -> Option<(Header, usize)> {
    let (&b0, &b1) = (b.first()?, b.get(1)?);
    let (len, mut n) = match b1 & 0x7f {
        126 => (u64::from(u16::from_be_bytes([*b.get(2)?, *b.get(3)?])), 4),
        127 => {
            let l: [u8; 8] = b.get(2..10)?.try_into().ok()?;
            (u64::from_be_bytes(l), 10)
        }
        l => (u64::from(l), 2),
    };
    let mask = if b1 & 0x80 != 0 {
        let m: [u8; 4] = b.get(n..n + 4)?.try_into().ok()?;
        n += 4;
        Some(m)
    } else {
        None
    };
    let h = Header {
        fin: b0 & 0x80 != 0,
        rsv1: b0 & 0x40 != 0,
        rsv23: b0 & 0x30 != 0,
        opcode: b0 & 0x0f,
        mask,
        len,
    };
    Some((h, n))
}

/// What the unframer finds, in stream order.
#[derive(Debug)]
pub(super) enum Unit<'a> {
    /// A frame starts.
    Head(Header),
    /// Payload bytes of the current frame, unmasked.
    Body(&'a [u8]),
    /// Payload bytes of the current frame the capture does not hold.
    Hole(u64),
    /// The current frame's payload is complete.
    End,
    /// Bytes lost where a header was due: frame boundaries are unknown from here on, and
    /// this side's frames are no longer read. Carries the bytes lost at this point.
    Lost(u64),
}

/// The frame being read.
#[derive(Debug, Clone, Copy)]
struct Current {
    mask: Option<[u8; 4]>,
    /// Payload bytes still to come.
    left: u64,
    /// Payload bytes already read: the masking key's offset.
    done: u64,
}

/// Splits one direction's bytes into frames. After a hole across a header it stops (see
/// [`Unit::Lost`]): resyncing on a plausible header is not attempted, since payload bytes
/// (MQTT, or masked noise) pass every cheap header check often enough to mislead.
#[derive(Debug, Default)]
pub(super) struct Unframer {
    head: Vec<u8>,
    cur: Option<Current>,
    lost: bool,
    scratch: Vec<u8>,
}

impl Unframer {
    /// Header bytes held while a header is incomplete (at most [`MAX_HEADER`] - 1).
    pub fn buffered(&self) -> usize {
        self.head.len()
    }

    /// Whether sync was lost.
    pub fn is_lost(&self) -> bool {
        self.lost
    }

    /// Reads the next bytes of the stream.
    pub fn data(&mut self, mut bytes: &[u8], f: &mut impl FnMut(Unit<'_>)) {
        if self.lost {
            f(Unit::Lost(bytes.len() as u64));
            return;
        }
        while !bytes.is_empty() {
            bytes = match self.cur {
                Some(cur) => self.body(cur, bytes, f),
                None => self.header(bytes, f),
            };
        }
    }

    /// Bytes of the stream the capture does not hold.
    pub fn gap(&mut self, len: u64, f: &mut impl FnMut(Unit<'_>)) {
        if len == 0 {
            return;
        }
        let Some(cur) = self.cur.as_mut().filter(|_| !self.lost) else {
            self.lose(len, f);
            return;
        };
        let hole = len.min(cur.left);
        cur.left -= hole;
        cur.done += hole;
        f(Unit::Hole(hole));
        if cur.left == 0 {
            self.cur = None;
            f(Unit::End);
        }
        if len > hole {
            self.lose(len - hole, f);
        }
    }

    fn lose(&mut self, len: u64, f: &mut impl FnMut(Unit<'_>)) {
        self.lost = true;
        self.cur = None;
        let held = self.head.len() as u64;
        self.head = Vec::new();
        f(Unit::Lost(len + held));
    }

    /// Takes header bytes; returns what is left of `bytes`.
    fn header<'b>(&mut self, bytes: &'b [u8], f: &mut impl FnMut(Unit<'_>)) -> &'b [u8] {
        let had = self.head.len();
        let take = bytes.len().min(MAX_HEADER - had);
        self.head.extend_from_slice(&bytes[..take]);
        let Some((h, n)) = parse_header(&self.head) else {
            return &bytes[take..];
        };
        self.head.clear();
        f(Unit::Head(h));
        if h.len == 0 {
            f(Unit::End);
        } else {
            self.cur = Some(Current {
                mask: h.mask,
                left: h.len,
                done: 0,
            });
        }
        &bytes[n - had..]
    }

    /// Takes payload bytes of `cur`; returns what is left of `bytes`.
    fn body<'b>(
        &mut self,
        mut cur: Current,
        bytes: &'b [u8],
        f: &mut impl FnMut(Unit<'_>),
    ) -> &'b [u8] {
        let n = usize::try_from(cur.left).map_or(bytes.len(), |l| l.min(bytes.len()));
        let (mine, rest) = bytes.split_at(n);
        match cur.mask {
            None => f(Unit::Body(mine)),
            Some(key) => {
                for piece in mine.chunks(MAX_SCRATCH) {
                    self.scratch.clear();
                    self.scratch.extend(
                        piece
                            .iter()
                            .enumerate()
                            .map(|(i, b)| b ^ key[((cur.done + i as u64) % 4) as usize]),
                    );
                    cur.done += piece.len() as u64;
                    f(Unit::Body(&self.scratch));
                }
            }
        }
        cur.left -= n as u64;
        if cur.left == 0 {
            self.cur = None;
            f(Unit::End);
        } else {
            self.cur = Some(cur);
        }
        rest
    }
}
