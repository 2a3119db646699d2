//! A manifest file given to `tamis diff` may come from anywhere: any bytes. Reading must never
//! panic, and what it accepts must write back and read again to the same entries.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use tamis_manifest::Manifest;

fuzz_target!(|data: &[u8]| {
    let Ok(manifest) = Manifest::read_json_lines(data, Path::new("fuzz.jsonl")) else { return };
    let mut written = Vec::new();
    manifest.write_json_lines(&mut written).expect("writing to a Vec cannot fail");
    let again = Manifest::read_json_lines(&written[..], Path::new("again.jsonl")).expect("what was written reads");
    assert_eq!(again.entries, manifest.entries);
});
