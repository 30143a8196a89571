//! The fast path for plain capture files, classic pcap and pcapng: records parsed in place
//! from a large read buffer instead of libpcap's `fread`s and one copy per record through a
//! 4 KB stdio buffer. On the benchmark capture (benches/) this is most of the difference
//! between libpcap's pace and a plain read loop's; on the fleet workload as pcapng, libpcap
//! took 2.25 × the read loop's time on one thread.
//!
//! It only takes the well-formed case. The first record that is not plainly whole and
//! within the snapshot length (a file cut mid-record, a damaged length; for pcapng, see
//! `ng_blocks`) is left to libpcap, which the caller then reads from that record on, so
//! errors, their wording and the frame count stay exactly libpcap's.

use super::LentBuffer;
use super::ng_blocks::{self, Blocks, Step};
use crate::time::Timestamp;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// libpcap's largest snapshot length for the link types taken here (MAXIMUM_SNAPLEN).
pub(super) const MAX_SNAPLEN: u32 = 262_144;
/// Read size: large enough that a read syscall costs little per byte (64 KB to 4 MB measured
/// the same on the benchmark) and always room for one whole record of the largest size.
const BUF_SIZE: usize = 16 + MAX_SNAPLEN as usize + 256 * 1024;
/// The longest pcapng block taken: one that fits the buffer.
const MAX_BLOCK: usize = BUF_SIZE;
/// Link types whose records libpcap hands over untouched (no pseudo-header byte swapping).
pub(super) const PLAIN_LINKTYPES: [u32; 9] = [0, 1, 12, 101, 108, 113, 228, 229, 276];
/// Buffers kept for reuse while frames of others are held: more than the two-thread
/// pipeline keeps in flight (`engine::pipeline`), so it never allocates once running.
const SPARE_BUFFERS: usize = 24;

/// What the next call found.
pub(super) enum Next {
    /// A whole record; its bytes are [`FastPcap::bytes`].
    Record(Record),
    /// The file ends cleanly after the last record.
    End,
    /// A record this reader does not take: libpcap reads on from here.
    LeaveToLibpcap,
}

/// One record's header fields.
pub(super) struct Record {
    pub ts: Timestamp,
    pub caplen: u32,
    pub wire_len: u32,
    /// Where the captured bytes start in the buffer.
    start: usize,
}

/// A capture file read record by record.
pub(super) struct FastPcap {
    file: File,
    buf: LentBuffer,
    /// Buffers read earlier, to read into again once nobody holds them.
    spare: Vec<LentBuffer>,
    /// Unread bytes are `buf[pos..end]`.
    pos: usize,
    end: usize,
    layout: Layout,
    eof: bool,
}

/// The file's format, and what reading its records needs.
enum Layout {
    /// Classic pcap: what its 24-byte header says.
    Classic(Header),
    /// pcapng: what its blocks said so far.
    Ng(Blocks),
}

/// What a classic pcap file's 24-byte header says, when this reader takes the file.
#[derive(Clone, Copy)]
struct Header {
    big_endian: bool,
    nanos: bool,
    snaplen: u32,
}

impl Layout {
    /// Reads the start of `file`: a classic pcap file this reader takes (left just after
    /// its header), or a pcapng file (left at its start, the Section Header Block being read
    /// as a block); `None` for anything else.
    fn read(file: &mut File) -> Option<Layout> {
        let mut magic = [0u8; 4];
        file.read_exact(&mut magic).ok()?;
        if u32::from_le_bytes(magic) == ng_blocks::SHB {
            file.seek(SeekFrom::Start(0)).ok()?;
            return Some(Layout::Ng(Blocks::default()));
        }
        Header::read(magic, file).map(Layout::Classic)
    }
}

