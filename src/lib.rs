//! dropscope: why did my MQTT connection drop?
//!
//! A pipeline of stages, each a module, data flowing one way: `source` (capture files) →
//! `decode` (link, IP and TCP headers) → `tcp` (flows and reassembly) → `transport` (what
//! the connection carries: plain MQTT or TLS) → `mqtt` framing and decoding → `session`
//! (per-connection record) → `verdict` (why it ended) → `correlate` (patterns across
//! connections) → `engine` (drives them) → `report` (text, JSON, NDJSON, SVG); `live` drives
//! the engine on an interface; `publish` sends a probe's records to NATS JetStream and `fleet`
//! correlates the records of many probes. Time comes only from packet timestamps.

pub mod correlate;
pub mod decode;
pub mod engine;
pub mod evidence;
pub mod fleet;
pub mod join;
pub mod live;
pub mod mqtt;
pub mod publish;
pub mod report;
pub mod session;
pub mod source;
pub mod tcp;
pub mod time;
pub mod transport;
pub mod verdict;

pub use engine::{Analysis, Analyzer, Config, EngineStats};
pub use evidence::FrameRef;
pub use session::Connection;
pub use verdict::{Cause, Judged, Layer, Verdict};
