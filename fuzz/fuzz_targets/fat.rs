//! The FAT, GPT and MBR parsers on any bytes: a FAT file system at offset 0 (its entries, the
//! data of its files, its FSInfo), a partition table. None may panic or loop.
//! Seed with small file systems: `mkfs.msdos -C s.img 1000` (FAT12), `-F 16`, `-F 32`, with
//! files copied in by mcopy.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tamis_disk::{Fat, Gpt, Mbr};

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(gpt)) = Gpt::read(&data) {
        let _ = gpt.check_partitions(&data);
    }
    let _ = Mbr::read(&data);
    let Ok(Some(fat)) = Fat::open(&data, 0) else { return };
    let _ = fat.fsinfo(&data);
    let _ = fat.boot_copies(&data);
    let _ = fat.free_clusters();
    let Ok(entries) = fat.entries(&data) else { return };
    for entry in entries.iter().filter(|e| e.is_live() && !e.is_dir()).take(64) {
        let _ = fat.file_data(&data, entry);
    }
});
