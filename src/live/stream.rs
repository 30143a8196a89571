//! `live --read`: a capture stream as a live source. Standard input (`tcpdump -U -w - |`,
//! `ssh gw tcpdump -U -w - … |`) ends when its writer closes the pipe; a file is read to its
//! end, or with `--follow` followed as it grows (as `tail -f`) until SIGINT or SIGTERM.
//! Frames are numbered as Wireshark numbers the same bytes (every record counts, a
//! `--filter` is applied after numbering), and a pcapng stream's TLS secrets come with the
//! batches, before the frames that follow them.
//!
//! A thread reads the stream through the same `CaptureFile` that `analyze` uses and hands
//! batches to the driver like the interface's capture thread does. A batch goes out when
//! full, when its first frame is `BATCH_AGE` old, or when the stream has nothing more to
//! read right now, so a slow stream's frames are not held back.

use super::capture::{
    BATCH_AGE, BATCH_FRAMES, Batch, CaptureError, CaptureSpec, Live, PcapCounters,
};
use crate::source::{self, CaptureFile, SourceError};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// How often a followed file is looked at again once its end is reached.
const FOLLOW_POLL: Duration = Duration::from_millis(200);
/// Batches in flight between the reading thread and the analysis.
const CHANNEL_BATCHES: usize = 64;

/// A stream to read instead of an interface.
#[derive(Debug, Clone)]
pub struct StreamSpec {
    /// The capture file, or `-` for standard input.
    pub path: PathBuf,
    /// Follow a file as it grows instead of stopping at its end.
    pub follow: bool,
}

/// Opens the stream and starts its reading thread.
pub fn start(spec: &CaptureSpec, stream: &StreamSpec) -> Result<Live, CaptureError> {
    let filter = Some(spec.filter.as_str()).filter(|f| !f.is_empty());
    let stop = Arc::new(AtomicBool::new(false));
    let path = stream.path.as_path();
    let follow = stream.follow && path.as_os_str() != source::STDIN;
    let mut file = if follow {
        let reader = Follow {
            file: File::open(path).map_err(|e| io_error(path, e))?,
            stop: stop.clone(),
        };
        CaptureFile::open_stream(path, Box::new(reader), filter)?
    } else {
        CaptureFile::open(path, filter)?
    };
    let unblock = file.stopper().transpose().map_err(|e| io_error(path, e))?;
    let secrets = file.take_secrets();
    let mut first = Batch::new(file.linktype());
    if secrets.is_none() {
        // A plain file's secrets are read before it (the pre-pass `analyze` uses); an
        // unreadable file is reported by the capture reader.
        let _ = source::pcapng_tls_key_logs(path, &mut |text| first.add_secrets(text.to_vec()));
    }
    let (tx, rx) = mpsc::channel(CHANNEL_BATCHES);
    let counters = Arc::new(PcapCounters::default());
    let linktype = file.linktype();
    let reader = StreamReader {
        file,
        secrets,
        tx,
        counters: counters.clone(),
        stop: stop.clone(),
    };
    let thread = std::thread::Builder::new()
        .name("stream".into())
        .spawn(move || reader.run(first))
        .map_err(|e| io_error(path, e))?;
    Ok(Live::from_parts(
        rx, counters, linktype, stop, thread, unblock,
    ))
}

fn io_error(path: &Path, source: std::io::Error) -> CaptureError {
    CaptureError::Input(SourceError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// A file read as it grows: at its end, reads wait for more until told to stop.
struct Follow {
    file: File,
    stop: Arc<AtomicBool>,
}

impl Read for Follow {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let n = self.file.read(buf)?;
            if n > 0 || buf.is_empty() || self.stop.load(Ordering::Relaxed) {
                return Ok(n);
            }
            std::thread::sleep(FOLLOW_POLL);
        }
    }
}

struct StreamReader {
    file: CaptureFile,
    secrets: Option<Receiver<Vec<u8>>>,
    tx: mpsc::Sender<Batch>,
    counters: Arc<PcapCounters>,
    stop: Arc<AtomicBool>,
}

impl StreamReader {
    /// Reads to the end of the stream (or until told to stop), `batch` first.
    fn run(mut self, mut batch: Batch) {
        let mut number = 0u64;
        let mut since = Instant::now();
        while !self.stop.load(Ordering::Relaxed) {
            let due = batch.len() >= BATCH_FRAMES
                || (!batch.is_empty()
                    && (since.elapsed() >= BATCH_AGE || self.file.stream_is_dry()));
            if due && !self.flush(&mut batch) {
                return;
            }
            for text in self.secrets.iter().flat_map(Receiver::try_iter) {
                batch.add_secrets(text);
            }
            let Some((frame, passes)) = self.file.next_frame(number + 1) else {
                break;
            };
            number += 1;
            if passes {
                if batch.is_empty() {
                    since = Instant::now();
                }
                batch.push_frame(&frame);
            }
            self.counters.received.store(number, Ordering::Relaxed);
        }
        if let Some(w) = self.file.take_warning()
            && !self.stop.load(Ordering::Relaxed)
        {
            eprintln!("dropscope: warning: {w}");
        }
        self.flush(&mut batch);
    }

    /// Sends the batch (if it holds anything) and starts a new one; false when the analysis
    /// side is gone.
    fn flush(&self, batch: &mut Batch) -> bool {
        if batch.is_empty() && !batch.has_secrets() {
            return true;
        }
        let sent = std::mem::replace(batch, Batch::new(self.file.linktype()));
        self.tx.blocking_send(sent).is_ok()
    }
}
