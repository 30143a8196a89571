//! Fuzz target: see `dropscope_fuzz::decode_frame`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dropscope_fuzz::decode_frame(data));
