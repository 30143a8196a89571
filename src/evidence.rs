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
