//! Evidence: where something happened. Every packet, event and verdict's evidence carries a
//! [`FrameRef`], so a user can open the frame in Wireshark.

use crate::time::Timestamp;
use serde::Serialize;

/// Where something happened: a frame number (1-based, as Wireshark numbers them) and its
/// capture time. Every packet, event and piece of evidence carries one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize)]
pub struct FrameRef {
    /// Frame number.
    pub frame: u64,
    /// Capture time.
    #[serde(rename = "time")]
    pub ts: Timestamp,
}

/// Frame `frame` at `secs` seconds since the epoch: the unit tests' way to place evidence.
#[cfg(test)]
pub(crate) fn frame_at(frame: u64, secs: f64) -> FrameRef {
    FrameRef {
        frame,
        ts: Timestamp((secs * 1e9) as i64),
    }
}
