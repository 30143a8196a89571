//! Captures that arrive as a byte stream rather than a file libpcap can open: a gzip file,
//! standard input (`-`, `tcpdump -w - | dropscope analyze -`) or any reader (a file followed
//! as it grows). A thread feeds the bytes (decompressed when gzip) into a socket pair whose
//! read end libpcap reads like a file, so frames, errors and their wording stay libpcap's;
//! memory stays at the socket's buffer.
//!
//! A socket rather than a pipe so that the thread can write with `MSG_NOSIGNAL`: when
//! libpcap stops early on a corrupt capture, the write fails with EPIPE instead of raising
//! SIGPIPE, which kills a host process that does not ignore it (a fuzzer, a C program).
//!
//! A pcapng stream cannot be read twice, so its TLS Decryption Secrets Blocks (which
//! libpcap skips) are taken out as the blocks pass through the feeding thread: each block is
//! handed over only after its secrets were sent, so the secrets reach the reader before the
//! packets that follow them in the stream.

use super::fast::word;
use super::ng_blocks::{SHB, section_big_endian};
use super::secrets::{DSB, MAX_SECRET_BYTES, key_log_in};
use super::{Format, file::format_of};
use std::io::{self, Read};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

/// What the feeding thread forwards in one write at most.
const CHUNK: usize = 64 * 1024;
/// libpcap's own limit on a pcapng block; a longer one is forwarded unparsed for libpcap to
/// refuse with its own message.
const MAX_BLOCK: usize = 16 << 20;
/// A blocked write wakes this often to see whether the reader has gone (see `Feed`).
const WRITE_WAKE: Duration = Duration::from_millis(100);

/// A byte stream, with what its first bytes say it holds.
pub(super) struct Sniffed {
    /// pcap, pcapng or unknown, looking inside gzip (which is decompressed).
    pub format: Format,
    /// The (decompressed) stream from its first byte.
    pub reader: Box<dyn Read + Send>,
}

/// Reads a stream's first bytes to tell its format (and puts them back in front).
pub(super) fn sniff(reader: Box<dyn Read + Send>) -> io::Result<Sniffed> {
    let (magic, reader) = peek4(reader)?;
    if magic.starts_with(&[0x1f, 0x8b]) {
        let (magic, reader) = peek4(Box::new(flate2::read::MultiGzDecoder::new(reader)))?;
        return Ok(Sniffed {
            format: format_of(&magic),
            reader,
        });
    }
    Ok(Sniffed {
        format: format_of(&magic),
        reader,
    })
}

/// The first (up to) four bytes, and the stream with them put back.
fn peek4(mut reader: Box<dyn Read + Send>) -> io::Result<(Vec<u8>, Box<dyn Read + Send>)> {
    let mut magic = Vec::with_capacity(4);
    (&mut reader).take(4).read_to_end(&mut magic)?;
    let again = io::Cursor::new(magic.clone()).chain(reader);
    Ok((magic, Box::new(again)))
}

/// The thread feeding a stream into libpcap's socket, and the secrets it found. Dropping it
/// tells the thread to stop (a write it is blocked in, because libpcap stopped reading or
/// never started, gives up within its timeout) and, unless it reads standard input, joins
/// it: no thread or buffer outlives the capture. A read of standard input cannot be
/// interrupted, and the process is ending when standard input is dropped, so that thread is
/// left to end with it.
pub(super) struct Feed {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    join_on_drop: bool,
    /// TLS key logs of the stream's Decryption Secrets Blocks, in stream order.
    pub secrets: Option<mpsc::Receiver<Vec<u8>>>,
}

impl Feed {
    /// A handle that ends the stream early from another thread; `read_end` is libpcap's
    /// end of the socket (a second descriptor of it is kept).
    pub fn stopper(&self, read_end: BorrowedFd<'_>) -> io::Result<StreamStop> {
        Ok(StreamStop {
            stop: Arc::clone(&self.stop),
            read_end: read_end.try_clone_to_owned()?,
        })
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take()
            && self.join_on_drop
        {
            let _ = t.join();
        }
    }
}

/// Ends a stream capture from another thread: libpcap's reads return what was already fed,
/// then the end of the stream, and the feeding thread stops at its next write.
pub struct StreamStop {
    stop: Arc<AtomicBool>,
    read_end: OwnedFd,
}

impl StreamStop {
    /// Ends the stream.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
        // SAFETY: shuts down the socket behind a descriptor this handle owns; no memory.
        unsafe { libc::shutdown(self.read_end.as_raw_fd(), libc::SHUT_RD) };
    }
}

/// Starts a thread (named `name`) feeding `stream` into a socket pair; returns the read end
/// for libpcap. With `take_secrets`, a pcapng stream's secrets are taken out on the way
/// (see the module doc).
pub(super) fn feed(
    stream: Sniffed,
    name: String,
    take_secrets: bool,
    join_on_drop: bool,
) -> io::Result<(UnixStream, Feed)> {
    let (reader, writer) = UnixStream::pair()?;
    writer.set_write_timeout(Some(WRITE_WAKE))?;
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = Arc::clone(&stop);
    let (secrets, tx) = if take_secrets && stream.format == Format::Pcapng {
        let (tx, rx) = mpsc::channel();
        (Some(rx), Some(tx))
    } else {
        (None, None)
    };
    let source = stream.reader;
    let thread = std::thread::Builder::new().name(name).spawn(move || {
        let out = Out {
            sock: writer,
            stop: stopped,
        };
        // The thread ends at the end of the input or when libpcap stops reading.
        let _ = match tx {
            Some(tx) => copy_pcapng(source, &out, &tx),
            None => copy(source, &out),
        };
    })?;
    Ok((
        reader,
        Feed {
            stop,
            thread: Some(thread),
            join_on_drop,
            secrets,
        },
    ))
}