impl Header {
    /// Reads the rest of the header of `file` after its `magic`: a plain classic pcap file
    /// this reader takes (version 2.4, micro- or nanosecond magic in either byte order, a
    /// link type libpcap passes through, a sane snapshot length), or `None`.
    fn read(magic: [u8; 4], file: &mut File) -> Option<Header> {
        let mut header = [0u8; 24];
        header[..4].copy_from_slice(&magic);
        file.read_exact(&mut header[4..]).ok()?;
        let (big_endian, nanos) = match header[..4] {
            [0xd4, 0xc3, 0xb2, 0xa1] => (false, false),
            [0x4d, 0x3c, 0xb2, 0xa1] => (false, true),
            [0xa1, 0xb2, 0xc3, 0xd4] => (true, false),
            [0xa1, 0xb2, 0x3c, 0x4d] => (true, true),
            _ => return None,
        };
        let u16_at = |at: usize| {
            let b = [header[at], header[at + 1]];
            if big_endian {
                u16::from_be_bytes(b)
            } else {
                u16::from_le_bytes(b)
            }
        };
        let u32_at = |at: usize| word(&header[at..at + 4], big_endian);
        let (major, minor) = (u16_at(4), u16_at(6));
        let snaplen = u32_at(16);
        let linktype = u32_at(20);
        let taken = (major, minor) == (2, 4)
            && PLAIN_LINKTYPES.contains(&linktype)
            && snaplen > 0
            && snaplen <= MAX_SNAPLEN;
        taken.then_some(Header {
            big_endian,
            nanos,
            snaplen,
        })
    }
}

/// Whether `path` is a regular file this reader takes: one that can be read again, each
/// time a pass over the page cache without decompression or libpcap.
pub(super) fn takes(path: &Path) -> bool {
    super::file::is_regular(path)
        && File::open(path).is_ok_and(|mut file| Layout::read(&mut file).is_some())
}

impl FastPcap {
    /// Opens `path` if it is a classic pcap file this reader takes (see `Header`) or a
    /// pcapng file; `None` leaves the file to libpcap.
    pub fn open(path: &Path) -> Option<FastPcap> {
        let mut file = File::open(path).ok()?;
        let layout = Layout::read(&mut file)?;
        Some(FastPcap {
            file,
            buf: LentBuffer::zeroed(BUF_SIZE),
            spare: Vec::new(),
            pos: 0,
            end: 0,
            layout,
            eof: false,
        })
    }

    /// The next record and its captured bytes.
    pub fn next(&mut self) -> Next {
        match &self.layout {
            &Layout::Classic(header) => self.next_record(header),
            Layout::Ng(_) => self.next_packet_block(),
        }
    }

    /// The end of the file where a record would start: cleanly at its end, or left to
    /// libpcap with a piece of a record.
    fn ended(&self) -> Next {
        if self.pos == self.end {
            Next::End
        } else {
            Next::LeaveToLibpcap
        }
    }

    /// `next` for a classic pcap file.
    fn next_record(&mut self, header: Header) -> Next {
        let Header {
            big_endian,
            nanos,
            snaplen,
        } = header;
        if !self.fill(16) {
            return self.ended();
        }
        let h = &self.buf.bytes()[self.pos..self.pos + 16];
        let sec = word(&h[0..4], big_endian);
        let frac = word(&h[4..8], big_endian);
        let caplen = word(&h[8..12], big_endian);
        let wire_len = word(&h[12..16], big_endian);
        if caplen > snaplen {
            return Next::LeaveToLibpcap;
        }
        let total = 16 + caplen as usize;
        if !self.fill(total) {
            return Next::LeaveToLibpcap;
        }
        let start = self.pos + 16;
        self.pos += total;
        // libpcap's timestamp fields are unsigned 32-bit; with nanosecond precision
        // requested it scales microseconds by 1000.
        let nanos = i64::from(frac) * if nanos { 1 } else { 1000 };
        Next::Record(Record {
            ts: Timestamp::from_parts(i64::from(sec), nanos),
            caplen,
            wire_len,
            start,
        })
    }

