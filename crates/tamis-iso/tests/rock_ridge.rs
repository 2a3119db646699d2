//! Rock Ridge through the library: long names and link targets that spill into `CE`
//! continuation areas, devices, fifos, modes and owners, read back as the tree has them, and
//! their `TF` times normalized wherever they lie. Images are made by the real xorriso.

#![allow(clippy::disallowed_methods, reason = "tests")]

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::Path;
use std::process::Command;

use tamis_core::FileKind;
use tamis_core::Mode;
use tamis_iso::{Options, Reader, normalize_file};

const EPOCH: i64 = 1_700_000_000;

fn tree(root: &Path) {
    let dir = root.join("dir");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("n".repeat(200)), b"long name").unwrap();
    let long: Vec<String> = (0..40).map(|i| format!("component{i:03}")).collect();
    std::os::unix::fs::symlink(long.join("/"), dir.join("longlink")).unwrap();
    std::os::unix::fs::symlink("/etc/../etc/passwd", dir.join("absolute")).unwrap();
    std::fs::write(dir.join("setuid"), b"#!/bin/sh\n").unwrap();
    std::fs::set_permissions(dir.join("setuid"), std::fs::Permissions::from_mode(0o4751)).unwrap();
    let fifo = Command::new("mkfifo").arg(dir.join("fifo")).status().unwrap();
    assert!(fifo.success());
}

fn xorriso(tree: &Path, out: &Path, later: bool) {
    let mut cmd = if later { tamis_test_support::faketime("+3d", "xorriso") } else { Command::new("xorriso") };
    let out = cmd.args(["-as", "mkisofs", "-R", "-J", "-o"]).arg(out).arg(tree).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn rock_ridge_metadata_reads_back_and_continuation_areas_are_normalized() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("tree");
    tree(&root);
    let (a, b) = (dir.path().join("a.iso"), dir.path().join("b.iso"));
    xorriso(&root, &a, false);
    xorriso(&root, &b, true);
    let raw = std::fs::read(&a).unwrap();
    assert!(raw.windows(4).any(|w| w == b"CE\x1c\x01"), "the image should need continuation areas");

    let reader = Reader::open(&a).unwrap();
    assert!(reader.has_rock_ridge());
    let entries = reader.entries().unwrap();
    let find = |name: &str| {
        entries
            .iter()
            .find(|e| e.path == format!("/dir/{name}").as_bytes())
            .unwrap_or_else(|| panic!("no /dir/{name} in {entries:?}"))
    };
    let long = find(&"n".repeat(200));
    assert_eq!(reader.read(long).unwrap(), b"long name");
    let link = find("longlink");
    assert_eq!(link.kind, FileKind::Symlink);
    assert_eq!(
        link.target.as_deref(),
        Some(std::fs::read_link(root.join("dir/longlink")).unwrap().as_os_str().as_encoded_bytes())
    );
    assert_eq!(find("absolute").target.as_deref(), Some(b"/etc/../etc/passwd".as_slice()));
    assert_eq!(find("fifo").kind, FileKind::Fifo);
    let setuid = find("setuid");
    let meta = std::fs::metadata(root.join("dir/setuid")).unwrap();
    assert_eq!((setuid.mode, setuid.uid, setuid.gid), (0o4751, meta.uid(), meta.gid()));
    assert_eq!(setuid.mtime.secs, meta.mtime());

    let options = Options::new(tamis_core::Epoch::from_secs(EPOCH).unwrap());
    let plan = normalize_file(&a, &options, Mode::Apply).unwrap();
    assert!(plan.patches.iter().any(|p| p.field.starts_with("Rock Ridge TF")));
    normalize_file(&b, &options, Mode::Apply).unwrap();
    assert!(std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap(), "still different after normalize");
    assert!(normalize_file(&a, &options, Mode::Check).unwrap().patches.is_empty(), "not idempotent");
    // The reader sees the clamped times, the same names.
    let after = Reader::open(&a).unwrap().entries().unwrap();
    assert_eq!(after.len(), entries.len());
    assert!(after.iter().all(|e| e.mtime.secs <= EPOCH));
}

