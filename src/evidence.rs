//! Evidence: where something happened. Every packet, event and verdict's evidence carries a
//! [`FrameRef`], so a user can open the frame in Wireshark.

use crate::time::Timestamp;
use serde::Serialize;
use std::num::NonZeroU64;

/// Where something happened: a frame number (1-based, as Wireshark numbers them) and its
/// capture time. Every packet, event and piece of evidence carries one.
///
/// The number is kept non-zero so that an `Option<FrameRef>` is no larger than a `FrameRef`:
/// a connection's record holds a score of optional frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct FrameRef {
    #[serde(rename = "frame")]
    number: NonZeroU64,
    /// Capture time.
    #[serde(rename = "time")]
    pub ts: Timestamp,
}

impl FrameRef {
    /// Frame `number` (1-based; a 0, which no reader produces, is taken as frame 1) at `ts`.
    pub fn new(number: u64, ts: Timestamp) -> FrameRef {
        FrameRef {
            number: NonZeroU64::new(number).unwrap_or(NonZeroU64::MIN),
            ts,
        }
    }

    /// The frame number, as Wireshark shows it.
    pub fn frame(&self) -> u64 {
        self.number.get()
    }
}

/// Frame `frame` at `secs` seconds since the epoch: the unit tests' way to place evidence.
#[cfg(test)]
pub(crate) fn frame_at(frame: u64, secs: f64) -> FrameRef {
    FrameRef::new(frame, Timestamp((secs * 1e9) as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_optional_frame_costs_no_more_than_a_frame() {
        assert_eq!(size_of::<Option<FrameRef>>(), size_of::<FrameRef>());
        let at = FrameRef::new(7, Timestamp(5));
        assert_eq!((at.frame(), at.ts), (7, Timestamp(5)));
        let json = serde_json::to_value(at).expect("serializes");
        assert_eq!(json["frame"], 7);
        assert_eq!(
            FrameRef::new(0, Timestamp(5)).frame(),
            1,
            "no reader makes a frame 0"
        );
    }
}
