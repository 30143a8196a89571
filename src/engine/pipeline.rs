//! One reader, the analysis beside it: a thread reads the capture and hands its frames over
//! in batches (copied out of the reader's buffers) to the engines, one per shard of the
//! flows, which analyze while the next batch is read. Reading (the kernel's copy and the
//! record parsing) is about half of a run, so two cores take about a third off it (decoding
//! on the reader's side as well was measured slower: the reader then waits on the kernel
//! while the engine idles). Every engine sees every frame in order, so the output is that
//! of one thread (see `shard`).

use super::{Analyzer, Config, Shard, analyze_sharded};
use crate::source::Frame;
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

/// Frames copied out of the reader's buffers.
#[derive(Default)]
struct FrameBatch {
    data: Vec<u8>,
    frames: Vec<FrameMeta>,
}

/// Where one frame's bytes are in the batch, and what else the frame carries.
struct FrameMeta {
    number: u64,
    ts: Timestamp,
    linktype: u32,
    wire_len: u32,
    start: usize,
    end: usize,
}

impl FrameBatch {
    fn with_capacity() -> FrameBatch {
        FrameBatch {
            data: Vec::with_capacity(BATCH_BYTES + 2048),
            frames: Vec::with_capacity(BATCH_FRAMES),
        }
    }

    fn push(&mut self, f: &Frame<'_>) {
        let start = self.data.len();
        self.data.extend_from_slice(f.data);
        self.frames.push(FrameMeta {
            number: f.number,
            ts: f.ts,
            linktype: f.linktype,
            wire_len: f.wire_len,
            start,
            end: self.data.len(),
        });
    }

    fn is_full(&self) -> bool {
        self.data.len() >= BATCH_BYTES || self.frames.len() >= BATCH_FRAMES
    }

    /// Hands every frame to `analyzer`.
    fn feed(&self, analyzer: &mut Analyzer) {
        for m in &self.frames {
            analyzer.push(&Frame {
                number: m.number,
                ts: m.ts,
                linktype: m.linktype,
                data: &self.data[m.start..m.end],
                wire_len: m.wire_len,
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
