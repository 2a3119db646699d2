//! `tamis iso`: live images built by the real tools (xorriso, mtools, mksquashfs, GRUB,
//! isolinux) the way Debian's live images are laid out, checked with the real consumers
//! (`xorriso -check_media` and `-osirrox` extraction, isoinfo, fdisk, `fsck.fat`, mdir).

#![allow(clippy::disallowed_methods, clippy::print_stderr, reason = "tests")]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const EPOCH: &str = "1700000000";

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/iso/make-live-iso.sh")
}

use common::run;

/// Builds the live image into `dir/NAME.iso`; `later` runs the whole build three days ahead
/// (faketime) and in another time zone, as a second build on another day would.
fn live_iso(boot: &Path, dir: &Path, name: &str, later: bool) -> PathBuf {
    let out = dir.join(format!("{name}.iso"));
    let work = dir.join(format!("{name}.work"));
    let mut cmd = if later {
        let mut c = common::faketime("+3d", "sh");
        c.env("TZ", "Asia/Tokyo");
        c
    } else {
        let mut c = Command::new("sh");
        c.env("TZ", "UTC");
        c
    };
    run(cmd.arg(script()).arg(boot).arg(&work).arg(&out));
    out
}

fn boot_dir() -> Option<PathBuf> {
    common::fixture("initramfs-pair").map(|p| p.join("a/boot"))
}

/// A tree with one file (`tree/d/f`) and an empty EFI FAT image made by `mformat`, in `dir`.
fn small_tree_and_efi_image(dir: &Path) -> (PathBuf, PathBuf) {
    let tree = dir.join("tree");
    std::fs::create_dir_all(tree.join("d")).unwrap();
    std::fs::write(tree.join("d/f"), b"data").unwrap();
    let efi = dir.join("efi.img");
    run(Command::new("mformat").args(["-C", "-f", "1440", "-i"]).arg(&efi).arg("::"));
    (tree, efi)
}

fn normalize(image: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["iso", "normalize", "--epoch", EPOCH];
    args.extend(extra);
    args.push(image.to_str().unwrap());
    common::tamis(&args)
}

#[test]
fn two_builds_at_different_times_are_identical_after_normalize() {
    let Some(boot) = boot_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let a = live_iso(&boot, dir.path(), "a", false);
    let b = live_iso(&boot, dir.path(), "b", true);
    let (raw_a, raw_b) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    assert_ne!(raw_a, raw_b, "the two builds should differ before tamis");

    // --check: exit 1, and the image is left as it was.
    let check = normalize(&a, &["--check"]);
    assert_eq!(check.status.code(), Some(1), "{}", String::from_utf8_lossy(&check.stderr));
    assert_eq!(std::fs::read(&a).unwrap(), raw_a, "--check wrote to the image");

    for image in [&a, &b] {
        let out = normalize(image, &["--json", "-"]);
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let reasons: Vec<&str> =
            report["stages"][0]["changes"].as_array().unwrap().iter().map(|c| c["reason"].as_str().unwrap()).collect();
        for field in
            ["recording date", "Rock Ridge TF modification time", "disk GUID", "volume serial", "creation date"]
        {
            assert!(reasons.contains(&field), "no {field} change in {reasons:?}");
        }
    }
    let (norm_a, norm_b) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    assert_eq!(norm_a.len(), raw_a.len(), "normalizing changed the image's length");
    assert!(norm_a == norm_b, "the two builds still differ after normalize");

    // Normalizing is idempotent: a check of a normalized image finds nothing.
    let again = normalize(&a, &["--check"]);
    assert_eq!(again.status.code(), Some(0), "{}", String::from_utf8_lossy(&again.stderr));

    // `tamis diff` reads ISO images: identical.
    let diff = common::tamis(&["diff", a.to_str().unwrap(), b.to_str().unwrap()]);
    assert_eq!(diff.status.code(), Some(0), "{}", String::from_utf8_lossy(&diff.stderr));
}

