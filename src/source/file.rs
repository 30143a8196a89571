//! One capture file: plain classic pcap and pcapng through the fast reader (`fast`),
//! everything else (gzip, standard input, a damaged record onwards) through libpcap.

use super::fast::{FastPcap, Next};
use super::stream::{self, Feed, Sniffed, StreamStop};
use super::{Frame, ReadWarning, SourceError};
use crate::time::Timestamp;
use pcap::{Capture, Offline, Precision};
use std::fs::File;
use std::io::{IsTerminal, Read};
use std::os::fd::{IntoRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::mpsc::Receiver;

/// The on-disk format, from the file's magic number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Classic libpcap format.
    Pcap,
    /// pcapng.
    Pcapng,
    /// Something else (libpcap will say what it thinks).
    Unknown,
}

/// A capture file being read, with the bookkeeping needed to say where it broke.
pub struct CaptureFile {
    path: PathBuf,
    capture: Capture<Offline>,
    format: Format,
    /// A plain file that can be opened again: read by the fast path, and searched for
    /// where it broke (a gzip file or a stream cannot be).
    rereadable: bool,
    linktype: u32,
    frames: u64,
    /// Byte offset of the next record, tracked from record sizes for classic pcap.
    offset: u64,
    /// Set once reading stopped early.
    warning: Option<ReadWarning>,
    filter: Option<pcap::BpfProgram>,
    /// The fast path for plain classic pcap; `None` once libpcap reads (see `fast`).
    fast: Option<FastPcap>,
    /// The thread feeding a gzip file or a stream into libpcap. Declared after `capture`
    /// so that it is dropped (stopped and joined) after libpcap's end of the socket is closed.
    feed: Option<Feed>,
    /// libpcap's descriptor of a fed capture's socket (open while `capture` lives).
    fed_fd: Option<RawFd>,
}

const PCAP_FILE_HEADER: u64 = 24;
const PCAP_RECORD_HEADER: u64 = 16;

/// The capture name that stands for standard input.
pub const STDIN: &str = "-";

impl CaptureFile {
    /// Opens a pcap or pcapng file, gzip-compressed or not (told by its magic, not its name);
    /// `-` reads standard input.
    pub fn open(path: &Path, filter: Option<&str>) -> Result<CaptureFile, SourceError> {
        if path == Path::new(STDIN) {
            return CaptureFile::open_stdin(filter);
        }
        let io = |source| SourceError::Io {
            path: path.to_path_buf(),
            source,
        };
        if !is_regular(path) {
            // A named pipe (or a device) can be read once only: opened a second time, its
            // bytes would be split between two readers. Read it as a stream.
            let pipe = File::open(path).map_err(io)?;
            return CaptureFile::open_stream(path, Box::new(pipe), filter);
        }
        let (format, gzipped) = file_format(path).map_err(io)?;
        if gzipped {
            let sniffed = Sniffed {
                format,
                reader: Box::new(flate2::read::MultiGzDecoder::new(
                    File::open(path).map_err(io)?,
                )),
            };
            return CaptureFile::open_fed(path, sniffed, Fed::GzipFile, filter);
        }
        let capture = Capture::from_file_with_precision(path, Precision::Nano)
            .map_err(|e| not_a_capture(path, &e))?;
        let mut file = CaptureFile::with(path, capture, format, filter)?;
        file.rereadable = true;
        file.fast = FastPcap::open(path);
        Ok(file)
    }

    /// Opens a capture that arrives through `reader` (pcap or pcapng, gzip-compressed or
    /// not), read once from start to end, named `name`: a file followed as it grows, say.
    /// The TLS secrets of a pcapng stream are taken out on the way ([`Self::take_secrets`]).
    pub fn open_stream(
        name: &Path,
        reader: Box<dyn Read + Send>,
        filter: Option<&str>,
    ) -> Result<CaptureFile, SourceError> {
        let sniffed = stream::sniff(reader).map_err(|source| SourceError::Io {
            path: name.to_path_buf(),
            source,
        })?;
        CaptureFile::open_fed(name, sniffed, Fed::Stream, filter)
    }

    fn open_stdin(filter: Option<&str>) -> Result<CaptureFile, SourceError> {
        let stdin = std::io::stdin();
        if stdin.is_terminal() {
            return Err(SourceError::BadInput(
                "standard input is a terminal: pipe a capture into it (tcpdump -U -w - | dropscope analyze -)".into(),
            ));
        }
        let name = Path::new(STDIN);
        let sniffed = stream::sniff(Box::new(stdin)).map_err(|source| SourceError::Io {
            path: name.to_path_buf(),
            source,
        })?;
        CaptureFile::open_fed(name, sniffed, Fed::Stdin, filter)
    }

