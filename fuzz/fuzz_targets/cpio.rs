//! The cpio reader takes initrds and archives from images: any bytes. Parsing must never panic,
//! and an archive it accepts (newc, crc or odc), once normalized, parses again to the same
//! members and normalizes to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tamis_cpio::{ArchiveOptions, Format, archive, newc, odc};

fuzz_target!(|data: &[u8]| {
    let Some(format) = Format::detect(data) else { return };
    let parse = if format == Format::Odc { odc::parse } else { newc::parse };
    let Ok((members, _)) = parse(data) else { return };
    let mut once = Vec::new();
    // An odc archive of more members than its inode field counts is refused, not cut.
    let Ok(()) = archive::normalize(&members, format, 1_700_000_000, ArchiveOptions::default(), &mut once) else {
        return;
    };
    let (again, _) = parse(&once).expect("a normalized archive parses");
    assert_eq!(again.len(), members.len());
    let mut twice = Vec::new();
    archive::normalize(&again, format, 1_700_000_000, ArchiveOptions::default(), &mut twice).expect("it fitted once");
    assert_eq!(once, twice, "normalizing is idempotent");
});
