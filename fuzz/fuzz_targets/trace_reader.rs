//! Fuzz target: see `theater_fuzz::trace_reader`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| theater_fuzz::trace_reader(data));
