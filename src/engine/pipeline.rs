//! One reader, the analysis beside it, for input read once or slowly (live capture, pipes,
//! pcapng and gzip through libpcap): a thread reads the capture and hands its frames over in
//! batches to the engines, one per shard of the flows, which analyze while the next batch
//! is read. Frames of a plain pcap stream are handed over in the reader's own buffers (the
//! reader reads into a spare one while a batch holds them); others are copied. Every engine
//! sees every frame in order, so the output is that of one thread (see `shard`).

use super::{Analyzer, Config, Shard, analyze_sharded};
use crate::source::{Frame, LentBuffer};
use crate::time::Timestamp;
use crate::transport::KeyLog;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};

/// Captured bytes per batch: big enough that handing over is rare, small enough to stay in
/// the cache of the core that reads it next.
const BATCH_BYTES: usize = 256 * 1024;
/// Frames per batch at most (many tiny frames).
const BATCH_FRAMES: usize = 4096;
/// Batches in flight per engine: the reader runs at most this far ahead.
const IN_FLIGHT: usize = 8;

/// Frames handed over: those in a buffer the reader lends (plain pcap files) by holding
/// that buffer, the others copied.
#[derive(Default)]
struct FrameBatch {
    copied: Vec<u8>,
    lent: Vec<LentBuffer>,
    frames: Vec<FrameMeta>,
    bytes: usize,
}

/// Where one frame's bytes are in the batch, and what else the frame carries.
struct FrameMeta {
    number: u64,
    ts: Timestamp,
    linktype: u32,
    wire_len: u32,
    /// Index in `lent`, or `None` for `copied`.
    source: Option<u32>,
    start: usize,
    end: usize,
}

impl FrameBatch {
    fn with_capacity() -> FrameBatch {
        FrameBatch {
            copied: Vec::with_capacity(BATCH_BYTES + 2048),
            frames: Vec::with_capacity(BATCH_FRAMES),
            ..FrameBatch::default()
        }
    }

    fn push(&mut self, f: &Frame<'_>) {
        let lent = f.lent.and_then(|buf| Some((buf, buf.offset_of(f.data)?)));
        let (source, start) = match lent {
            Some((buf, start)) => (Some(self.hold(buf)), start),
            None => {
                let start = self.copied.len();
                self.copied.extend_from_slice(f.data);
                (None, start)
            }
        };
        self.bytes += f.data.len();
        self.frames.push(FrameMeta {
            number: f.number,
            ts: f.ts,
            linktype: f.linktype,
            wire_len: f.wire_len,
            source,
            start,
            end: start + f.data.len(),
        });
    }

    /// The index of `buf` among the buffers held, holding it if new.
    fn hold(&mut self, buf: &LentBuffer) -> u32 {
        if !self.lent.last().is_some_and(|last| last.is(buf)) {
            self.lent.push(buf.clone());
        }
        // A batch spans a few buffers at most (BATCH_BYTES against the reader's buffers).
        u32::try_from(self.lent.len() - 1).unwrap_or(u32::MAX)
    }

    fn is_full(&self) -> bool {
        self.bytes >= BATCH_BYTES || self.frames.len() >= BATCH_FRAMES
    }

    /// Hands every frame to `analyzer`.
    fn feed(&self, analyzer: &mut Analyzer) {
        for m in &self.frames {
            let bytes = match m.source {
                Some(i) => self.lent.get(i as usize).map_or(&[][..], LentBuffer::bytes),
                None => &self.copied,
            };
            analyzer.push(&Frame {
                number: m.number,
                ts: m.ts,
                linktype: m.linktype,
                data: bytes.get(m.start..m.end).unwrap_or_default(),
                wire_len: m.wire_len,
                lent: None,
            });
        }
    }
}

/// Runs `read` on a thread of its own, handing every frame it gives to `shards` engines on
/// the others, and merges the engines as [`analyze_sharded`] does. What `read` returns is
/// handed back.
pub fn analyze_pipelined<R: Send>(
    shards: usize,
    cfg: &Config,
    keys: Arc<KeyLog>,
    read: impl FnOnce(&mut dyn FnMut(Frame<'_>)) -> R + Send,
) -> (Analyzer, R) {
    let (senders, receivers): (Vec<SyncSender<Arc<FrameBatch>>>, Vec<_>) =
        (0..shards.max(1)).map(|_| sync_channel(IN_FLIGHT)).unzip();
    let receivers: Vec<Mutex<Option<Receiver<Arc<FrameBatch>>>>> =
        receivers.into_iter().map(|r| Mutex::new(Some(r))).collect();
    std::thread::scope(|s| {
        let reader = s.spawn(move || read_into(read, senders));
        let analyze = |analyzer: &mut Analyzer, shard: Shard| {
            let taken = receivers[shard.index()]
                .lock()
                .ok()
                .and_then(|mut r| r.take());
            for batch in taken.into_iter().flatten() {
                batch.feed(analyzer);
            }
            Ok::<(), std::convert::Infallible>(())
        };
        let merged = analyze_sharded(shards, cfg, keys, analyze);
        let r = reader
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        let (analyzer, ()) = merged.unwrap_or_else(|never| match never {});
        (analyzer, r)
    })
}

/// The reader's side: batches of what `read` gives, each to every engine.
fn read_into<R>(
    read: impl FnOnce(&mut dyn FnMut(Frame<'_>)) -> R,
    senders: Vec<SyncSender<Arc<FrameBatch>>>,
) -> R {
    let mut batch = FrameBatch::with_capacity();
    let send = |batch: FrameBatch| {
        let batch = Arc::new(batch);
        for tx in &senders {
            // An engine gone (it panicked) takes the analysis down when joined.
            let _ = tx.send(Arc::clone(&batch));
        }
    };
    let r = read(&mut |f| {
        batch.push(&f);
        if batch.is_full() {
            send(std::mem::replace(&mut batch, FrameBatch::with_capacity()));
        }
    });
    if !batch.frames.is_empty() {
        send(batch);
    }
    r
}