#[test]
fn a_normalized_image_still_verifies_with_the_real_tools() {
    let Some(boot) = boot_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let image = live_iso(&boot, dir.path(), "raw", false);
    let before = dir.path().join("before.iso");
    std::fs::copy(&image, &before).unwrap();
    let out = normalize(&image, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));

    // xorriso reads every block and finds the image good.
    let check = run(Command::new("xorriso").args(["-indev"]).arg(&image).args(["-check_media", "--"]));
    let text = String::from_utf8_lossy(&check.stdout).into_owned() + &String::from_utf8_lossy(&check.stderr);
    assert!(text.contains("+ good"), "{text}");

    // The same files with the same data: extract both with xorriso and compare, all but the EFI
    // image, whose FAT times and serial tamis rewrote (checked with fsck.fat below).
    for (iso, name) in [(&before, "x-before"), (&image, "x-after")] {
        run(Command::new("xorriso")
            .args(["-osirrox", "on", "-indev"])
            .arg(iso)
            .args(["-extract", "/"])
            .arg(dir.path().join(name)));
    }
    let diff = Command::new("diff")
        .args(["-r", "--no-dereference", "--exclude=efi.img"])
        .arg(dir.path().join("x-before"))
        .arg(dir.path().join("x-after"))
        .output()
        .unwrap();
    assert!(diff.status.success(), "{}", String::from_utf8_lossy(&diff.stdout));
    // tamis diff agrees: only dates, and the EFI image's content.
    let tamis_diff = common::tamis(&["diff", "--json", "-", before.to_str().unwrap(), image.to_str().unwrap()]);
    let report: serde_json::Value = serde_json::from_slice(&tamis_diff.stdout).unwrap();
    assert_eq!(report["counts"]["metadata"], 0, "{report}");
    assert_eq!(report["counts"]["only-in-first"], 0, "{report}");
    let content: Vec<&str> = report["differences"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["group"] == "content")
        .map(|d| d["path"].as_str().unwrap())
        .collect();
    assert_eq!(content, ["/boot/grub/efi.img"], "{report}");

    // isoinfo: Rock Ridge, Joliet, El Torito.
    let info = run(Command::new("isoinfo").arg("-d").arg("-i").arg(&image));
    let info = String::from_utf8_lossy(&info.stdout);
    for want in ["Rock Ridge signatures", "Joliet", "El Torito", "Volume id: TAMIS_LIVE"] {
        assert!(info.contains(want), "isoinfo -d lacks {want:?}:\n{info}");
    }
    let joliet = run(Command::new("isoinfo").args(["-J", "-f", "-i"]).arg(&image));
    assert!(String::from_utf8_lossy(&joliet.stdout).contains("/live/filesystem.squashfs"));

    // fdisk: the hybrid MBR with the EFI partition; xorriso: the GPT is valid.
    let fdisk = run(Command::new("fdisk").arg("-l").arg(&image));
    let fdisk = String::from_utf8_lossy(&fdisk.stdout).into_owned();
    let efi_line = fdisk.lines().find(|l| l.contains("EFI")).unwrap_or_else(|| panic!("no EFI partition:\n{fdisk}"));
    let fields: Vec<&str> = efi_line.split_whitespace().collect();
    let (start, sectors): (u64, u64) = (fields[1].parse().unwrap(), fields[3].parse().unwrap());
    let area = run(Command::new("xorriso").arg("-indev").arg(&image).args(["-report_system_area", "plain"]));
    let area = String::from_utf8_lossy(&area.stdout);
    assert!(area.contains("GPT disk GUID") && area.contains("GPT partition GUID"), "{area}");

    // The EFI FAT image: fsck.fat finds it clean, mdir lists GRUB with the epoch's date.
    let bytes = std::fs::read(&image).unwrap();
    let efi = dir.path().join("efi.img");
    std::fs::write(&efi, &bytes[(start * 512) as usize..((start + sectors) * 512) as usize]).unwrap();
    run(Command::new("fsck.fat").arg("-n").arg(&efi));
    let mdir = run(Command::new("mdir").arg("-i").arg(&efi).arg("::/EFI/boot"));
    let mdir = String::from_utf8_lossy(&mdir.stdout);
    assert!(mdir.contains("bootx64") || mdir.contains("BOOTX64"), "{mdir}");
    assert!(mdir.contains("2023-11-14"), "FAT times not clamped to the epoch:\n{mdir}");
}

