//! The cpio reader takes initrds from images: any bytes. Parsing must never panic, and an
//! archive it accepts, once normalized, parses again to the same members and normalizes to
//! itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tamis_cpio::{ArchiveOptions, archive, newc};

fuzz_target!(|data: &[u8]| {
    let Ok((members, _)) = newc::parse(data) else { return };
    let mut once = Vec::new();
    archive::normalize(&members, 1_700_000_000, ArchiveOptions::default(), &mut once);
    let (again, _) = newc::parse(&once).expect("a normalized archive parses");
    assert_eq!(again.len(), members.len());
    let mut twice = Vec::new();
    archive::normalize(&again, 1_700_000_000, ArchiveOptions::default(), &mut twice);
    assert_eq!(once, twice, "normalizing is idempotent");
});
