//! Fuzz target: see `dropscope_fuzz::tls`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dropscope_fuzz::tls(data));
