//! The report stage: views of one `Analysis`. None of them recomputes anything.

pub mod anonymize;
mod html;
mod json;
pub mod svg;
mod text;
pub mod trace;

pub use html::write_index;
pub use json::{write_json, write_ndjson};
pub use text::{write_packets, write_table};
