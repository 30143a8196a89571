//! permessage-deflate (RFC 7692): the negotiated parameters and one direction's inflater.
//!
//! A compressed message is raw DEFLATE whose trailing `00 00 ff ff` the sender stripped; it
//! is inflated as its payload arrives (no need to hold the whole message) and the tail is
//! put back at the message's end. The LZ77 window is kept across messages: that reads a
//! sender with or without context takeover alike. When the sender promised no context
//! takeover the inflater is also reset per message, so one lost message does not spoil the
//! next ones.

use super::MAX_SCRATCH;
use flate2::{Decompress, FlushDecompress, Status};
use serde::Serialize;

/// The empty stored block the sender strips from every message's end.
const TAIL: [u8; 4] = [0, 0, 0xff, 0xff];

/// permessage-deflate as the server's response accepted it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DeflateParams {
    /// The client compresses every message afresh.
    pub client_no_context_takeover: bool,
    /// The server compresses every message afresh.
    pub server_no_context_takeover: bool,
    /// The client's LZ77 window (8-15 bits), when limited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_max_window_bits: Option<u8>,
    /// The server's LZ77 window (8-15 bits), when limited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_max_window_bits: Option<u8>,
}

impl DeflateParams {
    /// Reads the first `permessage-deflate` entry of a `Sec-WebSocket-Extensions` value
    /// (`permessage-deflate; client_max_window_bits=10; server_no_context_takeover`), or
    /// `None` when there is none.
    pub fn from_extensions(value: &str) -> Option<DeflateParams> {
        let ext = value.split(',').find(|e| {
            e.split(';')
                .next()
                .is_some_and(|n| n.trim().eq_ignore_ascii_case("permessage-deflate"))
        })?;
        let mut p = DeflateParams::default();
        for param in ext.split(';').skip(1) {
            let (name, val) = param.split_once('=').unwrap_or((param, ""));
            let bits = val.trim().trim_matches('"').parse::<u8>().ok();
            match name.trim().to_ascii_lowercase().as_str() {
                "client_no_context_takeover" => p.client_no_context_takeover = true,
                "server_no_context_takeover" => p.server_no_context_takeover = true,
                "client_max_window_bits" => p.client_max_window_bits = bits,
                "server_max_window_bits" => p.server_max_window_bits = bits,
                _ => {}
            }
        }
        Some(p)
    }
}

/// Why inflating stopped for a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum InflateStop {
    /// The bytes are not valid DEFLATE (or refer to a window the reader lost).
    Corrupt,
    /// The message inflates past the cap.
    TooLong,
}

/// One direction's inflater.
pub(super) struct Inflater {
    z: Decompress,
    /// Reset before each message (the sender does not take context over).
    fresh_each: bool,
    /// Inflated bytes of the current message.
    out_len: usize,
    /// The window is unusable until a reset (a lost or abandoned message).
    broken: bool,
    /// The stream ended (a final block): the next message starts a new one.
    ended: bool,
    cap: usize,
    buf: Vec<u8>,
}

impl Inflater {
    /// An inflater for a sender with (`fresh_each` false) or without context takeover,
    /// capping each message's inflated size at `cap`.
    pub fn new(fresh_each: bool, cap: usize) -> Self {
        Inflater {
            z: Decompress::new(false),
            fresh_each,
            out_len: 0,
            broken: false,
            ended: false,
            cap,
            buf: Vec::new(),
        }
    }

    /// A compressed message starts. Returns false when it cannot be read (the window was
    /// lost with context takeover).
    pub fn start(&mut self) -> bool {
        if self.fresh_each || self.ended {
            self.z.reset(false);
            self.broken = false;
            self.ended = false;
        }
        self.out_len = 0;
        !self.broken
    }

    /// The current message cannot be read to its end: with context takeover, the messages
    /// after it cannot either.
    pub fn abandon(&mut self) {
        self.broken = true;
    }

    /// Inflates a piece of the current message; `f` gets the output in pieces.
    pub fn feed(&mut self, input: &[u8], f: &mut impl FnMut(&[u8])) -> Result<(), InflateStop> {
        self.run(input, FlushDecompress::None, f)
    }

    /// The message is complete: inflates the stripped tail.
    pub fn finish(&mut self, f: &mut impl FnMut(&[u8])) -> Result<(), InflateStop> {
        self.run(&TAIL, FlushDecompress::Sync, f)
    }

    fn run(
        &mut self,
        mut input: &[u8],
        flush: FlushDecompress,
        f: &mut impl FnMut(&[u8]),
    ) -> Result<(), InflateStop> {
        if self.ended {
            return Ok(());
        }
        self.buf.resize(MAX_SCRATCH, 0);
        loop {
            let (in0, out0) = (self.z.total_in(), self.z.total_out());
            let status = self.z.decompress(input, &mut self.buf, flush);
            let used = (self.z.total_in() - in0) as usize;
            let made = (self.z.total_out() - out0) as usize;
            input = &input[used.min(input.len())..];
            self.out_len += made;
            if self.out_len > self.cap {
                self.broken = true;
                return Err(InflateStop::TooLong);
            }
            if made > 0 {
                f(&self.buf[..made]);
            }
            match status {
                Err(_) => {
                    self.broken = true;
                    return Err(InflateStop::Corrupt);
                }
                Ok(Status::StreamEnd) => {
                    self.ended = true;
                    return Ok(());
                }
                Ok(_) if used == 0 && made == 0 => return Ok(()),
                Ok(_) => {}
            }
        }
    }
}
