//! `tamis diff --explain` hands the bytes of two files from two builds to the crates that own
//! their formats (every `tamis-formats` handler, the pyc, fontconfig and shadow stages, the ISO
//! reader), which normalize both in memory: any bytes. It must never panic, and a file compared
//! with itself never differs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tamis_manifest::Cause;
use tamis_manifest::explain::explain_content;

fuzz_target!(|data: &[u8]| {
    // The first byte picks a path (which rules apply), the rest is split into the two sides.
    let Some((&pick, rest)) = data.split_first() else { return };
    let paths = ["/etc/shadow", "/usr/lib/x.pyc", "/var/cache/fontconfig/x-le64.cache-8", "/x.jar", "/boot/initrd.img", "/usr/lib/x.a", "/x.png", "/x.mo"];
    let path = paths[usize::from(pick) % paths.len()];
    let cut = rest.len() / 2;
    let (a, b) = rest.split_at(cut);
    let e = explain_content(path, Some(a), Some(b));
    assert_eq!(e.stage, e.cause.stage());
    let _ = explain_content(path, Some(a), Some(a));
    if a != b && e.cause == Cause::Unknown {
        assert!(e.detail.contains("differ"), "{}", e.detail);
    }
});
