//! Fuzz target: see `dropscope_fuzz::ws`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dropscope_fuzz::ws(data));