#[test]
fn every_truncation_of_a_real_image_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("tree");
    tree(&root);
    let image = dir.path().join("a.iso");
    xorriso(&root, &image, false);
    let bytes = std::fs::read(&image).unwrap();
    let options = Options::new(tamis_core::Epoch::from_secs(EPOCH).unwrap());
    // Cut inside each block of the metadata: a corrupt image, said so, never a panic nor a
    // plan for bytes that are not there. Flip bytes there: never a panic.
    for cut in (0..bytes.len().min(64 * 2048)).step_by(509) {
        let mut short = bytes[..cut].to_vec();
        match tamis_iso::normalize_bytes(&mut short, &options) {
            Err(tamis_iso::Error::Image(tamis_disk::Error::Corrupt { reason, .. })) => {
                assert!(!reason.is_empty(), "cut at {cut}");
            }
            other => panic!("cut at {cut} of {}: {other:?}", bytes.len()),
        }
        assert_eq!(short, bytes[..cut], "cut at {cut}: nothing patched");
        let mut flipped = bytes.clone();
        flipped[cut] ^= 0xA5;
        let _ = tamis_iso::normalize_bytes(&mut flipped, &options);
        if let Ok(reader) = Reader::new(flipped.as_slice(), Path::new("flipped.iso")) {
            if let Ok(entries) = reader.entries() {
                for e in &entries {
                    let _ = reader.read(e);
                }
            }
        }
    }
}

/// Rewrites partition entry `index` of both GPT copies with `edit`, then fixes every CRC, so
/// that the tables pass validation and only the values are hostile.
fn edit_gpt(image: &mut [u8], index: usize, edit: impl Fn(&mut [u8])) {
    let le32 = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap()) as usize;
    let le64 = |b: &[u8], at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap()) as usize;
    let backup = le64(image, 512 + 32) * 512;
    for header in [512, backup] {
        let (array, count, size) = (le64(image, header + 72) * 512, le32(image, header + 80), le32(image, header + 84));
        edit(&mut image[array + index * size..array + (index + 1) * size]);
        let crc = crc32fast::hash(&image[array..array + count * size]);
        image[header + 88..header + 92].copy_from_slice(&crc.to_le_bytes());
        let len = le32(image, header + 12);
        image[header + 16..header + 20].fill(0);
        let crc = crc32fast::hash(&image[header..header + len]);
        image[header + 16..header + 20].copy_from_slice(&crc.to_le_bytes());
    }
}

#[test]
fn hostile_partition_tables_with_valid_crcs_are_errors_or_ignored_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("tree");
    tree(&root);
    let efi = dir.path().join("efi.img");
    let made = Command::new("mformat").args(["-C", "-f", "1440", "-i"]).arg(&efi).arg("::").output().unwrap();
    assert!(made.status.success());
    let image = dir.path().join("a.iso");
    let out = Command::new("xorriso")
        .args(["-as", "mkisofs", "-R", "-append_partition", "2", "0xef"])
        .arg(&efi)
        .args(["-appended_part_as_gpt", "-o"])
        .arg(&image)
        .arg(&root)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let bytes = std::fs::read(&image).unwrap();
    let options = Options::new(tamis_core::Epoch::from_secs(EPOCH).unwrap());
    let esp: [u8; 16] =
        [0x28, 0x73, 0x2a, 0xc1, 0x1f, 0xf8, 0xd2, 0x11, 0xba, 0x4b, 0x00, 0xa0, 0xc9, 0x3e, 0xc9, 0x3b];
    let hfs: [u8; 16] =
        [0x00, 0x53, 0x46, 0x48, 0x00, 0x00, 0xaa, 0x11, 0xaa, 0x11, 0x00, 0x30, 0x65, 0x43, 0xec, 0xac];
    for (type_guid, first) in [(esp, u64::MAX - 3), (esp, 1 << 60), (hfs, 0), (hfs, u64::MAX / 512), (esp, 0)] {
        let mut hostile = bytes.clone();
        edit_gpt(&mut hostile, 1, |e| {
            e[..16].copy_from_slice(&type_guid);
            e[32..40].copy_from_slice(&first.to_le_bytes());
        });
        let _ = tamis_iso::normalize_bytes(&mut hostile, &options);
    }
}
