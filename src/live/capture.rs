//! The live source: libpcap on an interface, read by one blocking thread that hands batches
//! of frames to the tokio side over a bounded channel. (`stream` reads a capture stream the
//! same way, into the same batches.)
//!
//! Why a thread and not pcap's `capture-stream`: the stream wakes the reactor once per packet
//! and copies each into its own allocation; the thread drains libpcap in a tight loop, packs
//! many frames into one buffer per batch, and owns the `Capture` (which is not `Sync`) so it
//! can also read `Capture::stats` without locking. The bounded channel is the backpressure:
//! when analysis falls behind, the thread blocks, libpcap's buffer fills and the kernel's drop
//! counter (reported in metrics) says so.

use super::stream::StreamSpec;
use crate::source::{Frame, SourceError, StreamStop};
use crate::time::Timestamp;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Frames per batch before it is sent.
pub(super) const BATCH_FRAMES: usize = 512;
/// A batch is sent at least this often while packets keep arriving.
pub(super) const BATCH_AGE: Duration = Duration::from_millis(20);
/// Longest sleep while a batch is pending. With immediate mode libpcap's ring has fixed
/// slots of the snapshot length (about a thousand at 64 MB and 65535 bytes), so the thread
/// must come back often enough to empty it at a few hundred thousand packets per second.
const NAP: Duration = Duration::from_millis(1);
/// How long the thread waits on the capture descriptor before it checks whether it should
/// stop. libpcap's own read timeout does not start until a first packet arrives, so a
/// quiet interface would block a blocking read forever; the capture runs nonblocking and
/// the thread polls its descriptor instead.
const POLL_MS: i32 = 50;
/// Longest wait (ms) before the kernel hands over a partly filled block of packets.
const BLOCK_TIMEOUT_MS: i32 = 10;
/// Batches in flight between the capture thread and the analysis.
const CHANNEL_BATCHES: usize = 64;

/// What to capture.
#[derive(Debug, Clone)]
pub struct CaptureSpec {
    /// Interface name; with `read`, the stream's name.
    pub interface: String,
    /// BPF filter (with `read`, applied after numbering; empty for none).
    pub filter: String,
    /// libpcap buffer size, bytes.
    pub buffer_size: i32,
    /// Snapshot length, bytes.
    pub snaplen: i32,
    /// Read this capture stream instead of the interface.
    pub read: Option<StreamSpec>,
}

/// Why the capture could not start.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// No CAP_NET_RAW (or not root).
    #[error(
        "no permission to capture on {interface}: run as root or give the binary CAP_NET_RAW \
         (sudo setcap cap_net_raw,cap_net_admin=eip $(which dropscope)) [{reason}]"
    )]
    Permission {
        /// The interface.
        interface: String,
        /// libpcap's words.
        reason: String,
    },
    /// The interface does not exist or cannot capture.
    #[error("cannot capture on {interface}: {reason}")]
    Device {
        /// The interface.
        interface: String,
        /// libpcap's words.
        reason: String,
    },
    /// The BPF filter did not compile.
    #[error("bad filter {filter:?}: {reason}")]
    BadFilter {
        /// The filter text.
        filter: String,
        /// libpcap's words.
        reason: String,
    },
    /// The stream given to `--read` could not be read.
    #[error(transparent)]
    Input(#[from] SourceError),
}

/// libpcap's own counters, updated by the capture thread.
#[derive(Debug, Default)]
pub struct PcapCounters {
    /// Packets received by the filter.
    pub received: AtomicU64,
    /// Packets dropped because libpcap's buffer was full.
    pub dropped: AtomicU64,
    /// Packets dropped by the interface or driver.
    pub if_dropped: AtomicU64,
}

/// Frames read from the interface, packed into one buffer; from a pcapng stream, also the
/// TLS key logs read before its frames.
pub struct Batch {
    linktype: u32,
    bytes: Vec<u8>,
    frames: Vec<Meta>,
    secrets: Vec<Vec<u8>>,
}

struct Meta {
    number: u64,
    ts: Timestamp,
    start: usize,
    len: usize,
    wire_len: u32,
}

impl Batch {
    pub(super) fn new(linktype: u32) -> Batch {
        Batch {
            linktype,
            bytes: Vec::with_capacity(64 * 1024),
            frames: Vec::with_capacity(BATCH_FRAMES),
            secrets: Vec::new(),
        }
    }

    /// Adds a frame read from a stream (already numbered).
    pub(super) fn push_frame(&mut self, f: &Frame<'_>) {
        self.frames.push(Meta {
            number: f.number,
            ts: f.ts,
            start: self.bytes.len(),
            len: f.data.len(),
            wire_len: f.wire_len,
        });
        self.bytes.extend_from_slice(f.data);
    }

