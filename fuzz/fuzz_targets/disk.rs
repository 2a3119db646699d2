//! The disk normalizer takes images from outside: any bytes. It may not panic; an image it
//! accepts stays valid once patched and normalizes to itself. Seed with a small real image
//! (`truncate -s 4M s.img; sgdisk -n 1:2048:0 -t 1:EF00 s.img; mkfs.msdos --offset 2048 s.img
//! 1000; mcopy -i s.img@@1M FILE ::/`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tamis_disk::{Options, normalize_bytes};

fuzz_target!(|data: &[u8]| {
    let mut image = data.to_vec();
    for keep_guids in [false, true] {
        let Some(epoch) = tamis_core::Epoch::from_secs(1_700_000_000) else { return };
        let options = Options::new(epoch).with_keep_guids(keep_guids);
        if normalize_bytes(&mut image, &options).is_ok() {
            let again = normalize_bytes(&mut image, &options).expect("a normalized image is still valid");
            assert!(again.patches.is_empty(), "not idempotent: {:?}", again.patches.first());
        }
    }
});