#[test]
fn the_reader_lists_what_xorriso_lists() {
    let Some(boot) = boot_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let image = live_iso(&boot, dir.path(), "r", false);
    let list = common::tamis(&["iso", "list", "--json", "-", image.to_str().unwrap()]);
    assert!(list.status.success(), "{}", String::from_utf8_lossy(&list.stderr));
    let mut ours: Vec<(String, u64, String)> = String::from_utf8_lossy(&list.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .map(|v| {
            let size = if v["kind"] == "file" { v["size"].as_u64().unwrap() } else { 0 };
            (v["path"].as_str().unwrap().to_owned(), size, v["target"].as_str().unwrap_or("").to_owned())
        })
        .collect();
    ours.sort();
    // xorriso's own listing: type+mode, links, owner, group, size, ..., 'path' [-> 'target'].
    let find = run(Command::new("xorriso").arg("-indev").arg(&image).args(["-find", "/", "-exec", "lsdl"]));
    let mut theirs: Vec<(String, u64, String)> = String::from_utf8_lossy(&find.stdout)
        .lines()
        .filter(|l| l.contains('\''))
        .map(|l| {
            let fields: Vec<&str> = l.split_whitespace().collect();
            let quoted: Vec<&str> = l.split('\'').collect();
            let size = if l.starts_with('-') || l.starts_with('e') { fields[4].parse().unwrap() } else { 0 };
            (quoted[1].to_owned(), size, quoted.get(3).copied().unwrap_or("").to_owned())
        })
        .collect();
    theirs.sort();
    assert_eq!(ours, theirs);
    assert!(ours.iter().any(|(p, _, t)| p == "/vmlinuz" && t == "live/vmlinuz"), "{ours:?}");
}

#[test]
fn a_corrupt_image_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let (tree, efi) = small_tree_and_efi_image(dir.path());
    let good = dir.path().join("good.iso");
    run(Command::new("xorriso")
        .args(["-as", "mkisofs", "-R", "-J", "-append_partition", "2", "0xef"])
        .arg(&efi)
        .args(["-appended_part_as_gpt", "-o"])
        .arg(&good)
        .arg(&tree)
        .env("TZ", "UTC"));
    let bytes = std::fs::read(&good).unwrap();
    let pvd = 16 * 2048;
    let root_extent = u32::from_le_bytes(bytes[pvd + 158..pvd + 162].try_into().unwrap()) as usize;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("truncated", bytes[..40_000].to_vec()),
        ("no CD001", {
            let mut b = bytes.clone();
            b[pvd + 1] = b'X';
            b
        }),
        ("bad root directory", {
            let mut b = bytes.clone();
            b[root_extent * 2048] = 7; // a record length shorter than any record
            b
        }),
        ("bad FAT geometry", {
            let mut b = bytes.clone();
            // The appended partition: GPT entry 2's first sector.
            let le64 = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap()) as usize;
            let entry = le64(512 + 72) * 512 + 128;
            let at = le64(entry + 32) * 512;
            assert_eq!(b[at + 510..at + 512], [0x55, 0xAA], "no FAT boot sector at {at}");
            b[at + 19..at + 21].copy_from_slice(&0xFFF0u16.to_le_bytes()); // more sectors than there are
            b
        }),
        ("bad GPT CRC", {
            let mut b = bytes.clone();
            b[512 + 60] ^= 0xFF; // inside the disk GUID, CRC not updated
            b
        }),
    ];
    for (what, image) in cases {
        let path = dir.path().join(format!("{what}.iso"));
        std::fs::write(&path, &image).unwrap();
        let out = normalize(&path, &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{what}: {stderr}");
        assert!(stderr.contains(path.to_str().unwrap()) && stderr.contains("corrupt"), "{what}: {stderr}");
        assert!(std::fs::read(&path).unwrap() == image, "{what}: the image was written to");
    }
}

