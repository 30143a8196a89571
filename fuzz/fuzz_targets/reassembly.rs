//! Fuzz target: see `dropscope_fuzz::reassembly`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dropscope_fuzz::reassembly(data));
