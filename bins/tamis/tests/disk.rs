//! `tamis disk normalize`: USB images built by the real tools the way Tails builds its own
//! (sgdisk, mkfs.msdos without `--invariant`, mtools, syslinux), checked with the real
//! consumers (`sgdisk -v`, `sfdisk -V`, `fsck.fat -n`, `mcopy`, qemu with `SeaBIOS` and `OVMF`).

#![allow(clippy::disallowed_methods, clippy::print_stderr, reason = "tests")]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const EPOCH: &str = "1700000000";
/// Where the script puts the partition: 1 MiB in.
const PART: u64 = 1 << 20;

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/disk/make-usb-image.sh")
}

use common::run;

fn tools() -> bool {
    common::have(&["sgdisk", "sfdisk", "mkfs.msdos", "fsck.fat", "mcopy", "syslinux", "faketime"])
}

fn boot_dir() -> Option<PathBuf> {
    common::fixture("initramfs-pair").map(|p| p.join("a/boot"))
}

/// Builds the USB image into `dir/NAME.img` (its tree in `dir/NAME.work/tree`); `later` runs
/// the whole build five days ahead (faketime) and in another time zone, as a second build on
/// another day would. `bits` forces the FAT type.
fn usb_image(boot: &Path, dir: &Path, name: &str, later: bool, bits: Option<&str>) -> PathBuf {
    let out = dir.join(format!("{name}.img"));
    let work = dir.join(format!("{name}.work"));
    let mut cmd = if later {
        let mut c = common::faketime("+5d", "sh");
        c.env("TZ", "Asia/Tokyo");
        c
    } else {
        let mut c = Command::new("sh");
        c.env("TZ", "UTC");
        c
    };
    run(cmd.arg(script()).arg(boot).arg(&work).arg(&out).args(bits));
    out
}

fn normalize(image: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["disk", "normalize", "--epoch", EPOCH];
    args.extend(extra);
    args.push(image.to_str().unwrap());
    common::tamis(&args)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The files of `tree`, relative, sorted.
fn files(tree: &Path) -> Vec<PathBuf> {
    let out = run(Command::new("find").arg(tree).args(["-type", "f"]));
    let mut files: Vec<PathBuf> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| Path::new(l).strip_prefix(tree).unwrap().to_owned())
        .collect();
    files.sort();
    files
}

/// What the real tools say of a normalized image: the partition tables and the FAT valid,
/// every file of the tree read back by mcopy with its content.
fn check_with_the_real_tools(image: &Path, tree: &Path) {
    let gpt = run(Command::new("sgdisk").arg("-v").arg(image));
    assert!(String::from_utf8_lossy(&gpt.stdout).contains("No problems found"), "{gpt:?}");
    let tables = run(Command::new("sfdisk").arg("-V").arg(image));
    assert!(String::from_utf8_lossy(&tables.stdout).contains("No errors detected"), "{tables:?}");
    // fsck.fat reads a file system from offset 0: a copy of the partition.
    let dir = tempfile::tempdir().unwrap();
    let part = dir.path().join("part.img");
    let bytes = std::fs::read(image).unwrap();
    std::fs::write(&part, &bytes[PART as usize..]).unwrap();
    let fsck = Command::new("fsck.fat").arg("-n").arg(&part).output().unwrap();
    assert!(fsck.status.success(), "fsck.fat -n: {}{}", String::from_utf8_lossy(&fsck.stdout), stderr(&fsck));
    let files = files(tree);
    assert!(files.len() >= 7, "{files:?}");
    for file in files {
        let out = dir.path().join("out");
        let _ = std::fs::remove_file(&out);
        run(Command::new("mcopy")
            .env("MTOOLS_SKIP_CHECK", "1")
            .arg("-n")
            .arg("-i")
            .arg(format!("{}@@{PART}", image.display()))
            .arg(format!("::/{}", file.display()))
            .arg(&out));
        assert!(std::fs::read(&out).unwrap() == std::fs::read(tree.join(&file)).unwrap(), "{}", file.display());
    }
}

