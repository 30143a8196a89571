//! The report stage: views of one `Analysis`. None of them recomputes anything, and none
//! rewrites it: vocabulary, pseudonyms and timeline trimming are applied to what is printed
//! (`present`).

mod anonymize;
pub mod digest;
mod html;
mod json;
mod json_out;
mod packets;
mod present;
pub mod svg;
mod text;
pub mod trace;
mod wireshark;

pub use html::write_index;
pub use json::{write_json, write_ndjson};
pub use packets::{PacketRow, packet_rows};
pub use present::{Presentation, present};
pub use text::{FINDINGS_PER_KIND, SMALL_CAPTURE, TABLE_ROWS, write_packets, write_table};
pub use wireshark::frame_filter;
