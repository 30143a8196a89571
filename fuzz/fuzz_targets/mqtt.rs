//! Fuzz target: see `dropscope_fuzz::mqtt_stream`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dropscope_fuzz::mqtt_stream(data));