    /// `next` for a pcapng file: blocks stepped over up to the next packet.
    fn next_packet_block(&mut self) -> Next {
        let mut want = ng_blocks::BLOCK_MIN;
        loop {
            if !self.fill(want) {
                return self.ended();
            }
            let Layout::Ng(blocks) = &mut self.layout else {
                return Next::LeaveToLibpcap;
            };
            match blocks.step(&self.buf.bytes()[self.pos..self.end], MAX_BLOCK) {
                Step::Need(n) => want = n,
                Step::Skip(n) => {
                    self.pos += n;
                    want = ng_blocks::BLOCK_MIN;
                }
                Step::Packet(p) => {
                    let start = self.pos + p.data_at;
                    self.pos += p.block_len;
                    return Next::Record(Record {
                        ts: p.ts,
                        caplen: p.caplen,
                        wire_len: p.wire_len,
                        start,
                    });
                }
                Step::Leave => return Next::LeaveToLibpcap,
            }
        }
    }

    /// The captured bytes of the record `next` just returned.
    pub fn bytes(&self, r: &Record) -> &[u8] {
        &self.buf.bytes()[r.start..r.start + r.caplen as usize]
    }

    /// The buffer the bytes lie in, for a caller that keeps them past the next call.
    pub fn lent(&self) -> &LentBuffer {
        &self.buf
    }

    /// Makes `want` unread bytes available; false if the file ends first.
    #[inline]
    fn fill(&mut self, want: usize) -> bool {
        self.end - self.pos >= want || self.refill(want)
    }

    /// `fill` when the buffer runs short: the unread bytes moved to its start (to another
    /// buffer's if frames of this one are still held), then reads.
    #[cold]
    fn refill(&mut self, want: usize) -> bool {
        let unread = self.pos..self.end;
        self.end -= self.pos;
        self.pos = 0;
        // Frames of this buffer still held: read on in another one.
        let held = self.buf.writable().is_none().then(|| {
            let free = self.free_buffer();
            std::mem::replace(&mut self.buf, free)
        });
        let Some(buf) = self.buf.writable() else {
            return false;
        };
        match &held {
            Some(held) => buf[..unread.len()].copy_from_slice(&held.bytes()[unread]),
            None => buf.copy_within(unread, 0),
        }
        while self.end < want && !self.eof {
            match self.file.read(&mut buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(n) => self.end += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => self.eof = true,
            }
        }
        if let Some(held) = held
            && self.spare.len() < SPARE_BUFFERS
        {
            self.spare.push(held);
        }
        self.end >= want
    }

    /// A spare buffer nobody holds any more, or a new one.
    fn free_buffer(&mut self) -> LentBuffer {
        match self.spare.iter_mut().position(|b| b.writable().is_some()) {
            Some(i) => self.spare.swap_remove(i),
            None => LentBuffer::zeroed(BUF_SIZE),
        }
    }
}