    /// Opens a capture fed through a socket by a thread (see `stream`).
    fn open_fed(
        path: &Path,
        sniffed: Sniffed,
        fed: Fed,
        filter: Option<&str>,
    ) -> Result<CaptureFile, SourceError> {
        let thread_name = format!(
            "{} {}",
            fed.thread_prefix(),
            path.file_name().unwrap_or_default().to_string_lossy()
        );
        let format = sniffed.format;
        // A file's secrets are read by the pre-pass (`secrets`), a stream's on the way. A
        // read of standard input cannot be interrupted: its thread is not joined.
        let (secrets, join) = (fed != Fed::GzipFile, fed != Fed::Stdin);
        let (reader, feed) =
            stream::feed(sniffed, thread_name, secrets, join).map_err(|source| {
                SourceError::Io {
                    path: path.to_path_buf(),
                    source,
                }
            })?;
        let fd = reader.into_raw_fd();
        // SAFETY: `fd` is a fresh socket read end owned by nobody else; libpcap takes it over.
        let capture = unsafe { Capture::from_raw_fd_with_precision(fd, Precision::Nano) }
            .map_err(|e| not_a_capture(path, &e))?;
        let mut file = CaptureFile::with(path, capture, format, filter)?;
        file.feed = Some(feed);
        file.fed_fd = Some(fd);
        Ok(file)
    }

    fn with(
        path: &Path,
        capture: Capture<Offline>,
        format: Format,
        filter: Option<&str>,
    ) -> Result<CaptureFile, SourceError> {
        let linktype = capture.get_datalink().0 as u32;
        let filter = match filter {
            Some(text) => Some(compile_filter(&capture, text)?),
            None => None,
        };
        Ok(CaptureFile {
            path: path.to_path_buf(),
            capture,
            format,
            rereadable: false,
            linktype,
            frames: 0,
            offset: PCAP_FILE_HEADER,
            warning: None,
            filter,
            fast: None,
            feed: None,
            fed_fd: None,
        })
    }

    /// The TLS key logs found in a pcapng stream's Decryption Secrets Blocks, in stream
    /// order; each is sent before the frames that follow it are read. `None` for a file
    /// (read them with [`super::pcapng_tls_key_logs`]) or when already taken.
    pub fn take_secrets(&mut self) -> Option<Receiver<Vec<u8>>> {
        self.feed.as_mut()?.secrets.take()
    }

    /// Whether reading on would wait for a stream's writer: nothing is waiting in the socket
    /// (libpcap may still hold whole records in its own buffer). Always false for a file.
    pub fn stream_is_dry(&self) -> bool {
        let Some(fd) = self.fed_fd else {
            return false;
        };
        let mut poll = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd for the call; the descriptor is open while `capture` lives.
        let ready = unsafe { libc::poll(&mut poll, 1, 0) };
        ready == 0
    }

