//! The report stage: views of one `Analysis`. None of them recomputes anything.

mod json;
mod text;
pub mod trace;

pub use json::{write_json, write_ndjson};
pub use text::{write_packets, write_table};
