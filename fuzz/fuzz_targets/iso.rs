//! The ISO reader and normalizer take images from outside: any bytes. Neither may panic; an
//! image the normalizer accepts stays valid once patched and normalizes to itself; an image the
//! reader accepts lists entries whose data it can read or refuse with an error.
//! Seed with a small real image (`xorriso -as mkisofs -R -J -o seed.iso DIR`) and a `-max_len`
//! above 34816 (the volume descriptors start at 32768).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use tamis_iso::{Options, Reader, normalize_bytes};

fuzz_target!(|data: &[u8]| {
    let mut image = data.to_vec();
    let options = Options::new(tamis_core::Epoch::from_secs(1_700_000_000).expect("a valid epoch"));
    if normalize_bytes(&mut image, &options).is_ok() {
        let again = normalize_bytes(&mut image, &options).expect("a normalized image is still valid");
        assert!(again.patches.is_empty(), "not idempotent: {:?}", again.patches.first());
    }
    let Ok(reader) = Reader::new(data, Path::new("fuzz.iso")) else { return };
    let Ok(entries) = reader.entries() else { return };
    for entry in entries.iter().take(64) {
        let _ = reader.read(entry);
    }
});
