//! Archives made by GNU cpio from the same tree built twice (other order, other times, other
//! inodes) become the same bytes, and GNU cpio still lists and extracts what was packed.

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, symlink};
use std::path::Path;
use std::process::{Command, Stdio};

use tamis_core::{Context, Epoch, Mode, Normalizer, Root};
use tamis_cpio::{Compression, Initramfs, InitramfsOptions, initramfs, normalize_file};

const EPOCH: i64 = 1_700_000_000;

fn sh(script: &str, dir: &Path) -> Vec<u8> {
    let out = Command::new("sh").arg("-c").arg(script).current_dir(dir).stderr(Stdio::piped()).output().unwrap();
    assert!(out.status.success(), "{script}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// The same early userspace, written in `reverse` order at `time`.
fn tree(dir: &Path, reverse: bool, time: i64) {
    let mut files = vec![
        ("bin/sh", "#!/bin/busybox\n"),
        ("init", "#!/bin/sh\necho init\n"),
        ("conf/initramfs.conf", "MODULES=most\n"),
        ("lib/modules/6.1/modules.dep", ""),
    ];
    if reverse {
        files.reverse();
    }
    for (path, contents) in &files {
        let path = dir.join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, contents).unwrap();
    }
    fs::hard_link(dir.join("bin/sh"), dir.join("bin/ash")).unwrap();
    symlink("usr/lib", dir.join("lib64")).unwrap();
    sh("mkfifo dev-console", dir);
    sh(&format!("find . -exec touch -h -d @{time} {{}} +"), dir);
}

/// `find | cpio -o -H newc` as mkinitramfs runs it, in readdir order (not sorted), then the
/// compressor, with a file name in the gzip header as mkinitramfs leaves one.
fn pack(dir: &Path, compressor: &str) -> Vec<u8> {
    let cpio = "find . | cpio --quiet -o -H newc -R 0:0";
    let script = match compressor {
        "gzip" => format!(
            "{cpio} > ../mkinitramfs-MAIN_$$ && gzip -9 -c -N ../mkinitramfs-MAIN_$$ && rm ../mkinitramfs-MAIN_$$"
        ),
        "none" => cpio.to_owned(),
        other => format!("{cpio} | {other}"),
    };
    sh(&script, dir)
}

fn listing(archive: &[u8]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("a.cpio"), archive).unwrap();
    let out = sh("cpio --quiet -t -v --numeric-uid-gid < a.cpio", dir.path());
    // Drop the date columns: `-rw-r--r--   1 0 0 15 Nov 14  2023 init`.
    let mut lines: Vec<String> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let mut kept = vec![f[0], f[2], f[3], f[4]];
            kept.extend(&f[8..]);
            kept.join(" ")
        })
        .collect();
    lines.sort();
    lines
}

fn decompress(bytes: &[u8]) -> Vec<u8> {
    initramfs::split(bytes).unwrap().into_iter().flat_map(|s| s.cpio).collect()
}

#[test]
fn two_builds_packed_by_gnu_cpio_become_identical_and_keep_their_members() {
    for compressor in ["gzip", "none", "xz --check=crc32", "zstd -q", "bzip2"] {
        let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        tree(one.path(), false, 1_795_000_000);
        tree(two.path(), true, 1_795_000_000 + 3 * 86_400);
        let (a, b) = (pack(one.path(), compressor), pack(two.path(), compressor));
        assert_ne!(a, b, "{compressor}: two builds differ");

        let na = normalize_file(&a, Epoch::from_secs(EPOCH).unwrap(), InitramfsOptions::default()).unwrap().unwrap();
        let nb = normalize_file(&b, Epoch::from_secs(EPOCH).unwrap(), InitramfsOptions::default()).unwrap().unwrap();
        assert!(na == nb, "{compressor}: normalized archives differ");
        let format = Compression::detect(&a).unwrap();
        assert_eq!(Compression::detect(&na), Some(format), "{compressor}: same format");
        assert_eq!(listing(&decompress(&na)), listing(&decompress(&a)), "{compressor}: same members");
        assert_eq!(
            normalize_file(&na, Epoch::from_secs(EPOCH).unwrap(), InitramfsOptions::default()).unwrap(),
            None,
            "idempotent"
        );
        if compressor == "gzip" {
            let dir = tempfile::tempdir().unwrap();
            fs::write(dir.path().join("initrd.gz"), &na).unwrap();
            sh("gzip -t initrd.gz", dir.path());
            assert_eq!(&na[3..10], &[0, 0, 0, 0, 0, 2, 3], "no name, no time, XFL best, OS Unix");
        }
    }
}