    /// Adds a TLS key log (NSS key log text) to be known before the batch's frames.
    pub(super) fn add_secrets(&mut self, text: Vec<u8>) {
        self.secrets.push(text);
    }

    /// Whether it carries key logs.
    pub(super) fn has_secrets(&self) -> bool {
        !self.secrets.is_empty()
    }

    /// The TLS key logs to take before the frames.
    pub fn secrets(&self) -> impl Iterator<Item = &[u8]> {
        self.secrets.iter().map(Vec::as_slice)
    }

    /// The newest frame's timestamp.
    pub fn newest(&self) -> Option<Timestamp> {
        self.frames.iter().map(|m| m.ts).max()
    }

    /// The first frame's timestamp.
    pub fn first(&self) -> Option<Timestamp> {
        self.frames.first().map(|m| m.ts)
    }

    fn push(&mut self, number: u64, header: &pcap::PacketHeader, data: &[u8]) {
        let ts = Timestamp::from_parts(header.ts.tv_sec, header.ts.tv_usec * 1000);
        self.frames.push(Meta {
            number,
            ts,
            start: self.bytes.len(),
            len: data.len(),
            wire_len: header.len,
        });
        self.bytes.extend_from_slice(data);
    }

    /// The frames, borrowed from the batch.
    pub fn frames(&self) -> impl Iterator<Item = Frame<'_>> {
        self.frames.iter().map(|m| Frame {
            number: m.number,
            ts: m.ts,
            linktype: self.linktype,
            data: &self.bytes[m.start..m.start + m.len],
            wire_len: m.wire_len,
            lent: None,
        })
    }

    /// How many frames.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Whether it holds no frame.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }
}

/// A running capture: its batches, counters and link type.
pub struct Live {
    /// Batches of frames; closes when the capture thread ends.
    pub batches: mpsc::Receiver<Batch>,
    /// libpcap's counters.
    pub counters: Arc<PcapCounters>,
    /// The interface's link type (LINKTYPE_ value).
    pub linktype: u32,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// For a stream: ends a read the thread is blocked in.
    unblock: Option<StreamStop>,
}

impl Live {
    /// A capture read by `thread`, which sends `batches` and stops when `stop` is set.
    pub(super) fn from_parts(
        batches: mpsc::Receiver<Batch>,
        counters: Arc<PcapCounters>,
        linktype: u32,
        stop: Arc<AtomicBool>,
        thread: std::thread::JoinHandle<()>,
        unblock: Option<StreamStop>,
    ) -> Live {
        Live {
            batches,
            counters,
            linktype,
            stop,
            thread: Some(thread),
            unblock,
        }
    }