/// The write end, and the flag that says libpcap's side is gone.
struct Out {
    sock: UnixStream,
    stop: Arc<AtomicBool>,
}

fn copy(mut source: Box<dyn Read + Send>, out: &Out) -> io::Result<()> {
    let mut buf = vec![0u8; CHUNK];
    loop {
        match source.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => out.send_all(&buf[..n])?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Forwards a pcapng stream block by block, sending each TLS key log before the block that
/// holds it goes on. The blocks are framed here by their length field rather than with
/// pcap-parser's `PcapNGReader`, which needs the whole section header in its first read (a
/// pipe does not promise that) and holds bytes back until its buffer fills; each secrets
/// block is then parsed with pcap-parser. A block this framing cannot take (a length under
/// 12, unaligned or over libpcap's limit) ends the framing: the rest is forwarded as it is,
/// and libpcap says what is wrong with it.
fn copy_pcapng(
    mut source: Box<dyn Read + Send>,
    out: &Out,
    secrets: &mpsc::Sender<Vec<u8>>,
) -> io::Result<()> {
    let mut block = Vec::new();
    let (mut big_endian, mut secret_bytes) = (false, 0usize);
    loop {
        block.clear();
        let got = (&mut source).take(12).read_to_end(&mut block)?;
        if got < 12 {
            return out.send_all(&block);
        }
        if word(&block[..4], false) == SHB {
            // A section header: its byte-order magic says how to read the section.
            big_endian = section_big_endian(&block) == Some(true);
        }
        let (kind, len) = (
            word(&block[..4], big_endian),
            word(&block[4..8], big_endian) as usize,
        );
        if len < 12 || len % 4 != 0 || len > MAX_BLOCK {
            out.send_all(&block)?;
            return copy(source, out);
        }
        (&mut source)
            .take(len as u64 - 12)
            .read_to_end(&mut block)?;
        if kind == DSB
            && let Some(text) = key_log_in(&block, big_endian).map(<[u8]>::to_vec)
        {
            secret_bytes = secret_bytes.saturating_add(text.len());
            if secret_bytes <= MAX_SECRET_BYTES {
                // The receiver may be gone (nobody reads the secrets): forward all the same.
                let _ = secrets.send(text);
            }
        }
        out.send_all(&block)?;
        if block.len() < len {
            return Ok(());
        }
    }
}

impl Out {
    /// Writes all of `buf` without ever raising SIGPIPE, giving up when `stop` is set.
    fn send_all(&self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            // SAFETY: `buf` is valid for `buf.len()` bytes and the socket stays open for the call.
            let sent = unsafe {
                libc::send(
                    self.sock.as_raw_fd(),
                    buf.as_ptr().cast(),
                    buf.len(),
                    libc::MSG_NOSIGNAL,
                )
            };
            match usize::try_from(sent) {
                Ok(n) => buf = &buf[n..],
                Err(_) => {
                    let e = io::Error::last_os_error();
                    let retry = match e.kind() {
                        io::ErrorKind::Interrupted => true,
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
                            !self.stop.load(Ordering::Relaxed)
                        }
                        _ => false,
                    };
                    if !retry {
                        return Err(e);
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::secrets::tests as secrets_tests;
    use super::*;

    fn sniffed(bytes: Vec<u8>) -> Sniffed {
        sniff(Box::new(io::Cursor::new(bytes))).unwrap()
    }

    #[test]
    fn sniffs_formats_inside_gzip_and_gives_every_byte_back() {
        let pcap = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
        let mut s = sniffed(pcap.clone());
        assert_eq!(s.format, Format::Pcap);
        let mut back = Vec::new();
        s.reader.read_to_end(&mut back).unwrap();
        assert_eq!(back, pcap);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        io::Write::write_all(&mut gz, &[0x0a, 0x0d, 0x0d, 0x0a, 9]).unwrap();
        let mut s = sniffed(gz.finish().unwrap());
        assert_eq!(s.format, Format::Pcapng);
        back.clear();
        s.reader.read_to_end(&mut back).unwrap();
        assert_eq!(back, [0x0a, 0x0d, 0x0d, 0x0a, 9]);
        assert_eq!(sniffed(vec![1, 2]).format, Format::Unknown);
    }

    /// Secrets come out in order; every byte, damaged tail included, goes through unchanged.
    #[test]
    fn pcapng_blocks_pass_unchanged_and_secrets_come_out() {
        let mut bytes = secrets_tests::shb();
        bytes.extend(secrets_tests::idb());
        bytes.extend(secrets_tests::dsb(0x544c_534b, b"CLIENT_RANDOM aa bb\n"));
        bytes.extend(secrets_tests::dsb(0x5747_4b4c, b"wg"));
        bytes.extend([0xff; 7]);
        let (mut sock, feed) = feed(sniffed(bytes.clone()), "test".into(), true, true).unwrap();
        let mut back = Vec::new();
        sock.read_to_end(&mut back).unwrap();
        assert_eq!(back, bytes);
        let secrets: Vec<Vec<u8>> = feed.secrets.as_ref().unwrap().try_iter().collect();
        assert_eq!(secrets, [b"CLIENT_RANDOM aa bb\n".to_vec()]);
    }
}
