//! An array whose elements are written on several threads and spliced, in order, into the
//! output where the value being written holds a [`Hole`]. Writing the connections is most
//! of the end of an analysis, after every frame was read, when the other cores are idle.
//!
//! The element threads learn the depth they write at from the writer when it reaches the
//! hole, write their elements in chunks (thread `k` of `n` takes chunks `k`, `k + n`, …) and
//! hand each over through a channel of its own; the writer takes the chunks round the
//! threads, so the bytes are what one thread writes, and at most a few chunks a thread are
//! held at once. If writing stops early, the threads find their channel closed and stop.

use super::{Error, Json, Result};
use serde::ser::{Serialize, Serializer};
use std::io::{self, Write};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

/// The reserved unit-struct name a [`Hole`] serializes as.
pub(super) const HOLE: &str = "$dropscope::json_out::Hole";
/// Elements per chunk: a few hundred kilobytes of connection records.
const CHUNK: usize = 64;
/// Chunks a thread may have written ahead of the writer.
const AHEAD: usize = 2;

/// Where a spliced array goes in a value (written as `null` by any other writer).
pub struct Hole;

impl Serialize for Hole {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_unit_struct(HOLE)
    }
}

/// The threads writing the array, seen from the writer.
pub(super) struct Splice {
    threads: Vec<ElementThread>,
}

/// One thread writing elements: where to send it the depth, and where its chunks come from.
struct ElementThread {
    depth: SyncSender<usize>,
    chunks: Receiver<Result<Vec<u8>>>,
}

/// Writes `value` as indented JSON (as `to_writer_pretty`), with the array of `items`
/// where `value` holds a [`Hole`], its elements written on `threads` threads.
pub fn to_writer_pretty_spliced<W, T, E>(
    out: W,
    value: &T,
    items: &[E],
    threads: usize,
) -> io::Result<()>
where
    W: Write,
    T: Serialize + ?Sized,
    E: Serialize + Sync,
{
    // No more threads than chunks: a few connections are not worth a thread each.
    let threads = threads.min(items.len().div_ceil(CHUNK)).max(1);
    std::thread::scope(|s| {
        let mut splice = Splice {
            threads: Vec::with_capacity(threads),
        };
        for k in 0..threads {
            let (depth_tx, depth_rx) = sync_channel(1);
            let (chunk_tx, chunk_rx) = sync_channel(AHEAD);
            s.spawn(move || write_chunks(items, k, threads, &depth_rx, &chunk_tx));
            splice.threads.push(ElementThread {
                depth: depth_tx,
                chunks: chunk_rx,
            });
        }
        let mut json = Json::new(out, true);
        json.splice = Some(splice);
        value.serialize(&mut json).map_err(Error::into_io)?;
        json.flush()
    })
}

/// One element thread: once told the depth, writes chunks `k`, `k + n`, … of `items`.
fn write_chunks<E: Serialize>(
    items: &[E],
    k: usize,
    n: usize,
    depth: &Receiver<usize>,
    chunks: &SyncSender<Result<Vec<u8>>>,
) {
    let Ok(depth) = depth.recv() else { return };
    // One writer for every chunk: its buffer is reused, each chunk's bytes sent away.
    let mut json = Json::new(Vec::new(), true);
    json.depth = depth;
    for (i, chunk) in items.chunks(CHUNK).enumerate().skip(k).step_by(n) {
        let written = chunk.iter().enumerate().try_for_each(|(j, item)| {
            json.element(i == 0 && j == 0);
            item.serialize(&mut json)
        });
        let written = written.and_then(|()| json.flush().map_err(Error));
        let failed = written.is_err();
        // After an error the writer is left mid-element: it is sent, and nothing after it.
        if chunks
            .send(written.map(|()| std::mem::take(&mut json.out)))
            .is_err()
            || failed
        {
            return;
        }
    }
}

impl<W: Write> Json<W> {
    /// Writes the spliced array where the value holds its [`Hole`].
    pub(super) fn fill_hole(&mut self) -> Result {
        let splice = self.splice.take().ok_or_else(|| {
            Error(io::Error::other(
                "a second hole, or one with no array to fill it",
            ))
        })?;
        self.open(b'[');
        for t in &splice.threads {
            // A thread gone is found at its channel below.
            let _ = t.depth.send(self.depth);
        }
        let mut empty = true;
        'chunks: loop {
            for t in &splice.threads {
                let Ok(chunk) = t.chunks.recv() else {
                    break 'chunks;
                };
                let chunk = chunk?;
                self.flush().map_err(Error)?;
                self.out.write_all(&chunk).map_err(Error)?;
                empty = false;
            }
        }
        self.close(b']', empty);
        Ok(())
    }
}