    /// Asks the capture thread to stop; `batches` closes once it has.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(u) = &self.unblock {
            u.stop();
        }
    }

    /// Waits for the capture thread (it stops within one read timeout of `stop`).
    pub fn join(&mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Opens the interface and starts the capture thread.
pub fn start(spec: &CaptureSpec) -> Result<Live, CaptureError> {
    let cap = open(spec)?;
    let linktype = cap.get_datalink().0 as u32;
    let (tx, rx) = mpsc::channel(CHANNEL_BATCHES);
    let counters = Arc::new(PcapCounters::default());
    let stop = Arc::new(AtomicBool::new(false));
    let reader = Reader {
        cap,
        tx,
        counters: counters.clone(),
        stop: stop.clone(),
        linktype,
    };
    let thread = std::thread::Builder::new()
        .name("capture".into())
        .spawn(move || reader.run())
        .map_err(|e| CaptureError::Device {
            interface: spec.interface.clone(),
            reason: e.to_string(),
        })?;
    Ok(Live::from_parts(rx, counters, linktype, stop, thread, None))
}

fn open(spec: &CaptureSpec) -> Result<pcap::Capture<pcap::Active>, CaptureError> {
    let device = |e: pcap::Error| classify_open_error(&spec.interface, e);
    let mut cap = pcap::Capture::from_device(spec.interface.as_str())
        .map_err(device)?
        // Not immediate mode: libpcap then uses the kernel's block ring (TPACKET_V3), where a
        // packet takes its own size, not a slot of the snapshot length, so the buffer holds
        // tens of thousands of packets instead of about a thousand; a block is handed over
        // when full or after BLOCK_TIMEOUT_MS.
        .immediate_mode(false)
        .timeout(BLOCK_TIMEOUT_MS)
        .buffer_size(spec.buffer_size)
        .snaplen(spec.snaplen)
        .open()
        .and_then(|c| c.setnonblock())
        .map_err(device)?;
    cap.filter(&spec.filter, true)
        .map_err(|e| CaptureError::BadFilter {
            filter: spec.filter.clone(),
            reason: e.to_string(),
        })?;
    Ok(cap)
}

/// Maps libpcap's activation errors to what the user must do.
fn classify_open_error(interface: &str, e: pcap::Error) -> CaptureError {
    let reason = e.to_string();
    let lower = reason.to_lowercase();
    if lower.contains("permission") || lower.contains("not permitted") {
        CaptureError::Permission {
            interface: interface.into(),
            reason,
        }
    } else {
        CaptureError::Device {
            interface: interface.into(),
            reason,
        }
    }
}

struct Reader {
    cap: pcap::Capture<pcap::Active>,
    tx: mpsc::Sender<Batch>,
    counters: Arc<PcapCounters>,
    stop: Arc<AtomicBool>,
    linktype: u32,
}

impl Reader {
    /// Reads until told to stop. A batch goes out when full, or once its first frame is
    /// `BATCH_AGE` old and libpcap has nothing more right now; until then the thread naps and
    /// lets packets gather in libpcap's buffer, so a busy link costs a wake-up per nap, not
    /// per packet, and the analysis one per batch. With nothing pending it waits on the descriptor.
    fn run(mut self) {
        let mut number = 0u64;
        let mut batch = Batch::new(self.linktype);
        let mut since = Instant::now();
        while !self.stop.load(Ordering::Relaxed) {
            match self.cap.next_packet() {
                Ok(p) => {
                    if batch.is_empty() {
                        since = Instant::now();
                    }
                    number += 1;
                    batch.push(number, p.header, p.data);
                    if batch.len() >= BATCH_FRAMES && !self.flush(&mut batch) {
                        return;
                    }
                }
                Err(pcap::Error::TimeoutExpired) => {
                    if !self.idle(&mut batch, since) {
                        return;
                    }
                }
                Err(e) => {
                    eprintln!("dropscope: capture stopped: {e}");
                    break;
                }
            }
        }
        self.publish_stats();
        self.flush(&mut batch);
    }

    /// libpcap has nothing right now: send an old enough batch, or wait. False to stop.
    fn idle(&mut self, batch: &mut Batch, since: Instant) -> bool {
        if batch.is_empty() {
            self.publish_stats();
            let alive = self.wait_readable();
            if !alive {
                eprintln!("dropscope: capture stopped: the interface went away");
            }
            return alive;
        }
        let left = BATCH_AGE.saturating_sub(since.elapsed());
        if left.is_zero() {
            return self.flush(batch);
        }
        std::thread::sleep(left.min(NAP));
        true
    }

    /// Sends the batch (if not empty) and starts a new one; false when the analysis side
    /// is gone.
    fn flush(&self, batch: &mut Batch) -> bool {
        if batch.is_empty() {
            return true;
        }
        let sent = std::mem::replace(batch, Batch::new(self.linktype));
        self.send(sent)
    }

    /// Hands a batch over; false when the analysis side is gone.
    fn send(&self, batch: Batch) -> bool {
        self.tx.blocking_send(batch).is_ok()
    }

    /// Waits until packets may be read or `POLL_MS` passed; false when the descriptor
    /// reports an error (the interface was removed or went down).
    fn wait_readable(&self) -> bool {
        let mut fd = libc::pollfd {
            fd: self.cap.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd for the duration of the call; the descriptor is the
        // capture's own and stays open while `self.cap` lives.
        unsafe { libc::poll(&mut fd, 1, POLL_MS) };
        fd.revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) == 0
    }

    fn publish_stats(&mut self) {
        if let Ok(s) = self.cap.stats() {
            let c = &self.counters;
            c.received.store(u64::from(s.received), Ordering::Relaxed);
            c.dropped.store(u64::from(s.dropped), Ordering::Relaxed);
            c.if_dropped
                .store(u64::from(s.if_dropped), Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permission_errors_are_told_apart() {
        let e = pcap::Error::PcapError(
            "eth0: You don't have permission to perform this capture on that device".into(),
        );
        assert!(matches!(
            classify_open_error("eth0", e),
            CaptureError::Permission { .. }
        ));
        let e = pcap::Error::PcapError("nope0: No such device exists".into());
        assert!(matches!(
            classify_open_error("nope0", e),
            CaptureError::Device { .. }
        ));
    }

    #[test]
    fn batches_hand_frames_back_in_order() {
        let mut b = Batch::new(1);
        let h = |len| pcap::PacketHeader {
            ts: libc::timeval {
                tv_sec: 10,
                tv_usec: 5,
            },
            caplen: len,
            len: len + 1,
        };
        b.push(1, &h(3), &[1, 2, 3]);
        b.push(2, &h(2), &[4, 5]);
        let frames: Vec<_> = b.frames().collect();
        assert_eq!(frames[1].data, &[4, 5]);
        assert_eq!(frames[1].wire_len, 3);
        assert_eq!(frames[0].ts, Timestamp::from_parts(10, 5000));
    }
}
