//! Fuzz target: see `theater_fuzz::manifest`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| theater_fuzz::manifest(data));
