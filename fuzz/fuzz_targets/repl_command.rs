//! Fuzz target: see `theater_fuzz::repl_command`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| theater_fuzz::repl_command(data));
