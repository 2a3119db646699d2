//! The parsers and the normalizer on file systems and tables made by the real tools (sgdisk,
//! mkfs.msdos, mcopy): what they read is what mtools wrote, and no damage to the metadata
//! makes them panic.

#![allow(clippy::disallowed_methods, clippy::print_stderr, reason = "tests")]

use std::path::Path;
use std::process::Command;

use tamis_disk::{Fat, Gpt, Options, normalize_bytes};

const EPOCH: i64 = 1_700_000_000;

fn have(tools: &[&str]) -> bool {
    let missing: Vec<_> = tools
        .iter()
        .filter(|t| !Command::new("sh").args(["-c", &format!("command -v {t}")]).output().unwrap().status.success())
        .collect();
    if missing.is_empty() {
        return true;
    }
    assert!(std::env::var_os("TAMIS_REQUIRE_FIXTURES").is_none_or(|v| v != "1"), "missing tools {missing:?}");
    eprintln!("skipped: missing tools {missing:?}");
    false
}

fn sh(script: &str) {
    let out = Command::new("sh").args(["-c", script]).env("MTOOLS_SKIP_CHECK", "1").output().unwrap();
    assert!(out.status.success(), "{script}: {}", String::from_utf8_lossy(&out.stderr));
}

/// The files put in every test file system: a long name, a lower-case 8.3 name, a file of
/// several clusters, an empty file, nested directories.
const FILES: &[(&str, usize)] =
    &[("/a long file name.txt", 10), ("/config", 7), ("/dir/sub/big.bin", 70_000), ("/dir/empty", 0)];

/// A GPT disk image with one FAT partition (`bits`) at 1 MiB holding [`FILES`].
fn image(dir: &Path, bits: &str) -> Vec<u8> {
    let img = dir.join(format!("fat{bits}.img"));
    let tree = dir.join(format!("tree{bits}"));
    for (name, size) in FILES {
        let path = tree.join(&name[1..]);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, (0..*size).map(|i| (i % 251) as u8).collect::<Vec<_>>()).unwrap();
    }
    let (i, t) = (img.display(), tree.display());
    // Clusters small enough for FAT32 to be allowed, large enough for FAT12.
    let spc = match bits {
        "12" => 64,
        "16" => 4,
        _ => 1,
    };
    sh(&format!(
        "set -e; truncate -s 40M {i}; sgdisk -n 1:2048:0 -t 1:EF00 {i} >/dev/null; \
         mkfs.msdos -F {bits} -s {spc} --offset 2048 {i} 39000 >/dev/null; \
         cd {t}; mcopy -s -i {i}@@1M 'a long file name.txt' config dir ::/"
    ));
    std::fs::read(img).unwrap()
}

#[test]
fn fat12_16_32_entries_and_file_data_are_what_mtools_wrote() {
    if !have(&["sgdisk", "mkfs.msdos", "mcopy"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for bits in ["12", "16", "32"] {
        let bytes = image(dir.path(), bits);
        let src = bytes.as_slice();
        let gpt = Gpt::read(&src).unwrap().unwrap();
        gpt.check_partitions(&src).unwrap();
        let part = &gpt.partitions()[0];
        let fat = Fat::open(&src, part.start()).unwrap().unwrap();
        assert_eq!(fat.bits.to_string(), bits);
        let entries = fat.entries(&src).unwrap();
        for (name, size) in FILES {
            let entry = entries.iter().find(|e| e.long_path == *name).unwrap_or_else(|| panic!("FAT{bits}: {name}"));
            let data = fat.file_data(&src, entry).unwrap();
            assert!(data == (0..*size).map(|i| (i % 251) as u8).collect::<Vec<_>>(), "FAT{bits}: {name}");
        }
    }
}

/// Every truncation of a real image and every single-byte change of its metadata sectors is
/// an error or a valid image; none panics, and an accepted image normalizes to itself.
#[test]
fn damaged_metadata_is_an_error_or_normalizes_to_itself_never_a_panic() {
    if !have(&["sgdisk", "mkfs.msdos", "mcopy"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let options = Options::new(tamis_core::Epoch::from_secs(EPOCH).unwrap());
    for bits in ["16", "32"] {
        let bytes = image(dir.path(), bits);
        let mut normalized = bytes.clone();
        let plan = normalize_bytes(&mut normalized, &options).unwrap();
        assert!(!plan.patches.is_empty());
        // Truncations: inside the tables, the FAT's metadata, the data, the backup GPT.
        let lengths = (0..70_000).step_by(97).chain((1 << 20..(1 << 20) + 300_000).step_by(4099));
        for len in lengths.chain([bytes.len() - 1]) {
            assert!(plan_of(&bytes[..len], &options).is_err(), "FAT{bits}: truncated to {len} accepted");
        }
        // Byte changes, one at a time in one copy (a 40 MiB image is not copied per change):
        // the MBR and the primary GPT, the partition's first 40 sectors (boot sector,
        // FSInfo, copies, the start of the FAT) and its root directory.
        let fat = Fat::open(&bytes.as_slice(), 1 << 20).unwrap().unwrap();
        let root = fat.entries(&bytes.as_slice()).unwrap()[0].offset as usize;
        let spots = (0..17_408).chain((1 << 20)..(1 << 20) + 20_480).chain(root..root + 256);
        let mut work = bytes.clone();
        for at in spots.step_by(29) {
            work[at] ^= 0xA5;
            if let Ok(first) = plan_of(&work, &options) {
                for p in &first.patches {
                    work[p.offset as usize..][..p.new.len()].copy_from_slice(&p.new);
                }
                let again = plan_of(&work, &options).expect("a normalized image stays valid");
                assert!(again.patches.is_empty(), "byte {at}: not idempotent: {:?}", again.patches.first());
                for p in &first.patches {
                    let r = p.offset as usize..p.offset as usize + p.new.len();
                    work[r.clone()].copy_from_slice(&bytes[r]);
                }
            }
            work[at] = bytes[at];
        }
    }
}

fn plan_of(bytes: &[u8], options: &Options) -> Result<tamis_disk::Plan, tamis_disk::Fault> {
    tamis_disk::normalize::plan(&bytes, options)
}