    /// For a stream: a handle that ends it from another thread (a blocked read returns).
    pub fn stopper(&self) -> Option<std::io::Result<StreamStop>> {
        let (feed, fd) = (self.feed.as_ref()?, self.fed_fd?);
        // SAFETY: the descriptor is libpcap's, open while `self.capture` lives; it is only
        // borrowed here to be duplicated.
        let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
        Some(feed.stopper(fd))
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's link-layer type.
    pub fn linktype(&self) -> u32 {
        self.linktype
    }

    /// Frames read so far.
    pub fn frames_read(&self) -> u64 {
        self.frames
    }

    /// Why reading stopped early, if it did.
    pub fn take_warning(&mut self) -> Option<ReadWarning> {
        self.warning.take()
    }

    /// Reads the next frame. `number` is the frame number to give it; frames that the
    /// filter rejects are still read (and so still numbered by the caller) but come back
    /// with `passes = false`.
    pub fn next_frame(&mut self, number: u64) -> Option<(Frame<'_>, bool)> {
        if self.warning.is_some() {
            return None;
        }
        match self.fast.as_mut().map(FastPcap::next) {
            Some(Next::Record(r)) => {
                self.frames += 1;
                if self.format == Format::Pcap {
                    self.offset += PCAP_RECORD_HEADER + u64::from(r.caplen);
                }
                let fast = self.fast.as_ref()?;
                let data = fast.bytes(&r);
                let passes = self.filter.as_ref().is_none_or(|f| f.filter(data));
                let frame = Frame {
                    number,
                    ts: r.ts,
                    linktype: self.linktype,
                    data,
                    wire_len: r.wire_len,
                    lent: Some(fast.lent()),
                };
                return Some((frame, passes));
            }
            Some(Next::End) => return None,
            Some(Next::LeaveToLibpcap) => self.leave_to_libpcap(),
            None => {}
        }
        self.next_from_libpcap(number)
    }

    /// The fast path gives up at this record: libpcap reads on from it, stepped over the
    /// records already read.
    #[cold]
    fn leave_to_libpcap(&mut self) {
        self.fast = None;
        for _ in 0..self.frames {
            if self.capture.next_packet().is_err() {
                break;
            }
        }
    }

    /// `next_frame` through libpcap (pcapng, gzip, standard input, and what the fast path
    /// left), kept out of the fast path's way.
    #[inline(never)]
    fn next_from_libpcap(&mut self, number: u64) -> Option<(Frame<'_>, bool)> {
        let packet = match self.capture.next_packet() {
            Ok(p) => p,
            Err(pcap::Error::NoMorePackets) => return None,
            Err(e) => {
                let offset = match self.format {
                    Format::Pcap => Some(self.offset),
                    Format::Pcapng if self.rereadable => pcapng_fault(&self.path, self.frames),
                    _ => None,
                };
                self.warning = Some(ReadWarning {
                    file: self.path.display().to_string(),
                    offset,
                    frames_read: self.frames,
                    message: e.to_string(),
                });
                return None;
            }
        };
        self.frames += 1;
        let caplen = packet.header.caplen;
        self.offset += PCAP_RECORD_HEADER + u64::from(caplen);
        let ts = Timestamp::from_parts(
            packet.header.ts.tv_sec,
            // With nanosecond precision libpcap puts nanoseconds in tv_usec.
            packet.header.ts.tv_usec,
        );
        let passes = self.filter.as_ref().is_none_or(|f| f.filter(packet.data));
        let frame = Frame {
            number,
            ts,
            linktype: self.linktype,
            data: packet.data,
            wire_len: packet.header.len,
            lent: None,
        };
        Some((frame, passes))
    }
}

/// Whether `path` is a regular file (or a link to one), which can be opened and read again.
pub(super) fn is_regular(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file())
}

/// A capture file's format from its magic number, looking inside gzip; and whether it is
/// gzip-compressed.
pub(super) fn file_format(path: &Path) -> std::io::Result<(Format, bool)> {
    let mut file = File::open(path)?;
    let mut magic = [0u8; 4];
    let got = read_prefix(&mut file, &mut magic)?;
    Ok(if got >= 2 && magic[..2] == [0x1f, 0x8b] {
        (sniff_gzip_format(path), true)
    } else {
        (format_of(&magic[..got]), false)
    })
}

fn read_prefix(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match file.read(&mut buf[got..])? {
            0 => break,
            n => got += n,
        }
    }
    Ok(got)
}

pub(super) fn format_of(magic: &[u8]) -> Format {
    match magic {
        [0xa1, 0xb2, 0xc3, 0xd4]
        | [0xd4, 0xc3, 0xb2, 0xa1]
        | [0xa1, 0xb2, 0x3c, 0x4d]
        | [0x4d, 0x3c, 0xb2, 0xa1] => Format::Pcap,
        [0x0a, 0x0d, 0x0d, 0x0a] => Format::Pcapng,
        _ => Format::Unknown,
    }
}