fn two_builds_are_identical_after_normalize(bits: Option<&str>) {
    let Some(boot) = boot_dir() else { return };
    if !tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let a = usb_image(&boot, dir.path(), "a", false, bits);
    let b = usb_image(&boot, dir.path(), "b", true, bits);
    assert_ne!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap(), "the two builds should differ before");
    // --check: says what would change, exits 1, writes nothing.
    let before = std::fs::read(&a).unwrap();
    let check = normalize(&a, &["--check"]);
    assert_eq!(check.status.code(), Some(1), "{}", stderr(&check));
    assert!(std::fs::read(&a).unwrap() == before, "--check wrote to the image");
    for image in [&a, &b] {
        let out = normalize(image, &[]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }
    assert!(std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap(), "not identical after normalize");
    // A second run finds nothing to change.
    let again = normalize(&a, &["--check"]);
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    check_with_the_real_tools(&a, &dir.path().join("a.work/tree"));
}

#[test]
fn tails_like_usb_images_built_days_apart_are_identical_after_normalize() {
    // mkfs.msdos chooses the FAT type itself, as in Tails' script (FAT16 at this size).
    two_builds_are_identical_after_normalize(None);
}

#[test]
fn fat32_usb_images_built_days_apart_are_identical_after_normalize() {
    // FAT32: a backup boot sector and the FSInfo hints as well.
    two_builds_are_identical_after_normalize(Some("32"));
}

