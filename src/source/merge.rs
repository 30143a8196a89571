//! Several capture files read as one timeline, ordered by timestamp.

use super::{CaptureFile, Frame, ReadWarning, SourceError};
use crate::time::Timestamp;
use std::path::PathBuf;

/// The frames of one or more capture files, in timestamp order, numbered 1-based across the
/// whole set (the numbers `mergecap` would give; for one file, Wireshark's numbers).
pub struct Timeline {
    files: Vec<CaptureFile>,
    /// One pending frame per file (owned copy) when merging several files.
    pending: Vec<Option<Pending>>,
    next_number: u64,
    warnings: Vec<ReadWarning>,
}

struct Pending {
    ts: Timestamp,
    wire_len: u32,
    passes: bool,
    data: Vec<u8>,
}

impl Timeline {
    /// Opens every file; fails on the first one that is not a readable capture.
    pub fn open(paths: &[PathBuf], filter: Option<&str>) -> Result<Timeline, SourceError> {
        let files = paths
            .iter()
            .map(|p| CaptureFile::open(p, filter))
            .collect::<Result<Vec<_>, _>>()?;
        let pending = files.iter().map(|_| None).collect();
        Ok(Timeline {
            files,
            pending,
            next_number: 1,
            warnings: Vec::new(),
        })
    }

    /// The TLS key logs that a pcapng stream (standard input) carries, sent as they are
    /// read: take them before each frame (see [`CaptureFile::take_secrets`]).
    pub fn take_secrets(&mut self) -> Option<std::sync::mpsc::Receiver<Vec<u8>>> {
        self.files.iter_mut().find_map(CaptureFile::take_secrets)
    }

    /// Warnings collected so far (truncated or corrupt files).
    pub fn warnings(&self) -> &[ReadWarning] {
        &self.warnings
    }

    /// Total frames read (and numbered), filtered or not.
    pub fn frames_read(&self) -> u64 {
        self.next_number - 1
    }

    /// Calls `sink` with every frame that passes the filter, in timestamp order.
    pub fn for_each(&mut self, mut sink: impl FnMut(Frame<'_>)) {
        if self.files.len() == 1 {
            self.single(&mut sink);
        } else {
            self.merged(&mut sink);
        }
    }

    /// One file: frames go straight from libpcap's buffer to the sink, no copy.
    fn single(&mut self, sink: &mut impl FnMut(Frame<'_>)) {
        let file = &mut self.files[0];
        while let Some((frame, passes)) = file.next_frame(self.next_number) {
            self.next_number += 1;
            if passes {
                sink(frame);
            }
        }
        self.warnings.extend(file.take_warning());
    }

    /// Several files: keep one frame per file and always hand over the oldest (a k-way
    /// merge; k is small, a linear scan beats a heap).
    fn merged(&mut self, sink: &mut impl FnMut(Frame<'_>)) {
        for i in 0..self.files.len() {
            self.refill(i);
        }
        while let Some(i) = self.oldest() {
            let Some(p) = self.pending[i].take() else {
                break;
            };
            let number = self.next_number;
            self.next_number += 1;
            if p.passes {
                sink(Frame {
                    number,
                    ts: p.ts,
                    linktype: self.files[i].linktype(),
                    data: &p.data,
                    wire_len: p.wire_len,
                    lent: None,
                });
            }
            self.recycle(i, p);
        }
    }

    fn oldest(&self) -> Option<usize> {
        self.pending
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.as_ref().map(|p| (p.ts, i)))
            .min()
            .map(|(_, i)| i)
    }

    fn refill(&mut self, i: usize) {
        self.recycle(
            i,
            Pending {
                ts: Timestamp::default(),
                wire_len: 0,
                passes: false,
                data: Vec::new(),
            },
        );
    }

    /// Reads file `i`'s next frame into `slot`'s buffer (reusing its allocation).
    fn recycle(&mut self, i: usize, mut slot: Pending) {
        let file = &mut self.files[i];
        match file.next_frame(0) {
            Some((frame, passes)) => {
                slot.data.clear();
                slot.data.extend_from_slice(frame.data);
                slot.ts = frame.ts;
                slot.wire_len = frame.wire_len;
                slot.passes = passes;
                self.pending[i] = Some(slot);
            }
            None => {
                self.warnings.extend(file.take_warning());
                self.pending[i] = None;
            }
        }
    }
}