/// Where a plain pcapng file that libpcap stopped reading is at fault: the first block after
/// the `frames` packet blocks read whose length is impossible (under 12, not a multiple of 4,
/// over libpcap's 16 MB limit, past the end of the file, or not repeated at the block's end),
/// else the block after the last packet read. libpcap does not tell where it stopped.
fn pcapng_fault(path: &Path, frames: u64) -> Option<u64> {
    const MAX_BLOCK: u64 = 16 << 20;
    let raw = std::fs::read(path).ok()?;
    let word = |at: u64, big: bool| -> Option<u32> {
        let at = usize::try_from(at).ok()?;
        let b: [u8; 4] = raw.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(if big {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    };
    let (mut off, mut big, mut packets) = (0u64, false, 0u64);
    let mut after_last_read = None;
    while off < raw.len() as u64 {
        let kind = word(off, big).unwrap_or(0);
        if kind == 0x0A0D_0D0A {
            // A section header: its byte-order magic says how to read the section.
            big = word(off + 8, false)? == 0x4D3C_2B1A;
        }
        let len = u64::from(word(off + 4, big).unwrap_or(0));
        let fits = off + len <= raw.len() as u64;
        if len < 12
            || len % 4 != 0
            || len > MAX_BLOCK
            || !fits
            || word(off + len - 4, big)? != len as u32
        {
            return Some(off);
        }
        if matches!(kind, 2 | 3 | 6) {
            packets += 1;
            if packets == frames {
                after_last_read = Some(off + len);
            }
        }
        off += len;
    }
    after_last_read.or((frames == 0).then_some(0))
}

fn sniff_gzip_format(path: &Path) -> Format {
    let Ok(file) = File::open(path) else {
        return Format::Unknown;
    };
    let mut magic = [0u8; 4];
    let mut decoder = flate2::read::MultiGzDecoder::new(file);
    match decoder.read_exact(&mut magic) {
        Ok(()) => format_of(&magic),
        Err(_) => Format::Unknown,
    }
}

/// Compiles a BPF filter for this capture's link type. It is applied by libpcap per frame
/// after the frame is numbered, so frame numbers do not drift from Wireshark's.
fn compile_filter(capture: &Capture<Offline>, text: &str) -> Result<pcap::BpfProgram, SourceError> {
    capture
        .compile(text, true)
        .map_err(|e| SourceError::BadFilter {
            filter: text.to_string(),
            reason: e.to_string(),
        })
}

/// What a fed capture is fed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fed {
    /// A gzip-compressed file, decompressed.
    GzipFile,
    /// A reader given by the caller.
    Stream,
    /// Standard input.
    Stdin,
}

impl Fed {
    /// The start of the feeding thread's name.
    fn thread_prefix(self) -> &'static str {
        match self {
            Fed::GzipFile => "gz",
            Fed::Stream => "stream",
            Fed::Stdin => "stdin",
        }
    }
}

