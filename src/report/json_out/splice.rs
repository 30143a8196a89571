//! Many elements written on several threads and spliced, in order, into one output: the
//! elements of an array, where the value being written holds a [`Hole`], or NDJSON lines.
//! Writing the connections is most of the end of an analysis, after every frame was read,
//! when the other cores are idle.
//!
//! Thread `k` of `n` writes chunks `k`, `k + n`, … of the elements (those of an array once
//! the writer, reaching the hole, tells it the depth) and hands each over through a channel
//! of its own; the writer takes the chunks round the threads, so the bytes are what one
//! thread writes, and at most a few chunks a thread are held at once. A chunk is written
//! straight into the buffer that travels, and the writer hands each buffer back once
//! written out, so a thread writes into memory it already has. If writing stops early, the
//! threads find their channel closed and stop.

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

/// The threads writing the array, seen from the writer: where to send each the depth,
/// and its lanes.
pub(super) struct Splice {
    depths: Vec<SyncSender<usize>>,
    lanes: Vec<Lane>,
}

/// One element thread's channels, seen from the writer: where its chunks come from, and
/// where their buffers go back to once written out.
struct Lane {
    chunks: Receiver<Result<Vec<u8>>>,
    spent: SyncSender<Vec<u8>>,
}

/// Buffers an element thread may have waiting to be written into again: every chunk it
/// can have out at once.
const SPENT: usize = AHEAD + 2;

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
            depths: Vec::with_capacity(threads),
            lanes: Vec::with_capacity(threads),
        };
        for k in 0..threads {
            let (depth_tx, depth_rx) = sync_channel(1);
            let (chunk_tx, chunk_rx) = sync_channel(AHEAD);
            let (spent_tx, spent_rx) = sync_channel(SPENT);
            s.spawn(move || write_elements(items, k, threads, &depth_rx, &chunk_tx, &spent_rx));
            splice.depths.push(depth_tx);
            splice.lanes.push(Lane {
                chunks: chunk_rx,
                spent: spent_tx,
            });
        }
        let mut json = Json::new(out, true);
        json.splice = Some(splice);
        value.serialize(&mut json).map_err(Error::into_io)?;
        json.flush()
    })
}

/// One element thread of an indented array: once told the depth, writes chunks `k`,
/// `k + n`, … of `items` as the array's elements.
fn write_elements<E: Serialize>(
    items: &[E],
    k: usize,
    n: usize,
    depth: &Receiver<usize>,
    chunks: &SyncSender<Result<Vec<u8>>>,
    spent: &Receiver<Vec<u8>>,
) {
    let Ok(depth) = depth.recv() else { return };
    let mut json = Json::chunks(true);
    json.depth = depth;
    write_chunks(items, k, n, chunks, |first, chunk| {
        chunk.iter().enumerate().try_for_each(|(j, item)| {
            json.element(first && j == 0);
            item.serialize(&mut json)
        })?;
        Ok(json.take_chunk(spent))
    });
}

/// Chunks `k`, `k + n`, … of `items`, each written by `write` (told whether it is the
/// first chunk) and sent in turn; stops at the first error, which is sent, or when the
/// reader is gone.
fn write_chunks<E>(
    items: &[E],
    k: usize,
    n: usize,
    chunks: &SyncSender<Result<Vec<u8>>>,
    mut write: impl FnMut(bool, &[E]) -> Result<Vec<u8>>,
) {
    for (i, chunk) in items.chunks(CHUNK).enumerate().skip(k).step_by(n) {
        let written = write(i == 0, chunk);
        let failed = written.is_err();
        if chunks.send(written).is_err() || failed {
            return;
        }
    }
}

/// Every chunk the threads send, in order (round the threads), each given to `take`, then
/// its buffer handed back. Returns whether there was any.
fn take_in_order(lanes: &[Lane], mut take: impl FnMut(&[u8]) -> Result) -> Result<bool> {
    let mut any = false;
    loop {
        for lane in lanes {
            let Ok(chunk) = lane.chunks.recv() else {
                return Ok(any);
            };
            let chunk = chunk?;
            take(&chunk)?;
            // A thread with buffers enough, or gone, does without this one.
            let _ = lane.spent.try_send(chunk);
            any = true;
        }
    }
}

/// Writes each of `items` as JSON on a line of its own (as `to_writer_lines` does), the
/// lines written on `threads` threads and output in order.
pub fn to_writer_lines_spliced<W, E>(mut out: W, items: &[E], threads: usize) -> io::Result<()>
where
    W: Write,
    E: Serialize + Sync,
{
    let threads = threads.min(items.len().div_ceil(CHUNK)).max(1);
    std::thread::scope(|s| {
        let lanes: Vec<_> = (0..threads)
            .map(|k| {
                let (chunk_tx, chunk_rx) = sync_channel(AHEAD);
                let (spent_tx, spent_rx) = sync_channel(SPENT);
                s.spawn(move || {
                    let mut json = Json::chunks(false);
                    write_chunks(items, k, threads, &chunk_tx, |_, chunk| {
                        for item in chunk {
                            item.serialize(&mut json)?;
                            json.buf.push(b'\n');
                        }
                        Ok(json.take_chunk(&spent_rx))
                    });
                });
                Lane {
                    chunks: chunk_rx,
                    spent: spent_tx,
                }
            })
            .collect();
        take_in_order(&lanes, |chunk| out.write_all(chunk).map_err(Error))
            .map_err(Error::into_io)?;
        Ok(())
    })
}

impl Json<io::Sink> {
    /// A writer of chunks of elements, each taken whole by [`Json::take_chunk`]: nothing is
    /// flushed on the way.
    fn chunks(pretty: bool) -> Json<io::Sink> {
        let mut json = Json::new(io::sink(), pretty);
        json.flush_at = usize::MAX;
        json
    }

    /// The bytes written since the last chunk; writing goes on in a buffer handed back
    /// through `spent`, else a new one.
    fn take_chunk(&mut self, spent: &Receiver<Vec<u8>>) -> Vec<u8> {
        let mut next = spent
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(self.buf.capacity()));
        next.clear();
        std::mem::replace(&mut self.buf, next)
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
        for depth in &splice.depths {
            // A thread gone is found at its channel below.
            let _ = depth.send(self.depth);
        }
        let any = take_in_order(&splice.lanes, |chunk| {
            self.flush().map_err(Error)?;
            self.out.write_all(chunk).map_err(Error)
        })?;
        self.close(b']', !any);
        Ok(())
    }
}
