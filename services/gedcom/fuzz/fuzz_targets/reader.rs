//! Any bytes: the reader and validator must not panic, and must finish.
#![no_main]

use dzinza_gedcom::{ReaderOptions, validate};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let options = ReaderOptions {
        max_line_bytes: 4096,
        ..ReaderOptions::default()
    };
    let _ = validate::check(data, options, |_| {});
    let _ = dzinza_gedcom::read_gedcom(data);
});