fn not_a_capture(path: &Path, e: &pcap::Error) -> SourceError {
    SourceError::NotACapture {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame as read: time, link type, wire length, bytes.
    type FrameRead = (i64, u32, u32, Vec<u8>);

    /// Every frame of `path`, and the warning, read by the fast path where it takes the
    /// file, or by libpcap alone.
    fn frames_of(path: &Path, fast: bool) -> (Vec<FrameRead>, Option<String>) {
        let mut file = match CaptureFile::open(path, None) {
            Ok(file) => file,
            Err(e) => return (Vec::new(), Some(e.to_string())),
        };
        if !fast {
            file.fast = None;
        }
        let mut frames = Vec::new();
        let mut number = 1;
        while let Some((f, _)) = file.next_frame(number) {
            frames.push((f.ts.0, f.linktype, f.wire_len, f.data.to_vec()));
            number += 1;
        }
        (frames, file.take_warning().map(|w| w.to_string()))
    }

    /// The capture files of the repository and the generated pcapng corner cases.
    fn captures() -> Vec<PathBuf> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut out = Vec::new();
        let mut dirs = vec![root.join("captures"), root.join("tests/corrupt")];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path
                    .extension()
                    .is_some_and(|e| e == "pcap" || e == "pcapng")
                {
                    out.push(path);
                }
            }
        }
        out.sort();
        out
    }

    /// The fast reader gives what libpcap gives, frame for frame, and the same warning, on
    /// every classic pcap and pcapng file of the repository (damaged ones among them).
    #[test]
    fn the_fast_reader_reads_every_capture_as_libpcap_does() {
        let files = captures();
        assert!(
            files
                .iter()
                .filter(|p| p.extension().unwrap() == "pcapng")
                .count()
                >= 30
        );
        for path in files {
            let (fast, fast_warning) = frames_of(&path, true);
            let (slow, slow_warning) = frames_of(&path, false);
            assert_eq!(fast.len(), slow.len(), "{}", path.display());
            assert!(fast == slow, "{}: frames differ", path.display());
            assert_eq!(fast_warning, slow_warning, "{}", path.display());
        }
    }

    /// pcapng corner cases, each read by the fast path and by libpcap alone: the same
    /// frames, however much of the file the fast path took.
    #[test]
    fn pcapng_corner_cases_read_as_libpcap_reads_them() {
        use crate::source::ng_blocks::tests::{Ng, frame};
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("milliseconds, two interfaces, skipped blocks", {
                let mut ng = Ng::new(false);
                ng.idb(1, 0, Some(3)).idb(1, 0, Some(9)).custom();
                ng.epb(0, 1_700_000_000_123, &frame(1)).epb(
                    1,
                    1_700_000_000_123_456_789,
                    &frame(2),
                );
                ng.dsb().epb(0, 1_700_000_001_000, &frame(3)).bytes()
            }),
            ("big-endian", {
                let mut ng = Ng::new(true);
                ng.idb(1, 65535, None)
                    .epb(0, 1_700_000_000_000_001, &frame(4))
                    .bytes()
            }),
            ("a second section", {
                let mut ng = Ng::new(false);
                ng.idb(1, 0, None).epb(0, 5, &frame(5));
                let mut second = Ng::new(false);
                second.idb(1, 0, None).epb(0, 6, &frame(6));
                [ng.bytes(), second.bytes()].concat()
            }),
            ("a binary resolution", {
                let mut ng = Ng::new(false);
                ng.idb(1, 0, Some(0x8a)).epb(0, 3 << 10, &frame(7)).bytes()
            }),
            ("a packet over the snapshot length", {
                let mut ng = Ng::new(false);
                ng.idb(1, 40, None).epb(0, 9, &frame(8)).bytes()
            }),
        ];
        for (what, bytes) in cases {
            let path = std::env::temp_dir()
                .join(format!("dropscope-ng-{}-{what}.pcapng", std::process::id()));
            std::fs::write(&path, &bytes).unwrap();
            let (fast, slow) = (frames_of(&path, true), frames_of(&path, false));
            std::fs::remove_file(&path).ok();
            // libpcap stops at a packet over the snapshot length, with its message.
            let over = what.contains("snapshot");
            assert_eq!(
                (slow.0.is_empty(), slow.1.is_some()),
                (over, over),
                "{what}"
            );
            assert_eq!(fast, slow, "{what}");
        }
    }

    /// A gzip capture that libpcap gives up on early, with megabytes still to decompress:
    /// the decompressing thread must see EPIPE, not raise SIGPIPE (found by the pipeline fuzz
    /// target, whose libFuzzer host does not ignore SIGPIPE the way Rust binaries do).
    #[test]
    fn gzip_capture_abandoned_early_does_not_raise_sigpipe() {
        let mut pcap = Vec::new();
        pcap.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        pcap.extend_from_slice(&[2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        pcap.extend_from_slice(&65535u32.to_le_bytes());
        pcap.extend_from_slice(&1u32.to_le_bytes());
        // One record whose captured length is far over the snapshot length: libpcap stops.
        pcap.extend_from_slice(&[0; 8]);
        pcap.extend_from_slice(&0x4000_0000u32.to_le_bytes());
        pcap.extend_from_slice(&0x4000_0000u32.to_le_bytes());
        pcap.extend((0..8u32 << 20).map(|i| (i * 7) as u8));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &pcap).unwrap();
        let path =
            std::env::temp_dir().join(format!("dropscope-sigpipe-{}.pcap.gz", std::process::id()));
        std::fs::write(&path, gz.finish().unwrap()).unwrap();
        // SAFETY: restores the default SIGPIPE action for this test, as a C host would have.
        let previous = unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
        let mut file = CaptureFile::open(&path, None).unwrap();
        assert!(file.next_frame(1).is_none());
        assert!(file.take_warning().is_some());
        drop(file);
        std::thread::sleep(std::time::Duration::from_millis(300));
        // SAFETY: puts back the action the harness had.
        unsafe { libc::signal(libc::SIGPIPE, previous) };
        std::fs::remove_file(&path).ok();
    }

    /// A gzip file that is not a capture: libpcap refuses it after reading its first bytes,
    /// while the decompressing thread still has megabytes to write. Opening must fail and
    /// return, and the thread must be stopped and joined (a thread left blocked would hang
    /// this test in the drop, and shows up as a leak in the fuzz targets).
    #[test]
    fn gzip_non_capture_stops_its_thread() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &vec![0x5a; 8 << 20]).unwrap();
        let path = std::env::temp_dir().join(format!("dropscope-notcap-{}.gz", std::process::id()));
        std::fs::write(&path, gz.finish().unwrap()).unwrap();
        let opened = CaptureFile::open(&path, None);
        std::fs::remove_file(&path).ok();
        assert!(matches!(opened, Err(SourceError::NotACapture { .. })));
        // Linux keeps a thread's name (cut to 15 bytes) in /proc/self/task/*/comm. A joined
        // thread's task can linger there for a moment after `join` returns (the kernel wakes
        // the joiner before it reaps the task), so look a few times before calling it alive.
        let alive = || {
            std::fs::read_dir("/proc/self/task")
                .unwrap()
                .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
                .any(|comm| comm.trim_end() == "gz dropscope-no")
        };
        let gone = (0..50).any(|_| {
            let gone = !alive();
            if !gone {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            gone
        });
        assert!(gone, "the decompressing thread outlived the failed open");
    }
}
