//! Capture sources: pcap and pcapng files (plain or gzip) and standard input, rotated
//! capture sets merged into one timeline, and (in `live`) interfaces. Every source numbers frames 1-based before any
//! filter is applied, so frame numbers match Wireshark's.

mod fast;
mod file;
mod merge;
mod ng_blocks;
mod secrets;
mod stream;

pub use file::{CaptureFile, Format, STDIN};
pub use merge::Timeline;
pub use secrets::pcapng_tls_key_logs;
pub use stream::StreamStop;

use crate::time::Timestamp;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One captured frame, borrowed from the source's buffer.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// 1-based frame number across the timeline (Wireshark's number for a single file, and
    /// `mergecap`'s for a merged set).
    pub number: u64,
    /// Capture timestamp.
    pub ts: Timestamp,
    /// libpcap link-layer type (LINKTYPE_ value).
    pub linktype: u32,
    /// The captured bytes (at most the snapshot length).
    pub data: &'a [u8],
    /// The frame's length on the wire.
    pub wire_len: u32,
    /// The reader's buffer holding `data`, when the reader lends it: a frame kept past
    /// the callback (the two-thread pipeline) then holds the buffer instead of a copy.
    pub lent: Option<&'a LentBuffer>,
}

/// A read buffer shared with whoever keeps frames from it. The reader reads into it again
/// only once every holder let go (it reads into another one meanwhile).
#[derive(Clone, Default)]
pub struct LentBuffer(Arc<Vec<u8>>);

impl LentBuffer {
    /// A buffer of `len` zero bytes.
    fn zeroed(len: usize) -> LentBuffer {
        LentBuffer(Arc::new(vec![0; len]))
    }

    /// Where `data` starts in this buffer, if it lies within it.
    pub fn offset_of(&self, data: &[u8]) -> Option<usize> {
        let start = (data.as_ptr() as usize).checked_sub(self.0.as_ptr() as usize)?;
        (start + data.len() <= self.0.len()).then_some(start)
    }

    /// The buffer's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// Whether `other` is this very buffer.
    pub fn is(&self, other: &LentBuffer) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// The bytes to write into, if nobody else holds the buffer.
    fn writable(&mut self) -> Option<&mut Vec<u8>> {
        Arc::get_mut(&mut self.0)
    }
}

impl std::fmt::Debug for LentBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LentBuffer({} bytes)", self.0.len())
    }
}

/// Why a capture could not be read, or stopped being readable.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The path could not be opened or read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// libpcap refused the file: it is not a pcap or pcapng capture.
    #[error("{path}: not a pcap or pcapng capture ({reason})")]
    NotACapture {
        /// The file.
        path: PathBuf,
        /// libpcap's words.
        reason: String,
    },
    /// The inputs cannot be read as given (standard input twice, or a terminal).
    #[error("{0}")]
    BadInput(String),
    /// The BPF filter did not compile.
    #[error("bad filter {filter:?}: {reason}")]
    BadFilter {
        /// The filter text.
        filter: String,
        /// libpcap's words.
        reason: String,
    },
}

/// A problem met while reading that did not stop the analysis (a truncated or corrupt tail).
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReadWarning {
    /// The file.
    pub file: String,
    /// Byte offset in the (decompressed) file where reading stopped, when known.
    pub offset: Option<u64>,
    /// Frames read from this file before the problem.
    pub frames_read: u64,
    /// What went wrong, in libpcap's words.
    pub message: String,
}

impl std::fmt::Display for ReadWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.offset {
            Some(off) => write!(
                f,
                "{}: stopped at byte offset {off} after {} frames: {}",
                self.file, self.frames_read, self.message
            ),
            None => write!(
                f,
                "{}: stopped after {} frames: {}",
                self.file, self.frames_read, self.message
            ),
        }
    }
}

/// Whether every one of `paths` reads again cheaply: a regular classic pcap or pcapng file
/// that the fast reader takes, so a second read is a pass over the page cache. Standard
/// input, pipes and gzip files (read once, or at a fraction of that pace) do not.
pub fn rereads_cheaply(paths: &[PathBuf]) -> bool {
    !paths.is_empty()
        && paths
            .iter()
            .all(|p| p.as_os_str() != STDIN && fast::takes(p))
}

/// Whether `path` can be read only once: standard input, a named pipe, a device. Its
/// pcapng secrets come out of the stream as it is read, on one thread.
pub fn reads_once(path: &Path) -> bool {
    path.as_os_str() == STDIN || !file::is_regular(path)
}

/// Expands the command line's inputs: a directory stands for the capture files in it (a
/// rotated capture set), sorted by name; files are taken as given.
pub fn expand_inputs(inputs: &[PathBuf]) -> Result<Vec<PathBuf>, SourceError> {
    let stdin = inputs.iter().filter(|p| p.as_os_str() == STDIN).count();
    if stdin > 1 {
        return Err(SourceError::BadInput(
            "standard input (-) can be read only once".into(),
        ));
    }
    let mut out = Vec::new();
    for input in inputs {
        if input.is_dir() {
            out.extend(capture_files_in(input)?);
        } else {
            out.push(input.clone());
        }
    }
    Ok(out)
}

fn capture_files_in(dir: &Path) -> Result<Vec<PathBuf>, SourceError> {
    let io = |source| SourceError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && !is_sidecar(p))
        .collect();
    files.sort();
    Ok(files)
}

/// Files that sit beside captures but are not captures (expected verdicts, notes).
fn is_sidecar(p: &Path) -> bool {
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name.starts_with('.')
        || [".json", ".md", ".txt", ".keys"]
            .iter()
            .any(|s| name.ends_with(s))
}
