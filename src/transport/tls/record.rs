//! One direction of a connection as a sequence of TLS records.
//!
//! Bytes arrive in stream order, split anywhere. Only a record header split across
//! segments, and the body of a non-application record (change_cipher_spec, alert,
//! handshake) that does not sit whole in one segment, are copied; application-data bodies
//! are counted, never copied, unless the connection is being decrypted. A gap inside a record whose length is known keeps sync (the
//! record is reported as cut); a gap elsewhere drops sync until a plausible record header.

use crate::evidence::FrameRef;
use std::cell::Cell;
use tls_parser::{TlsRecordHeader, parse_tls_record_header};

/// The largest record length accepted: 2^14 plaintext plus the 2048 bytes of expansion
/// TLS 1.2 allows (RFC 5246 §6.2.3).
pub const MAX_RECORD: usize = 16384 + 2048;

/// A record header, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Content type (20 change_cipher_spec, 21 alert, 22 handshake, 23 application data,
    /// 24 heartbeat).
    pub ty: u8,
    /// Record-layer version.
    pub version: u16,
    /// Body length.
    pub len: usize,
}

/// What the reader found.
#[derive(Debug)]
pub enum Piece<'a> {
    /// A whole record, reported at the frame that carried its last byte. `body` holds the
    /// bytes of a kept type (20, 21, 22) when none were lost; application data has none.
    Record {
        /// Its header.
        hdr: Header,
        /// Its bytes, for kept types.
        body: Option<&'a [u8]>,
        /// Some of its bytes are not in the capture.
        cut: bool,
        /// The frame of its last byte (or of the gap that ended it).
        at: FrameRef,
    },
    /// Bytes that cannot be a record header: sync lost.
    NotTls(FrameRef),
    /// Sync regained at a plausible record header after bytes were lost.
    Resynced(FrameRef),
}

struct Current {
    hdr: Header,
    remaining: usize,
    keep: bool,
    cut: bool,
}

/// Framing state of one direction.
pub struct RecordReader {
    hdr: [u8; 5],
    hdr_have: usize,
    cur: Option<Current>,
    body: Vec<u8>,
    synced: bool,
}

/// Checks a record header without tls-parser: resync tries it at every byte offset of a
/// segment, where three comparisons are cheaper than a parser call.
fn plausible(b: &[u8]) -> bool {
    b.len() >= 5
        && (20..=24).contains(&b[0])
        && b[1] == 3
        && b[2] <= 4
        && usize::from(u16::from_be_bytes([b[3], b[4]])) <= MAX_RECORD
}

fn checked(b: &[u8; 5]) -> Option<Header> {
    let (_, h): (_, TlsRecordHeader) = parse_tls_record_header(b).ok()?;
    plausible(b).then_some(Header {
        ty: h.record_type.0,
        version: h.version.0,
        len: usize::from(h.len),
    })
}

impl RecordReader {
    /// A reader that starts in sync when the capture holds the connection's start.
    pub fn new(synced: bool) -> Self {
        RecordReader {
            hdr: [0; 5],
            hdr_have: 0,
            cur: None,
            body: Vec::new(),
            synced,
        }
    }

    /// Bytes held for a header or a small record split across segments.
    pub fn buffered(&self) -> usize {
        self.hdr_have + self.body.len()
    }

    /// Takes in-order bytes and reports every record they complete. Application-data
    /// bodies are kept too while `keep_app` is set (the connection is being decrypted); it
    /// is read at every record header, so a callback may set it for the next record.
    pub fn data(
        &mut self,
        mut bytes: &[u8],
        at: FrameRef,
        keep_app: &Cell<bool>,
        out: &mut impl FnMut(Piece<'_>),
    ) {
        while !bytes.is_empty() {
            if !self.synced {
                let Some(i) = (0..bytes.len()).find(|&i| self.resync_at(&bytes[i..])) else {
                    return;
                };
                bytes = &bytes[i..];
                self.synced = true;
                out(Piece::Resynced(at));
            }
            if let Some(cur) = &mut self.cur {
                let take = cur.remaining.min(bytes.len());
                let (now, rest) = bytes.split_at(take);
                bytes = rest;
                cur.remaining -= take;
                let whole_here = cur.keep && self.body.is_empty() && take == cur.hdr.len;
                if cur.keep && !whole_here {
                    self.body.extend_from_slice(now);
                }
                if cur.remaining > 0 {
                    continue;
                }
                let (hdr, keep, cut) = (cur.hdr, cur.keep, cur.cut);
                self.cur = None;
                let body = match (keep, whole_here) {
                    (false, _) => None,
                    (true, true) => Some(now),
                    (true, false) => Some(&self.body[..]),
                };
                out(Piece::Record { hdr, body, cut, at });
                self.body.clear();
                continue;
            }
            let take = (5 - self.hdr_have).min(bytes.len());
            self.hdr[self.hdr_have..self.hdr_have + take].copy_from_slice(&bytes[..take]);
            self.hdr_have += take;
            bytes = &bytes[take..];
            if self.hdr_have < 5 {
                return;
            }
            self.hdr_have = 0;
            let Some(hdr) = checked(&self.hdr) else {
                self.synced = false;
                out(Piece::NotTls(at));
                continue;
            };
            let keep = hdr.ty != 24 && (hdr.ty != 23 || keep_app.get());
            if hdr.len == 0 {
                out(Piece::Record {
                    hdr,
                    body: keep.then_some(&[][..]),
                    cut: false,
                    at,
                });
            } else {
                self.cur = Some(Current {
                    hdr,
                    remaining: hdr.len,
                    keep,
                    cut: false,
                });
            }
        }
    }

    /// A header candidate after lost bytes: plausible, and when the next header is in the
    /// same slice, that one too (ciphertext makes a false start about 1 in 10^7 per byte;
    /// two in a row, never in practice).
    fn resync_at(&self, b: &[u8]) -> bool {
        if !plausible(b) {
            return false;
        }
        let next = 5 + usize::from(u16::from_be_bytes([b[3], b[4]]));
        b.len() < next + 5 || plausible(&b[next..])
    }

    /// `len` bytes of this direction are not in the capture.
    pub fn gap(&mut self, len: u64, at: FrameRef, out: &mut impl FnMut(Piece<'_>)) {
        if !self.synced {
            return;
        }
        if let Some(cur) = &mut self.cur {
            // Bodies of kept records are useless once cut; application records keep counting.
            cur.cut = true;
            cur.keep = false;
            self.body.clear();
            if len <= cur.remaining as u64 {
                cur.remaining -= len as usize;
                if cur.remaining == 0 {
                    let hdr = cur.hdr;
                    self.cur = None;
                    out(Piece::Record {
                        hdr,
                        body: None,
                        cut: true,
                        at,
                    });
                }
                return;
            }
            let hdr = cur.hdr;
            out(Piece::Record {
                hdr,
                body: None,
                cut: true,
                at,
            });
        }
        self.cur = None;
        self.hdr_have = 0;
        self.body.clear();
        self.synced = false;
    }
}
