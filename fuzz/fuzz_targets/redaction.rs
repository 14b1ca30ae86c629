//! cargo-fuzz target `redaction`: the harness lives in the library (`hostscript::fuzz`), so the
//! stable test suite replays this target's corpus through the very same code.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hostscript::fuzz::run("redaction", data));