/// Boots `args` under qemu (software emulation) until the kernel panics for want of live-boot's
/// scripts (`panic=-1`, `-no-reboot`: qemu then exits); the serial console's text.
fn boot(args: &[&str], image: &Path) -> String {
    let out = Command::new("timeout")
        .args(["600", "qemu-system-x86_64", "-m", "768", "-nographic", "-no-reboot", "-display", "none"])
        .args(["-net", "none", "-serial", "mon:stdio"])
        .args(args.iter().map(|a| a.replace("IMAGE", image.to_str().unwrap())))
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_normalized_usb_image_boots_with_bios_through_syslinux_and_with_uefi() {
    let Some(boot_files) = boot_dir() else { return };
    if !tools() || !common::have(&["qemu-system-x86_64"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let image = usb_image(&boot_files, dir.path(), "boot", false, None);
    let out = normalize(&image, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let uefi_image = dir.path().join("uefi.img");
    std::fs::copy(&image, &uefi_image).unwrap();
    // BIOS: syslinux' GPT MBR → the legacy-bootable partition's boot sector (normalized FAT)
    // → ldlinux.sys → the kernel and initrd read from the FAT.
    let bios = boot(&["-drive", "file=IMAGE,format=raw,if=ide"], &image);
    assert!(bios.contains("SYSLINUX") && bios.contains("Linux version"), "BIOS boot:\n{bios}");
    assert!(bios.contains("Run /init as init process"), "BIOS boot: initrd not run:\n{bios}");
    // UEFI: OVMF finds the EFI System partition, reads the normalized FAT, starts
    // syslinux.efi as EFI/BOOT/BOOTX64.EFI, which loads the same kernel.
    let uefi = boot(&["-bios", "/usr/share/ovmf/OVMF.fd", "-drive", "file=IMAGE,format=raw,if=ide"], &uefi_image);
    assert!(uefi.contains("Linux version"), "UEFI boot:\n{uefi}");
    assert!(uefi.contains("Run /init as init process"), "UEFI boot: initrd not run:\n{uefi}");
}

/// A boot directory with a tiny "kernel" and "initrd": images built from it are small and
/// quick, for the tests that do not boot.
fn tiny_boot(dir: &Path) -> PathBuf {
    let boot = dir.join("boot");
    std::fs::create_dir_all(&boot).unwrap();
    std::fs::write(boot.join("vmlinuz-0"), vec![0x5a; 70_000]).unwrap();
    std::fs::write(boot.join("initrd.img-0"), b"initrd").unwrap();
    boot
}

/// The image's bytes, changed by `edit`, written back.
fn edit(image: &Path, edit: impl FnOnce(&mut Vec<u8>)) {
    let mut bytes = std::fs::read(image).unwrap();
    edit(&mut bytes);
    std::fs::write(image, bytes).unwrap();
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn le64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// Recomputes both GPT copies' array and header CRCs after an edit of the primary array,
/// copied to the backup's: a table that is valid as far as its checksums go.
fn fix_gpt_crcs(b: &mut [u8]) {
    let backup = le64(b, 512 + 32) as usize * 512;
    let (count, size) = (le32(b, 512 + 80) as usize, le32(b, 512 + 84) as usize);
    let primary_array = le64(b, 512 + 72) as usize * 512;
    let backup_array = le64(b, backup + 72) as usize * 512;
    let array = b[primary_array..primary_array + count * size].to_vec();
    b[backup_array..backup_array + array.len()].copy_from_slice(&array);
    for header in [512, backup] {
        b[header + 88..header + 92].copy_from_slice(&crc32fast::hash(&array).to_le_bytes());
        b[header + 16..header + 20].fill(0);
        let crc = crc32fast::hash(&b[header..header + 92]);
        b[header + 16..header + 20].copy_from_slice(&crc.to_le_bytes());
    }
}

/// An edit that damages an image.
type Damage = dyn Fn(&mut Vec<u8>);

/// Each damaged image is refused with an error naming the structure and its offset, exit 2,
/// no panic, and its bytes stay as they were.
#[test]
fn a_damaged_image_is_refused_by_name_and_offset_and_left_untouched() {
    if !tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let boot = tiny_boot(dir.path());
    let good = usb_image(&boot, dir.path(), "good", false, None);
    let fat = {
        let file = std::fs::File::open(&good).unwrap();
        tamis_disk::Fat::open(&file, PART).unwrap().unwrap()
    };
    let kernel = {
        let file = std::fs::File::open(&good).unwrap();
        fat.entries(&file).unwrap().into_iter().find(|e| e.long_path == "/live/vmlinuz").unwrap().first_cluster()
    };
    let fat_table = PART as usize + 512 * usize::from(u16::from_le_bytes([fat.boot[14], fat.boot[15]]));
    assert_eq!(fat.bits, 16);
    let cases: Vec<(&str, Box<Damage>, &[&str])> = vec![
        ("truncated", Box::new(|b| b.truncate(b.len() / 2)), &["backup GPT header", "beyond the end of the image"]),
        (
            "GPT entry array CRC",
            Box::new(|b| b[1024 + 56] ^= 1), // a byte of partition 1's name
            &["primary GPT entry array at offset 1024: CRC mismatch"],
        ),
        (
            "GPT header CRC",
            Box::new(|b| b[512 + 56] ^= 1), // a byte of the disk GUID
            &["primary GPT header at offset 512: CRC mismatch"],
        ),
        (
            "FAT chain out of range",
            Box::new(move |b| {
                let at = fat_table + kernel as usize * 2;
                b[at..at + 2].copy_from_slice(&0xFFF0u16.to_le_bytes());
            }),
            &["FAT file system at offset 1048576", "/LIVE/VMLINUZ", "cluster chain out of range", "points to 65520"],
        ),
        (
            "FAT chain loop",
            Box::new(move |b| {
                let at = fat_table + kernel as usize * 2;
                b[at..at + 2].copy_from_slice(&(kernel as u16).to_le_bytes());
            }),
            &["FAT file system at offset 1048576", "/LIVE/VMLINUZ", "cluster chain loops"],
        ),
        (
            "partition past the end",
            Box::new(|b| {
                let last = (b.len() / 512) as u64 + 100;
                b[1024 + 40..1024 + 48].copy_from_slice(&last.to_le_bytes());
                fix_gpt_crcs(b);
            }),
            &["GPT partition 1 (entry at offset 1024)", "lie beyond the end of the image"],
        ),
    ];
    for (name, damage, expected) in cases {
        let image = dir.path().join("damaged.img");
        std::fs::copy(&good, &image).unwrap();
        edit(&image, |b| damage(b));
        let before = std::fs::read(&image).unwrap();
        for extra in [&[][..], &["--check"][..]] {
            let out = normalize(&image, extra);
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(2), "{name}: {err}");
            assert!(!err.contains("panicked"), "{name}: {err}");
            for e in expected {
                assert!(err.contains(e), "{name}: {e:?} not in {err}");
            }
            assert!(err.contains("damaged.img"), "{name}: the image is not named: {err}");
            assert!(std::fs::read(&image).unwrap() == before, "{name}: the image was changed");
        }
    }
}

/// An MBR partition whose sectors run past the end of the image: refused, untouched.
#[test]
fn an_mbr_partition_past_the_end_is_refused_and_left_untouched() {
    if !tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let image = mbr_image(dir.path(), "mbr", false);
    edit(&image, |b| b[446 + 12..446 + 16].copy_from_slice(&(1u32 << 30).to_le_bytes()));
    let before = std::fs::read(&image).unwrap();
    let out = normalize(&image, &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("MBR partition 1 (entry at offset 446)") && err.contains("beyond the end"), "{err}");
    assert!(std::fs::read(&image).unwrap() == before);
}

/// A disk with an MBR (DOS) partition table made by sfdisk, whose disk signature is drawn at
/// random, and a FAT partition made with mkfs.msdos and filled by mcopy; `later` as above.
fn mbr_image(dir: &Path, name: &str, later: bool) -> PathBuf {
    let image = dir.join(format!("{name}.img"));
    let src = dir.join(format!("{name}.file"));
    std::fs::write(&src, b"payload").unwrap();
    let script = format!(
        "set -e; truncate -s 8M {img}; printf 'label: dos\\nstart=2048, type=c, bootable\\n' | sfdisk -q {img}; \
         mkfs.msdos -n BOOT --offset 2048 {img} 3072 >/dev/null; \
         MTOOLS_SKIP_CHECK=1 mcopy -i {img}@@1M {src} ::/config.txt",
        img = image.display(),
        src = src.display()
    );
    let mut cmd = if later { common::faketime("+2d", "sh") } else { Command::new("sh") };
    run(cmd.arg("-c").arg(script));
    image
}

#[test]
fn mbr_images_built_days_apart_are_identical_after_normalize() {
    if !tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let a = mbr_image(dir.path(), "a", false);
    let b = mbr_image(dir.path(), "b", true);
    let signature = |p: &Path| le32(&std::fs::read(p).unwrap(), 440);
    assert_ne!(signature(&a), signature(&b));
    for image in [&a, &b] {
        let out = normalize(image, &[]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }
    assert!(std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap());
    let sfdisk = run(Command::new("sfdisk").arg("-V").arg(&a));
    assert!(String::from_utf8_lossy(&sfdisk.stdout).contains("No errors detected"), "{sfdisk:?}");
    let out = run(Command::new("mtype")
        .env("MTOOLS_SKIP_CHECK", "1")
        .arg("-i")
        .arg(format!("{}@@1M", a.display()))
        .arg("::/config.txt"));
    assert_eq!(out.stdout, b"payload");
}

/// A GPT disk with a FAT partition and an ext4 one: the FAT one is normalized, the ext4 one
/// is named in the report as left alone and keeps every byte; `--keep-guids` keeps the GUIDs.
#[test]
fn partitions_that_are_not_fat_are_named_and_left_as_they_are() {
    if !tools() || !common::have(&["mkfs.ext4"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("two.img");
    let img = image.display();
    run(Command::new("sh").arg("-c").arg(format!(
        "set -e; truncate -s 16M {img}; sgdisk -n 1:2048:+4M -t 1:EF00 -n 2:0:0 -t 2:8300 {img} >/dev/null; \
         mkfs.msdos --offset 2048 {img} 4096 >/dev/null; \
         first=$(sgdisk -i 2 {img} | sed -n 's/^First sector: \\([0-9]*\\).*/\\1/p'); \
         last=$(sgdisk -i 2 {img} | sed -n 's/^Last sector: \\([0-9]*\\).*/\\1/p'); \
         mkfs.ext4 -q -F -E offset=$((first * 512)) {img} $(( (last - first + 1) / 2 ))k"
    )));
    let guids = |p: &Path| {
        let out = run(Command::new("sgdisk").arg("-i").arg("1").arg(p));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find(|l| l.starts_with("Partition unique GUID"))
            .unwrap()
            .to_owned()
    };
    let before = std::fs::read(&image).unwrap();
    let guid_before = guids(&image);
    let json = dir.path().join("report.json");
    let out = normalize(&image, &["--keep-guids", "--json", json.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(guids(&image), guid_before, "--keep-guids changed a GUID");
    let after = std::fs::read(&image).unwrap();
    let ext4_start = 2048 * 512 + (4 << 20);
    assert!(after[ext4_start..] == before[ext4_start..], "the ext4 partition was changed");
    assert!(after != before, "the FAT partition was not normalized");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let skipped = report["stages"][0]["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 1, "{report}");
    assert!(
        skipped[0]["path"].as_str().unwrap().trim_start_matches('/').starts_with("partition 2 (gpt type 0FC63DAF"),
        "{report}"
    );
    assert!(skipped[0]["reason"].as_str().unwrap().contains("ext2/3/4"), "{report}");
    let reasons: Vec<&str> =
        report["stages"][0]["changes"].as_array().unwrap().iter().map(|c| c["reason"].as_str().unwrap()).collect();
    assert!(reasons.contains(&"volume serial") && !reasons.contains(&"disk GUID"), "{reasons:?}");
    // Without --keep-guids, the GUIDs are derived; sgdisk finds the table valid.
    let out = normalize(&image, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_ne!(guids(&image), guid_before);
    let sgdisk = run(Command::new("sgdisk").arg("-v").arg(&image));
    assert!(String::from_utf8_lossy(&sgdisk.stdout).contains("No problems found"), "{sgdisk:?}");
}

/// `tamis diff --explain` reads both disk images (the FAT partition's entries as a tree under
/// `/p1`) and says why they differ: the FAT entry times, and, for images inside two trees,
/// only identifiers and times that `tamis disk normalize` removes.
#[test]
fn diff_explains_why_two_usb_images_differ() {
    if !tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let boot = tiny_boot(dir.path());
    let (ta, tb) = (dir.path().join("ta"), dir.path().join("tb"));
    std::fs::create_dir_all(&ta).unwrap();
    std::fs::create_dir_all(&tb).unwrap();
    let a = usb_image(&boot, dir.path(), "a", false, None);
    let b = usb_image(&boot, dir.path(), "b", true, None);
    std::fs::copy(&a, ta.join("usb.img")).unwrap();
    std::fs::copy(&b, tb.join("usb.img")).unwrap();
    let out = common::tamis(&["diff", "--explain", "--json", "-", a.to_str().unwrap(), b.to_str().unwrap()]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", stderr(&out)));
    let text = report.to_string();
    assert!(text.contains("/p1/live/vmlinuz") && text.contains("disk-image"), "{text}");
    assert_eq!(report["counts"]["content"], 0, "a file's content differs: {text}");
    assert!(report["counts"]["mtime-only"].as_u64().unwrap() >= 7, "{text}");
    let out = common::tamis(&["diff", "--explain", ta.to_str().unwrap(), tb.to_str().unwrap()]);
    let said = String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("/usb.img  tamis disk normalize: only identifiers and times"), "{said}");
    assert!(said.contains("volume serial") && said.contains("disk GUID"), "{said}");
    // Normalized, the two images are the same: nothing left to explain.
    for image in [&a, &b] {
        assert_eq!(normalize(image, &[]).status.code(), Some(0));
    }
    let out = common::tamis(&["diff", a.to_str().unwrap(), b.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// A hybrid ISO given to `tamis disk normalize`: its GPT and EFI FAT partition are normalized,
/// its ISO 9660 volume is named and left, and `tamis iso normalize` still reads it.
#[test]
fn a_hybrid_iso_gets_its_gpt_and_efi_fat_normalized_and_its_iso_volume_named() {
    let Some(boot) = boot_dir() else { return };
    if !tools() || !common::have(&["xorriso", "grub-mkimage", "mksquashfs"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let iso = dir.path().join("live.iso");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/iso/make-live-iso.sh");
    run(Command::new("sh").arg(script).arg(&boot).arg(dir.path().join("work")).arg(&iso));
    let json = dir.path().join("report.json");
    let out = normalize(&iso, &["--json", json.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let stage = &report["stages"][0];
    let reasons: Vec<&str> =
        stage["changes"].as_array().unwrap().iter().map(|c| c["reason"].as_str().unwrap()).collect();
    assert!(reasons.contains(&"disk GUID") && reasons.contains(&"volume serial"), "{reasons:?}");
    let skipped = stage["skipped"].to_string();
    assert!(skipped.contains("an ISO 9660 volume"), "{skipped}");
    let iso_run = common::tamis(&["iso", "normalize", "--epoch", EPOCH, iso.to_str().unwrap()]);
    assert_eq!(iso_run.status.code(), Some(0), "{}", stderr(&iso_run));
    // The two commands derive identifiers each their own way; the ISO's wins, and a second disk
    // normalization would change them back: the order is iso last, and a second iso run finds
    // nothing to change.
    let again = common::tamis(&["iso", "normalize", "--check", "--epoch", EPOCH, iso.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
}

#[test]
fn a_bare_fat_file_system_without_a_partition_table_is_normalized() {
    // A "superfloppy" (mkfs.fat -C, as EFI images and some USB sticks are): sector 0 is the FAT
    // boot sector, whose 0x55AA looks like an MBR's. It was left as it was with "0 entries" and
    // exit 0, or (with syslinux' boot code where MBR entries would be) refused as corrupt.
    if !tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let build = |name: &str, later: bool, fat32: bool| {
        let image = dir.path().join(name);
        let img = image.display();
        let (format, install) =
            if fat32 { ("-F 32", format!("syslinux --install {img}; ")) } else { ("", String::new()) };
        let mut cmd = if later { common::faketime("+5d", "sh") } else { Command::new("sh") };
        run(cmd.env_remove("SOURCE_DATE_EPOCH").arg("-c").arg(format!(
            "set -e; mkfs.msdos {format} -C {img} 40000 >/dev/null; {install}\
             printf data > {dir}/f; mcopy -i {img} {dir}/f ::/F.TXT",
            dir = dir.path().display()
        )));
        image
    };
    for fat32 in [false, true] {
        let (a, b) = (build("a.img", false, fat32), build("b.img", true, fat32));
        let fsck =
            |p: &Path| String::from_utf8_lossy(&run(Command::new("fsck.fat").arg("-n").arg(p)).stdout).into_owned();
        let fsck_before = fsck(&a).replace("a.img", "");
        for image in [&a, &b] {
            let out = normalize(image, &[]);
            assert_eq!(out.status.code(), Some(0), "FAT32 {fat32}: {}", stderr(&out));
        }
        assert!(std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap(), "FAT32 {fat32}: still differ");
        // The real tools read it as before: fsck.fat finds what it found, mcopy the file.
        assert_eq!(fsck(&a).replace("a.img", ""), fsck_before, "FAT32 {fat32}");
        let copied = run(Command::new("mtype").arg("-i").arg(&a).arg("::/F.TXT"));
        assert_eq!(copied.stdout, b"data", "FAT32 {fat32}");
        std::fs::remove_file(&a).unwrap();
        std::fs::remove_file(&b).unwrap();
    }
}
