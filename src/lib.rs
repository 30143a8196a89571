//! dropscope: why did my MQTT connection drop?
//!
//! A pipeline of stages, each a module: `source` (capture files) → `decode` (link, IP and
//! TCP headers) → `tcp` (flows and reassembly) → `mqtt` (framing and decoding) → `session`
//! (per-connection record) → `verdict` (why it ended) → `correlate` (patterns across
//! connections) → `report` (text, JSON, NDJSON, SVG). [`Analyzer`] drives the stages; time
//! comes only from packet timestamps.

pub mod analysis;
pub mod analyzer;
pub mod correlate;
pub mod decode;
pub mod live;
pub mod mqtt;
pub mod report;
pub mod session;
pub mod source;
pub mod tcp;
pub mod time;
pub mod verdict;

pub use analysis::{Analysis, EngineStats};
pub use analyzer::{Analyzer, Config};
pub use session::Connection;
pub use verdict::{Cause, Layer, Verdict};

use serde::Serialize;

/// Where something happened: a frame number (1-based, as Wireshark numbers them) and its
/// capture time. Every packet, event and piece of evidence carries one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize)]
pub struct FrameRef {
    /// Frame number.
    pub frame: u64,
    /// Capture time.
    #[serde(rename = "time")]
    pub ts: time::Timestamp,
}
