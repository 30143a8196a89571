//! One file read by several engines that each take every record: the file cut in blocks,
//! each block read by one engine in turn and lent to the others. Every engine reading the
//! whole file itself made the kernel copy it once per engine, and two copies of one page
//! cache at once ran slower than one (the README, "Speed and memory"); here each block is
//! copied out of the page cache once, and the engines read the others' blocks where they lie.
//!
//! Reader `k` of `n` reads blocks `k`, `k + n`, … and sends each to every reader, itself
//! included, through a channel of its own; a reader takes its blocks in file order, round
//! the readers. Before taking block `i`, a reader reads its own blocks up to `i + AHEAD`,
//! so the one a reader waits for was read by an engine at most `AHEAD` blocks ahead of it,
//! or is being read: no reader ever waits on one that waits on it, and the blocks alive at
//! once are bounded. A reader that stops (an error, or the rest left to libpcap) closes its
//! channels, and the others find the file's end where its blocks would be.

use super::LentBuffer;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};

/// Block size: the read size that measured best for one engine (`fast::BUF_SIZE`).
pub(super) const BLOCK: usize = 256 * 1024;
/// Blocks a reader reads ahead of the one it takes: 2 MB of slack between the engines.
const AHEAD: u64 = 8;

/// One reader's share of a split file: the blocks it reads, and the others' it takes.
pub(super) struct SplitReader {
    file: Arc<File>,
    /// The offset of block 0.
    start: u64,
    block_len: usize,
    readers: u64,
    /// The next block handed out.
    next: u64,
    /// The next block this reader reads.
    next_own: u64,
    /// From each reader, its blocks in order.
    from: Vec<Receiver<LentBuffer>>,
    /// To each reader, this reader's blocks.
    to: Vec<Sender<LentBuffer>>,
    /// Buffers of blocks read earlier, read into again once nobody holds them.
    spare: Vec<LentBuffer>,
    /// Set once a block came short: the file ends there.
    ended: bool,
}

/// Cuts `file` from offset `start` in blocks of `block_len` bytes, read by `readers`
/// readers in turn: one [`SplitReader`] each, to be driven on threads of their own.
pub(super) fn split(file: File, start: u64, readers: usize, block_len: usize) -> Vec<SplitReader> {
    let file = Arc::new(file);
    let readers = readers.max(1);
    // channels[owner][taker]
    let (senders, receivers): (Vec<Vec<_>>, Vec<Vec<_>>) = (0..readers)
        .map(|_| (0..readers).map(|_| channel()).unzip())
        .unzip();
    let mut receivers: Vec<_> = receivers.into_iter().map(Vec::into_iter).collect();
    senders
        .into_iter()
        .enumerate()
        .map(|(index, to)| SplitReader {
            file: file.clone(),
            start,
            block_len: block_len.max(1),
            readers: readers as u64,
            next: 0,
            next_own: index as u64,
            from: receivers.iter_mut().filter_map(Iterator::next).collect(),
            to,
            spare: Vec::new(),
            ended: false,
        })
        .collect()
}

impl SplitReader {
    /// The next block of the file, in order, as many bytes as it holds; `None` at the
    /// file's end (after a short block, or where a reader that stopped would have read).
    pub(super) fn next_block(&mut self) -> Option<LentBuffer> {
        if self.ended {
            return None;
        }
        self.read_ahead();
        let owner = (self.next % self.readers) as usize;
        let bytes = self.from[owner].recv().ok()?;
        self.next += 1;
        self.ended = bytes.bytes().len() < self.block_len;
        (!bytes.bytes().is_empty()).then_some(bytes)
    }

    /// Reads this reader's blocks up to `AHEAD` past the next one handed out, and sends
    /// each to every reader. A block read short (the end, or an error) is the last read.
    fn read_ahead(&mut self) {
        while self.next_own < self.next + AHEAD && self.next_own != u64::MAX {
            let mut block = self.free_buffer();
            let at = self.start + self.next_own * self.block_len as u64;
            let short = block
                .writable()
                .is_none_or(|buf| read_block(&self.file, buf, at, self.block_len));
            for to in &self.to {
                // A reader gone finds no more of the file; the others read on.
                let _ = to.send(block.clone());
            }
            self.spare.push(block);
            self.next_own = if short {
                u64::MAX
            } else {
                self.next_own + self.readers
            };
        }
    }

    /// A buffer nobody else holds, or a new one.
    fn free_buffer(&mut self) -> LentBuffer {
        match self.spare.iter_mut().position(|b| b.writable().is_some()) {
            Some(i) => self.spare.swap_remove(i),
            None => {
                // Every spare is still held: let those go to whoever holds them.
                if self.spare.len() > 2 * AHEAD as usize {
                    self.spare.clear();
                }
                LentBuffer::zeroed(self.block_len)
            }
        }
    }
}

/// Reads the block at `at` into `buf` (made `len` long, then cut to what was read);
/// whether it came short.
fn read_block(file: &File, buf: &mut Vec<u8>, at: u64, len: usize) -> bool {
    buf.resize(len, 0);
    let mut got = 0;
    while got < len {
        match file.read_at(&mut buf[got..], at + got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            // An error ends the file here for every reader alike, as a plain read's does.
            Err(_) => break,
        }
    }
    buf.truncate(got);
    got < len
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reader_gets_every_block_in_order() {
        let path = std::env::temp_dir().join(format!("dropscope-split-{}", std::process::id()));
        let bytes: Vec<u8> = (0..10_007u32).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(&path, &bytes).unwrap();
        for readers in [1, 2, 3] {
            for block_len in [1, 100, 1000, 10_007, 20_000] {
                let got: Vec<Vec<u8>> = std::thread::scope(|s| {
                    let handles: Vec<_> = split(File::open(&path).unwrap(), 7, readers, block_len)
                        .into_iter()
                        .map(|mut r| {
                            s.spawn(move || {
                                let mut all = Vec::new();
                                while let Some(b) = r.next_block() {
                                    assert!(b.bytes().len() <= block_len);
                                    all.extend_from_slice(b.bytes());
                                }
                                all
                            })
                        })
                        .collect();
                    handles.into_iter().map(|h| h.join().unwrap()).collect()
                });
                for all in got {
                    assert_eq!(all, bytes[7..], "{readers} readers, blocks of {block_len}");
                }
            }
        }
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn a_reader_that_stops_ends_the_file_for_the_others() {
        let path =
            std::env::temp_dir().join(format!("dropscope-split-stop-{}", std::process::id()));
        std::fs::write(&path, vec![1u8; 100_000]).unwrap();
        let mut readers = split(File::open(&path).unwrap(), 0, 2, 1000);
        let second = readers.pop().unwrap();
        drop(second);
        let mut first = readers.pop().unwrap();
        let mut blocks = 0;
        while first.next_block().is_some() {
            blocks += 1;
        }
        // Block 0 is its own; block 1 would have been the stopped reader's.
        assert_eq!(blocks, 1);
        std::fs::remove_file(&path).unwrap();
    }
}