#[test]
fn a_truncated_image_or_one_whose_extents_point_past_its_end_is_left_untouched() {
    // An image without GPT (whose backup header at the end would give a truncation away): a
    // BIOS El Torito image, Rock Ridge and Joliet, a file of 3 MB. Cut anywhere, or with one
    // extent pointing past the end, all the metadata the normalizer patches may still be there.
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    std::fs::create_dir(&tree).unwrap();
    std::fs::write(tree.join("big"), (0..3_000_000u32).map(|i| (i % 251) as u8).collect::<Vec<_>>()).unwrap();
    std::fs::write(tree.join("boot.bin"), [0u8; 2048]).unwrap();
    let good = dir.path().join("good.iso");
    run(Command::new("xorriso")
        .args(["-as", "mkisofs", "-R", "-J", "-b", "boot.bin", "-no-emul-boot", "-boot-load-size", "4", "-o"])
        .arg(&good)
        .arg(&tree)
        .env("TZ", "UTC"));
    let bytes = std::fs::read(&good).unwrap();
    let pvd = 16 * 2048;
    let blocks = u32::from_le_bytes(bytes[pvd + 80..pvd + 84].try_into().unwrap());
    let beyond = blocks + 16;
    let both = |b: &mut [u8], at: usize, v: u32| {
        b[at..at + 4].copy_from_slice(&v.to_le_bytes());
        b[at + 4..at + 8].copy_from_slice(&v.to_be_bytes());
    };
    let mut cases: Vec<(String, Vec<u8>)> = [2_000_000, 1_000_000, bytes.len() - 2048, bytes.len() - 1]
        .into_iter()
        .map(|n| (format!("cut at {n}"), bytes[..n].to_vec()))
        .collect();
    cases.push(("file extent".into(), {
        let mut b = bytes.clone();
        // The primary tree's record of BIG.;1: the identifier is at record + 33.
        let record = b.windows(6).position(|w| w == b"BIG.;1").unwrap() - 33;
        both(&mut b, record + 2, beyond);
        b
    }));
    cases.push(("path table".into(), {
        let mut b = bytes.clone();
        b[pvd + 140..pvd + 144].copy_from_slice(&beyond.to_le_bytes());
        b
    }));
    cases.push(("boot image".into(), {
        let mut b = bytes.clone();
        let catalog = u32::from_le_bytes(b[17 * 2048 + 71..17 * 2048 + 75].try_into().unwrap()) as usize * 2048;
        assert_eq!(b[catalog + 32], 0x88, "no bootable default entry");
        b[catalog + 40..catalog + 44].copy_from_slice(&beyond.to_le_bytes());
        b
    }));
    for (what, image) in cases {
        // Today's normalizer patches these (dates are later than the epoch).
        let path = dir.path().join(format!("{what}.iso"));
        std::fs::write(&path, &image).unwrap();
        let out = normalize(&path, &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{what}: {stderr}");
        assert!(
            stderr.contains(path.to_str().unwrap()) && stderr.contains("beyond the end of the image"),
            "{what}: {stderr}"
        );
        assert!(std::fs::read(&path).unwrap() == image, "{what}: the image was written to");
    }
    // The whole image is normalized, and xorriso still reads every block of it.
    let out = normalize(&good, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_ne!(std::fs::read(&good).unwrap(), bytes, "nothing was normalized");
    let media = run(Command::new("xorriso").arg("-indev").arg(&good).args(["-check_media", "--"]));
    let text = String::from_utf8_lossy(&media.stdout).into_owned() + &String::from_utf8_lossy(&media.stderr);
    assert!(text.contains("+ good"), "{text}");
}

#[test]
fn a_corrupt_image_among_several_is_left_untouched_and_the_others_are_normalized() {
    let dir = tempfile::tempdir().unwrap();
    let (tree, _) = small_tree_and_efi_image(dir.path());
    let first = dir.path().join("first.iso");
    run(Command::new("xorriso").args(["-as", "mkisofs", "-R", "-J", "-o"]).arg(&first).arg(&tree).env("TZ", "UTC"));
    let original = std::fs::read(&first).unwrap();
    let corrupt = dir.path().join("corrupt.iso");
    std::fs::write(&corrupt, &original[..40_000]).unwrap();
    let last = dir.path().join("last.iso");
    std::fs::write(&last, &original).unwrap();
    let json = dir.path().join("report.json");
    let paths = [&json, &first, &corrupt, &last].map(|p| p.to_str().unwrap());
    let out = common::tamis(&["iso", "normalize", "--epoch", EPOCH, "--json", paths[0], paths[1], paths[2], paths[3]]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(paths[2]) && stderr.contains("corrupt"), "{stderr}");
    assert!(std::fs::read(&corrupt).unwrap() == original[..40_000], "the corrupt image was written to");
    // The images before and after it are both normalized, the same way.
    let normalized = std::fs::read(&first).unwrap();
    assert!(normalized != original, "the first image was not normalized");
    assert!(std::fs::read(&last).unwrap() == normalized, "the image after the corrupt one was not normalized");
    // The report says what was written, and names the corrupt image.
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let stages = report["stages"].as_array().unwrap();
    assert_eq!(stages.len(), 3, "{report}");
    assert!(!stages[0]["changes"].as_array().unwrap().is_empty(), "{report}");
    assert!(stages[1]["problems"][0]["reason"].as_str().unwrap().contains("corrupt"), "{report}");
}

#[test]
fn list_shows_names_that_are_not_utf8_apart() {
    use std::os::unix::ffi::OsStrExt as _;
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    std::fs::create_dir(&tree).unwrap();
    for name in [&b"caf\xe9"[..], b"caf\xe8"] {
        std::fs::write(tree.join(std::ffi::OsStr::from_bytes(name)), b"x").unwrap();
    }
    let image = dir.path().join("names.iso");
    run(Command::new("xorriso").args(["-as", "mkisofs", "-R", "-o"]).arg(&image).arg(&tree));
    let list = common::tamis(&["iso", "list", "--json", "-", image.to_str().unwrap()]);
    assert!(list.status.success(), "{}", String::from_utf8_lossy(&list.stderr));
    let mut paths: Vec<String> = String::from_utf8_lossy(&list.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["path"].as_str().unwrap().to_owned())
        .collect();
    paths.sort();
    // As `tamis manifest` and `tamis squashfs --list` write them: each name apart.
    assert_eq!(paths, ["/", "/caf\\xe8", "/caf\\xe9"]);
    let text = common::tamis(&["iso", "list", image.to_str().unwrap()]);
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.contains("/caf\\xe8\n") && text.contains("/caf\\xe9\n"), "{text}");
}

#[test]
fn build_from_a_directory_named_like_an_option_puts_its_files_in() {
    // `-J` was handed to xorriso as the mkisofs option it spells: an empty image, exit 0.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("-J")).unwrap();
    std::fs::write(dir.path().join("-J/file"), b"data").unwrap();
    let build = common::tamis_command()
        .current_dir(dir.path())
        .args(["iso", "build", "--epoch", EPOCH, "-q", "--", "-J", "out.iso"])
        .output()
        .unwrap();
    assert!(build.status.success(), "{}", String::from_utf8_lossy(&build.stderr));
    let image = dir.path().join("out.iso");
    let find = run(Command::new("xorriso").arg("-indev").arg(&image).args(["-find", "/", "-type", "f"]));
    assert!(String::from_utf8_lossy(&find.stdout).contains("'/file'"), "{find:?}");
}

#[test]
fn build_takes_a_tree_and_an_output_whose_paths_are_not_utf8() {
    use std::os::unix::ffi::OsStrExt as _;
    // The paths were handed to xorriso as lossy text: '/…/t\u{fffd}', no such file.
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join(std::ffi::OsStr::from_bytes(b"tree-\xe9"));
    std::fs::create_dir(&tree).unwrap();
    std::fs::write(tree.join("file"), b"data").unwrap();
    let out_dir = dir.path().join(std::ffi::OsStr::from_bytes(b"out-\xe8"));
    std::fs::create_dir(&out_dir).unwrap();
    let image = out_dir.join("out.iso");
    let build =
        common::tamis_command().args(["iso", "build", "--epoch", EPOCH, "-q"]).arg(&tree).arg(&image).output().unwrap();
    assert!(build.status.success(), "{}", String::from_utf8_lossy(&build.stderr));
    let find = run(Command::new("xorriso").arg("-indev").arg(&image).args(["-find", "/", "-type", "f"]));
    assert!(String::from_utf8_lossy(&find.stdout).contains("'/file'"), "{find:?}");
}

#[test]
fn tamis_iso_build_gives_the_same_bytes_twice() {
    let Some(boot) = boot_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    // The tree of a live image (its EFI image made by mtools at build time).
    live_iso(&boot, dir.path(), "t", false);
    let tree = dir.path().join("t.work/tree");
    let mut images = Vec::new();
    for (name, later) in [("one", false), ("two", true)] {
        let out = dir.path().join(format!("{name}.iso"));
        let tamis = env!("CARGO_BIN_EXE_tamis");
        let mut cmd = if later { common::faketime("+3d", tamis) } else { Command::new(tamis) };
        run(cmd
            .args(["iso", "build", "--epoch", EPOCH, "--label", "LIVE", "--efi", "boot/grub/efi.img"])
            .args(["--bios", "isolinux/isolinux.bin", "--mbr", "/usr/lib/ISOLINUX/isohdpfx.bin"])
            .arg(&tree)
            .arg(&out)
            .env_remove("SOURCE_DATE_EPOCH"));
        images.push(std::fs::read(&out).unwrap());
        let check = normalize(&out, &["--check"]);
        assert_eq!(check.status.code(), Some(0), "{}", String::from_utf8_lossy(&check.stderr));
        let media = run(Command::new("xorriso").arg("-indev").arg(&out).args(["-check_media", "--"]));
        assert!(String::from_utf8_lossy(&media.stdout).contains("+ good"));
    }
    assert!(images[0] == images[1], "two tamis iso build runs differ");
}

#[test]
fn md5_checksum_tags_match_after_normalize() {
    // xorriso -md5 on writes MD5 tags over the superblock, the tree and the session, and refuses
    // to load an image whose tags do not match: tamis recomputes them.
    let dir = tempfile::tempdir().unwrap();
    let (tree, efi) = small_tree_and_efi_image(dir.path());
    let image = dir.path().join("md5.iso");
    run(Command::new("xorriso")
        .args(["-md5", "on", "-as", "mkisofs", "-R", "-J", "-append_partition", "2", "0xef"])
        .arg(&efi)
        .args(["-appended_part_as_gpt", "-o"])
        .arg(&image)
        .arg(&tree));
    let out = normalize(&image, &["--json", "-"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("MD5 checksum tag"));
    let check = Command::new("xorriso")
        .args(["-md5", "on", "-indev"])
        .arg(&image)
        .args(["-check_media", "--", "-check_md5_r", "FAILURE", "/", "--"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&check.stdout).into_owned() + &String::from_utf8_lossy(&check.stderr);
    assert!(check.status.success() && text.contains("+ md5_match") && !text.contains("FAILURE"), "{text}");
}

/// Boots `args` under qemu (software emulation) until the kernel panics for want of live-boot's
/// scripts (`panic=-1`, `-no-reboot`: qemu then exits); the serial console's text.
fn boot(args: &[&str], image: &Path) -> String {
    let out = Command::new("timeout")
        .args([
            "600",
            "qemu-system-x86_64",
            "-m",
            "768",
            "-nographic",
            "-no-reboot",
            "-display",
            "none",
            "-net",
            "none",
        ])
        .args(["-serial", "mon:stdio"])
        .args(args.iter().map(|a| a.replace("IMAGE", image.to_str().unwrap())))
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_normalized_image_boots_with_bios_from_cd_and_with_uefi_from_disk() {
    let Some(boot_files) = boot_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let image = live_iso(&boot_files, dir.path(), "boot", false);
    let out = normalize(&image, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    // BIOS: El Torito → isolinux → the kernel and initrd read from the ISO 9660 tree.
    let bios = boot(&["-cdrom", "IMAGE", "-boot", "d"], &image);
    assert!(bios.contains("ISOLINUX") && bios.contains("Linux version"), "BIOS boot:\n{bios}");
    assert!(bios.contains("Run /init as init process"), "BIOS boot: initrd not run:\n{bios}");
    // UEFI, the image as a USB disk: the firmware finds the EFI partition through the hybrid
    // partition table, reads the normalized FAT, starts GRUB, which reads the ISO tree.
    let uefi = boot(&["-bios", "/usr/share/ovmf/OVMF.fd", "-drive", "file=IMAGE,format=raw,if=ide"], &image);
    assert!(uefi.contains("Welcome to GRUB") && uefi.contains("Linux version"), "UEFI boot:\n{uefi}");
    assert!(uefi.contains("Run /init as init process"), "UEFI boot: initrd not run:\n{uefi}");
}

#[test]
fn grub_mkrescue_images_with_hfs_plus_are_identical_after_normalize() {
    // grub-mkrescue (Debian 12) adds an HFS+ file system for Macs, with the build time in its
    // volume headers and in every catalog record.
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    std::fs::create_dir_all(tree.join("boot/grub")).unwrap();
    std::fs::write(tree.join("boot/grub/grub.cfg"), b"set timeout=0\n").unwrap();
    std::fs::write(tree.join("hello"), b"hello\n").unwrap();
    let mut images = Vec::new();
    for (name, later) in [("one", false), ("two", true)] {
        let out = dir.path().join(format!("{name}.iso"));
        let mut cmd = if later { common::faketime("+3d", "grub-mkrescue") } else { Command::new("grub-mkrescue") };
        run(cmd.arg("-o").arg(&out).arg(&tree));
        images.push((out.clone(), std::fs::read(&out).unwrap()));
    }
    assert_ne!(images[0].1, images[1].1);
    for (image, _) in &images {
        let out = normalize(image, &["--json", "-"]);
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stdout).contains("HFS+ file"), "no HFS+ catalog date rewritten");
    }
    let (a, b) = (std::fs::read(&images[0].0).unwrap(), std::fs::read(&images[1].0).unwrap());
    assert!(a == b, "grub-mkrescue images still differ after normalize");

    // 7z reads the HFS+ partition (found through the GPT) and tests every file; all dates are
    // the epoch's.
    let area = run(Command::new("xorriso").arg("-indev").arg(&images[0].0).args(["-report_system_area", "plain"]));
    let area = String::from_utf8_lossy(&area.stdout).into_owned();
    let hfs_index = area
        .lines()
        .find(|l| l.contains("HFSPLUS") && l.contains("partname"))
        .unwrap()
        .split_whitespace()
        .nth(4)
        .unwrap()
        .to_owned();
    let range = area
        .lines()
        .find(|l| l.starts_with("GPT start and size") && l.split_whitespace().nth(5) == Some(&hfs_index))
        .unwrap_or_else(|| panic!("no HFS+ partition:\n{area}"));
    let f: Vec<usize> = range.split_whitespace().skip(6).map(|x| x.parse().unwrap()).collect();
    let hfs = dir.path().join("hfs.img");
    std::fs::write(&hfs, &a[f[0] * 512..(f[0] + f[1]) * 512]).unwrap();
    run(Command::new("7z").args(["t", "-thfs"]).arg(&hfs));
    let list = run(Command::new("7z").args(["l", "-thfs"]).arg(&hfs));
    let list = String::from_utf8_lossy(&list.stdout);
    let dated: Vec<&str> = list.lines().filter(|l| l.starts_with("20")).collect();
    assert!(dated.len() > 10 && dated.iter().all(|l| l.starts_with("2023-11-14 22:13:20")), "{list}");
    let media = run(Command::new("xorriso").arg("-indev").arg(&images[0].0).args(["-check_media", "--"]));
    assert!(String::from_utf8_lossy(&media.stdout).contains("+ good"));
}

#[test]
fn identifiers_can_be_fixed_by_option() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    std::fs::create_dir_all(&tree).unwrap();
    std::fs::write(tree.join("f"), b"data").unwrap();
    let efi = dir.path().join("efi.img");
    run(Command::new("mformat").args(["-C", "-f", "1440", "-i"]).arg(&efi).arg("::"));
    let image = dir.path().join("ids.iso");
    run(Command::new("xorriso")
        .args(["-as", "mkisofs", "-R", "-append_partition", "2", "0xef"])
        .arg(&efi)
        .args(["-appended_part_as_gpt", "-o"])
        .arg(&image)
        .arg(&tree));
    let guid = "01234567-89AB-4CDE-8F01-23456789ABCD";
    let out = normalize(&image, &["--disk-guid", guid, "--fat-serial", "1234abcd"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let fdisk = run(Command::new("fdisk").arg("-l").arg(&image));
    assert!(String::from_utf8_lossy(&fdisk.stdout).contains(guid), "{}", String::from_utf8_lossy(&fdisk.stdout));
    let bytes = std::fs::read(&image).unwrap();
    // The appended FAT partition: GPT entry 2's first sector; its serial at byte 39.
    let le64 = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap()) as usize;
    let fat = le64(le64(512 + 72) * 512 + 128 + 32) * 512;
    assert_eq!(bytes[fat + 39..fat + 43], 0x1234_abcd_u32.to_le_bytes());
    let bad = normalize(&image, &["--disk-guid", "not-a-guid"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn genisoimage_images_in_two_time_zones_are_identical_after_normalize() {
    // genisoimage (mkisofs) writes local time with its offset from GMT: two hosts in two zones.
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    std::fs::create_dir_all(tree.join("d")).unwrap();
    std::fs::write(tree.join("d/f"), b"data").unwrap();
    std::os::unix::fs::symlink("f", tree.join("d/l")).unwrap();
    let (a, b) = (dir.path().join("a.iso"), dir.path().join("b.iso"));
    run(Command::new("genisoimage").args(["-quiet", "-R", "-J", "-o"]).arg(&a).arg(&tree).env("TZ", "UTC"));
    run(common::faketime("+2d", "genisoimage")
        .args(["-quiet", "-R", "-J", "-o"])
        .arg(&b)
        .arg(&tree)
        .env("TZ", "Asia/Tokyo"));
    assert_ne!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    for image in [&a, &b] {
        assert_eq!(normalize(image, &[]).status.code(), Some(0));
    }
    assert!(std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap(), "genisoimage images still differ");
    let info = run(Command::new("isoinfo").args(["-R", "-l", "-i"]).arg(&a));
    assert!(
        String::from_utf8_lossy(&info.stdout).contains("l -> f")
            || String::from_utf8_lossy(&info.stdout).contains("-> f")
    );
}

#[test]
fn diff_explains_iso_images_and_the_iso_stage_removes_the_difference() {
    // Two output directories holding the same small image built three days apart.
    let dir = tempfile::tempdir().unwrap();
    let (tree, efi) = small_tree_and_efi_image(dir.path());
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    for (out, later) in [(&a, false), (&b, true)] {
        std::fs::create_dir_all(out).unwrap();
        let mut cmd = if later { common::faketime("+3d", "xorriso") } else { Command::new("xorriso") };
        run(cmd
            .args(["-as", "mkisofs", "-R", "-J", "-append_partition", "2", "0xef"])
            .arg(&efi)
            .args(["-appended_part_as_gpt", "-o"])
            .arg(out.join("live.iso"))
            .arg(&tree));
    }
    let p = |x: &Path| x.to_str().unwrap().to_owned();
    let explain = common::tamis(&["diff", "--explain", "--json", "-", &p(&a), &p(&b)]);
    let report: serde_json::Value = serde_json::from_slice(&explain.stdout).unwrap();
    let live = report["differences"].as_array().unwrap().iter().find(|d| d["path"] == "/live.iso").unwrap();
    assert_eq!(live["cause"], "iso-image", "{report}");
    assert_eq!(live["stage"], "iso", "{report}");

    // The stage, from a profile, on both directories: then nothing differs but mtimes of the
    // directories, which the clamp in the same profile removes.
    let profile = dir.path().join("iso.toml");
    std::fs::write(&profile, "description = \"images\"\n[[stage]]\nname = \"iso\"\n\n[[stage]]\nname = \"mtime\"\n")
        .unwrap();
    for out in [&a, &b] {
        let run = common::tamis(&["normalize", "--epoch", EPOCH, "--profile", &p(&profile), &p(out)]);
        assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stderr));
    }
    let diff = common::tamis(&["diff", &p(&a), &p(&b)]);
    assert_eq!(diff.status.code(), Some(0), "{}", String::from_utf8_lossy(&diff.stderr));
    let media = run(Command::new("xorriso").arg("-indev").arg(a.join("live.iso")).args(["-check_media", "--"]));
    assert!(String::from_utf8_lossy(&media.stdout).contains("+ good"));
}