/// A 32-bit field of a capture file in its byte order (`b` holds at least 4 bytes).
pub(super) fn word(b: &[u8], big_endian: bool) -> u32 {
    let b = [b[0], b[1], b[2], b[3]];
    if big_endian {
        u32::from_be_bytes(b)
    } else {
        u32::from_le_bytes(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capture(big_endian: bool, nanos: bool, records: &[(u32, u32, &[u8])]) -> Vec<u8> {
        capture_with(big_endian, nanos, 96, records)
    }

    fn capture_with(
        big_endian: bool,
        nanos: bool,
        snaplen: u32,
        records: &[(u32, u32, &[u8])],
    ) -> Vec<u8> {
        let w32 = |v: u32| {
            if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let w16 = |v: u16| {
            if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let mut out = Vec::new();
        out.extend(w32(if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 }));
        out.extend(w16(2));
        out.extend(w16(4));
        out.extend([0; 8]);
        out.extend(w32(snaplen));
        out.extend(w32(1)); // Ethernet
        for (sec, frac, data) in records {
            out.extend(w32(*sec));
            out.extend(w32(*frac));
            out.extend(w32(data.len() as u32));
            out.extend(w32(data.len() as u32 + 10));
            out.extend(*data);
        }
        out
    }

    /// Reads every record of the capture `bytes`, handing each to `keep`.
    fn read_with(bytes: &[u8], mut keep: impl FnMut(&FastPcap, &Record)) -> bool {
        let dir = std::env::temp_dir().join(format!("dropscope-fast-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = dir.join(format!("{n}.pcap"));
        std::fs::write(&path, bytes).unwrap();
        let mut r = FastPcap::open(&path).expect("taken");
        let clean = loop {
            match r.next() {
                Next::Record(rec) => keep(&r, &rec),
                Next::End => break true,
                Next::LeaveToLibpcap => break false,
            }
        };
        std::fs::remove_file(&path).unwrap();
        clean
    }

    fn read_all(bytes: &[u8]) -> (Vec<(i64, u32, Vec<u8>)>, bool) {
        let mut got = Vec::new();
        let clean = read_with(bytes, |r, rec| {
            got.push((rec.ts.0, rec.wire_len, r.bytes(rec).to_vec()))
        });
        (got, clean)
    }

    #[test]
    fn frames_held_by_their_buffer_outlive_the_reads_after_them() {
        // Records of distinct bytes, several buffers' worth: every frame is kept by holding
        // its buffer, as the two-thread pipeline does, and read back after the whole file.
        let datas: Vec<Vec<u8>> = (0..40u32)
            .map(|i| vec![i as u8; 30_000 + i as usize * 1_000])
            .collect();
        let records: Vec<(u32, u32, &[u8])> = datas.iter().map(|d| (1, 0, &d[..])).collect();
        let bytes = capture_with(false, false, MAX_SNAPLEN, &records);
        let mut held = Vec::new();
        let clean = read_with(&bytes, |r, rec| {
            let data = r.bytes(rec);
            let start = r.lent().offset_of(data).expect("in the lent buffer");
            held.push((r.lent().clone(), start, data.len()));
        });
        assert!(clean);
        let back: Vec<&[u8]> = held
            .iter()
            .map(|(buf, start, len)| &buf.bytes()[*start..start + len])
            .collect();
        assert_eq!(back, datas.iter().map(Vec::as_slice).collect::<Vec<_>>());
        let distinct = (1..held.len())
            .filter(|&i| !held[i].0.is(&held[i - 1].0))
            .count();
        assert!(distinct >= 2, "the file spans several buffers");
    }

    #[test]
    fn reads_both_byte_orders_and_precisions() {
        for big_endian in [false, true] {
            for nanos in [false, true] {
                let bytes = capture(big_endian, nanos, &[(7, 5, b"abc"), (8, 0, b"")]);
                let (got, clean) = read_all(&bytes);
                let scale = if nanos { 1 } else { 1000 };
                assert!(clean);
                assert_eq!(
                    got,
                    [
                        (7_000_000_000 + 5 * scale, 13, b"abc".to_vec()),
                        (8_000_000_000, 10, Vec::new())
                    ]
                );
            }
        }
    }

    #[test]
    fn leaves_cut_and_oversized_records_to_libpcap() {
        let mut cut = capture(false, false, &[(1, 0, b"abcd")]);
        cut.truncate(cut.len() - 1);
        assert_eq!(read_all(&cut), (Vec::new(), false));
        let long = [0u8; 97]; // over the snaplen of 96
        let over = capture(false, false, &[(1, 0, b"ok"), (2, 0, &long)]);
        let (got, clean) = read_all(&over);
        assert_eq!((got.len(), clean), (1, false));
    }

    #[test]
    fn takes_records_of_the_largest_snapshot_length() {
        let big = vec![7u8; MAX_SNAPLEN as usize];
        let records: Vec<(u32, u32, &[u8])> = (0..3).map(|i| (i, 0, &big[..])).collect();
        let (got, clean) = read_all(&capture_with(false, false, MAX_SNAPLEN, &records));
        assert!(clean);
        assert_eq!(got.len(), 3);
        assert!(got.iter().all(|(_, _, data)| data == &big));
    }
}