#[test]
fn extracted_contents_modes_and_links_are_those_packed() {
    let src = tempfile::tempdir().unwrap();
    tree(src.path(), false, 1_795_000_000);
    let packed = pack(src.path(), "gzip");
    let normalized =
        normalize_file(&packed, Epoch::from_secs(EPOCH).unwrap(), InitramfsOptions::default()).unwrap().unwrap();
    let out = tempfile::tempdir().unwrap();
    fs::write(out.path().join("initrd"), &normalized).unwrap();
    fs::create_dir(out.path().join("x")).unwrap();
    sh("zcat ../initrd | cpio --quiet -i -d -m", &out.path().join("x"));
    let x = out.path().join("x");
    assert_eq!(fs::read(x.join("init")).unwrap(), b"#!/bin/sh\necho init\n");
    assert_eq!(fs::read_link(x.join("lib64")).unwrap(), Path::new("usr/lib"));
    let (sh_, ash) = (fs::metadata(x.join("bin/sh")).unwrap(), fs::metadata(x.join("bin/ash")).unwrap());
    assert_eq!(sh_.ino(), ash.ino(), "hard link kept");
    assert_eq!(fs::read(x.join("bin/ash")).unwrap(), b"#!/bin/busybox\n");
    assert_eq!(sh_.mtime(), EPOCH);
    assert!(fs::symlink_metadata(x.join("dev-console")).unwrap().file_type().is_fifo());
}

#[test]
fn an_early_uncompressed_archive_stays_in_front_of_the_compressed_one() {
    let (early, main) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    fs::create_dir_all(early.path().join("kernel/x86/microcode")).unwrap();
    fs::write(early.path().join("kernel/x86/microcode/GenuineIntel.bin"), b"ucode").unwrap();
    tree(main.path(), false, 1_795_000_000);
    let mut file = pack(early.path(), "none");
    file.extend(pack(main.path(), "gzip"));
    let normalized =
        normalize_file(&file, Epoch::from_secs(EPOCH).unwrap(), InitramfsOptions::default()).unwrap().unwrap();
    let segments = initramfs::split(&normalized).unwrap();
    let formats: Vec<Compression> = segments.iter().map(|s| s.compression).collect();
    assert_eq!(formats, [Compression::None, Compression::Gzip { level: 9 }]);
    assert_eq!(segments[0].offset % 512, 0);
}

#[test]
fn a_broken_initrd_is_reported_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    tree(&dir.path().join("src"), false, 1_795_000_000);
    let good = pack(&dir.path().join("src"), "gzip");
    fs::create_dir(dir.path().join("boot")).unwrap();
    let truncated = &good[..good.len() / 2];
    fs::write(dir.path().join("boot/initrd.img-6.1.0-test"), truncated).unwrap();
    fs::write(dir.path().join("boot/config-6.1.0-test"), b"CONFIG_X=y\n").unwrap();
    let mut not_cpio = Vec::new();
    not_cpio.extend_from_slice(b"070701");
    not_cpio.extend_from_slice(&[b'Z'; 200]);
    fs::write(dir.path().join("boot/initrd.img-garbage"), &not_cpio).unwrap();

    let cx = Context::new(Epoch::from_secs(EPOCH).unwrap(), Mode::Apply);
    let report = Initramfs::new(InitramfsOptions::default()).run(&Root::open(dir.path()).unwrap(), &cx).unwrap();
    assert!(report.changes.is_empty(), "{:?}", report.changes);
    let reasons: Vec<&str> = report.problems.iter().map(|p| p.reason.as_str()).collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(reasons[0].starts_with("/boot/initrd.img-6.1.0-test: ") && reasons[0].contains("gzip"), "{reasons:?}");
    assert!(reasons[1].contains("not hexadecimal"), "{reasons:?}");
    assert_eq!(fs::read(dir.path().join("boot/initrd.img-6.1.0-test")).unwrap(), truncated);
    assert_eq!(fs::read(dir.path().join("boot/initrd.img-garbage")).unwrap(), not_cpio);
}
