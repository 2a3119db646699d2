//! `tamis squashfs` against the real squashfs-tools: `unsquashfs -lln` lists what was written,
//! `unsquashfs -d` extracts a tree equal to the input; the bytes depend on nothing but the tree
//! and the options (not the thread count, not the order in which the tree was created); two
//! real rootfs builds, normalized, give identical images; tamis' own reader and `tamis diff`
//! read images; the kernel mounts one where the machine allows.

#![allow(clippy::print_stderr, clippy::disallowed_methods, reason = "a test says what it skipped")]

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{copy, tamis};
use tamis_core::{FileKind, Root};
use tamis_manifest::{Manifest, ManifestEntry};

const EPOCH: i64 = 1_700_000_000;
const OLD: i64 = 1_600_000_000;
const NEW: i64 = 1_800_000_000;

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Whether squashfs-tools are here; skips (or fails in CI) without them.
fn have_unsquashfs() -> bool {
    common::have(&["unsquashfs"])
}

/// A tree with every kind of entry squashfs holds, created in `order` (names reversed or not),
/// every time set explicitly (some later than the epoch).
fn make_tree(dir: &Path, reversed: bool) {
    let mut files: Vec<(String, Vec<u8>)> = vec![
        ("empty".into(), Vec::new()),
        ("small".into(), b"hello\n".to_vec()),
        ("dup-a".into(), b"same contents\n".to_vec()),
        ("sub/dup-b".into(), b"same contents\n".to_vec()),
        ("exact-block".into(), vec![7u8; 128 * 1024]),
        ("text".into(), (0..60_000).flat_map(|i: u32| format!("line {i}\n").into_bytes()).collect()),
        ("random".into(), (0..400_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect()),
        ("sub/deeper/x".into(), b"x".to_vec()),
    ];
    for i in 0..3000 {
        files.push((format!("big-dir/an-entry-with-a-rather-long-name-{i:05}"), format!("{i}\n").into_bytes()));
    }
    if reversed {
        files.reverse();
    }
    for (name, bytes) in &files {
        let path = dir.join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, bytes).unwrap();
    }
    fs::create_dir_all(dir.join("empty-dir")).unwrap();
    let sparse = fs::File::create(dir.join("sparse")).unwrap();
    sparse.set_len(3 * 128 * 1024 + 5).unwrap();
    fs::hard_link(dir.join("small"), dir.join("sub/hardlink")).unwrap();
    std::os::unix::fs::symlink("../small", dir.join("sub/link")).unwrap();
    std::os::unix::fs::symlink("/etc/resolv.conf", dir.join("absolute-link")).unwrap();
    run(Command::new("mkfifo").arg(dir.join("fifo")));
    std::os::unix::net::UnixListener::bind(dir.join("socket")).unwrap();
    fs::set_permissions(dir.join("random"), fs::Permissions::from_mode(0o4755)).unwrap();
    fs::set_permissions(dir.join("sub"), fs::Permissions::from_mode(0o1777)).unwrap();
    run(Command::new("setfattr").args(["-n", "user.comment", "-v", "kept"]).arg(dir.join("small")));
    run(Command::new("setfattr").args(["-n", "user.dir", "-v", "on a directory"]).arg(dir.join("sub")));
    if is_root() {
        run(Command::new("mknod").arg(dir.join("null")).args(["c", "1", "3"]));
        run(Command::new("mknod").arg(dir.join("disk")).args(["b", "259", "70000"]));
        // The capability that lets ping work without set-uid: must survive.
        run(Command::new("setcap").arg("cap_net_raw+ep").arg(dir.join("random")));
        run(Command::new("setfattr").args(["-n", "trusted.overlay.opaque", "-v", "y"]).arg(dir.join("empty-dir")));
        run(Command::new("chown").arg("1000:1001").arg(dir.join("text")));
        run(Command::new("chown").arg("-h").arg("4242:0").arg(dir.join("sub/link")));
    }
    // Times last: old everywhere, new on a few (clamped in the image).
    run(Command::new("find").arg(dir).args(["-exec", "touch", "-h", "-d", &format!("@{OLD}"), "{}", "+"]));
    for late in ["text", "sub/link", "sub", "big-dir"] {
        run(Command::new("touch").args(["-h", "-d", &format!("@{NEW}.123456789")]).arg(dir.join(late)));
    }
}

fn write_image(root: &Path, image: &Path, extra: &[&str]) {
    let mut args = vec!["squashfs", "--epoch", "1700000000", "-q"];
    args.extend_from_slice(extra);
    let (root, image) = (root.to_str().unwrap(), image.to_str().unwrap());
    args.extend([root, image]);
    let out = tamis(&args);
    assert!(out.status.success(), "tamis squashfs: {}", String::from_utf8_lossy(&out.stderr));
}

/// A manifest with what an image keeps of each entry: times clamped to whole seconds of the
/// epoch, nothing excluded by `--xattr-exclude trusted.overlay.`.
fn expected(root: &Path) -> Vec<ManifestEntry> {
    let mut manifest = Manifest::of_tree(&Root::open(root).unwrap()).unwrap();
    for e in &mut manifest.entries {
        e.mtime = tamis_core::Timestamp::from_secs(e.mtime.secs.min(EPOCH));
        e.xattrs.retain(|name, _| !name.starts_with("trusted.overlay."));
    }
    manifest.entries
}

fn extracted(image: &Path) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let into = dir.path().join("x");
    run(Command::new("unsquashfs").arg("-q").arg("-n").arg("-d").arg(&into).arg(image));
    (dir, into)
}

/// `unsquashfs -lln`, each line as (path, fields other than the path), times in UTC.
fn unsquashfs_listing(image: &Path) -> BTreeMap<String, String> {
    let text = run(Command::new("unsquashfs").arg("-lln").arg(image).env("TZ", "UTC"));
    text.lines()
        .filter_map(|line| {
            let at = line.find("squashfs-root")?;
            let rest = &line[at + "squashfs-root".len()..];
            let path = rest.split_once(" -> ").map_or(rest, |(path, _)| path).to_owned();
            let fields: Vec<&str> = line[..at].split_whitespace().collect();
            Some((if path.is_empty() { "/".into() } else { path }, fields.join(" ")))
        })
        .collect()
}

fn mode_string(kind: FileKind, mode: u32) -> String {
    let t = match kind {
        FileKind::Dir => 'd',
        FileKind::Symlink => 'l',
        FileKind::CharDevice => 'c',
        FileKind::BlockDevice => 'b',
        FileKind::Fifo => 'p',
        FileKind::Socket => 's',
        FileKind::File => '-',
    };
    let mut s = String::from(t);
    for (shift, special, lower, upper) in [(6, 0o4000, 's', 'S'), (3, 0o2000, 's', 'S'), (0, 0o1000, 't', 'T')] {
        let bits = (mode >> shift) & 7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        s.push(match (bits & 1 != 0, mode & special != 0) {
            (true, true) => lower,
            (false, true) => upper,
            (true, false) => 'x',
            (false, false) => '-',
        });
    }
    s
}

fn check_against_unsquashfs(root: &Path, image: &Path) {
    let expected = expected(root);
    let listing = unsquashfs_listing(image);
    assert_eq!(listing.len(), expected.len(), "unsquashfs lists every entry");
    for e in &expected {
        let line = listing.get(&e.path).unwrap_or_else(|| panic!("{} missing from unsquashfs -lln", e.path));
        let secs = e.mtime.secs;
        let (y, m, d) = tamis_core::civil_from_days(secs.div_euclid(86_400));
        let minute = secs.rem_euclid(86_400) / 60;
        let when = format!("{y:04}-{m:02}-{d:02} {:02}:{:02}", minute / 60, minute % 60);
        let head = format!("{} {}/{}", mode_string(e.kind, e.mode), e.uid, e.gid);
        assert!(line.starts_with(&head), "{}: unsquashfs says {line:?}, expected {head}", e.path);
        assert!(line.contains(&when), "{}: unsquashfs says {line:?}, expected time {when}", e.path);
        if matches!(e.kind, FileKind::File | FileKind::Symlink) {
            assert!(line.contains(&format!(" {} {when}", e.size)), "{}: size in {line:?}, expected {}", e.path, e.size);
        }
    }
    for e in expected.iter().filter(|e| e.kind == FileKind::Symlink) {
        let target = e.target.as_ref().unwrap();
        // The listing line ends with "-> target" after the path.
        let text = run(Command::new("unsquashfs").arg("-lln").arg(image).env("TZ", "UTC"));
        assert!(text.contains(&format!("squashfs-root{} -> {target}", e.path)), "{}: link target", e.path);
    }

    let (_dir, into) = extracted(image);
    let mut got = Manifest::of_tree(&Root::open(&into).unwrap()).unwrap().entries;
    let mut want = expected.clone();
    // unsquashfs gives the extracted root the image's root attributes, except possibly its
    // mode under a umask; compare everything beneath it.
    got.retain(|e| e.path != "/");
    want.retain(|e| e.path != "/");
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g, w, "extracted entry differs from the input");
    }
    // Hard links come back as one inode.
    let (a, b) = (fs::metadata(into.join("small")).unwrap(), fs::metadata(into.join("sub/hardlink")).unwrap());
    assert_eq!(a.ino(), b.ino(), "the hard-link group is one inode after extraction");
    assert_eq!(a.nlink(), 2);
}

fn check_own_reader(root: &Path, image_path: &Path) {
    let image = tamis_squashfs::Image::open(image_path).unwrap();
    assert_eq!(i64::from(image.superblock().mkfs_time), EPOCH, "mkfs_time is the epoch");
    let entries = image.entries().unwrap();
    let want = expected(root);
    assert_eq!(entries.len(), want.len());
    for (e, w) in entries.iter().zip(&want) {
        assert_eq!(tamis_core::display_path(&e.path), w.path);
        assert_eq!((e.kind, e.mode, e.uid, e.gid, i64::from(e.mtime)), (w.kind, w.mode, w.uid, w.gid, w.mtime.secs));
        if e.kind == FileKind::File {
            let bytes = image.read_file(e).unwrap();
            assert_eq!(bytes, fs::read(root.join(&e.path)).unwrap(), "{}: contents", w.path);
        }
        assert_eq!(e.xattrs.len(), w.xattrs.len(), "{}: xattrs", w.path);
    }
}

#[test]
fn unsquashfs_lists_and_extracts_what_was_written() {
    if !have_unsquashfs() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    make_tree(&root, false);
    for comp in [
        &["--comp", "zstd"][..],
        &["--comp", "xz", "--xz-bcj", "x86", "-b", "1M", "--xz-dict-size", "512K"],
        &["--comp", "gzip", "--no-fragments"],
        &["--comp", "lz4", "-b", "4K"],
    ] {
        let image = dir.path().join("image.sqfs");
        let mut args = comp.to_vec();
        args.extend(["--xattr-exclude", "trusted.overlay."]);
        write_image(&root, &image, &args);
        check_against_unsquashfs(&root, &image);
        check_own_reader(&root, &image);
        fs::remove_file(&image).unwrap();
    }
}

#[test]
fn tail_packing_puts_the_ends_of_larger_files_into_fragments_and_unsquashfs_reads_them() {
    if !have_unsquashfs() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    make_tree(&root, false);
    // "text" is whole 64 KiB blocks and a part: where does the part go?
    let tail_of = |extra: &[&str]| {
        let image = dir.path().join("image.sqfs");
        let mut args = vec!["--comp", "gzip", "-b", "64K", "--xattr-exclude", "trusted.overlay."];
        args.extend_from_slice(extra);
        write_image(&root, &image, &args);
        check_against_unsquashfs(&root, &image);
        check_own_reader(&root, &image);
        let opened = tamis_squashfs::Image::open(&image).unwrap();
        let text = opened.entries().unwrap().into_iter().find(|e| e.path == Path::new("text")).unwrap();
        let stored = opened.stored_file(&text, 0).unwrap().unwrap();
        fs::remove_file(&image).unwrap();
        (stored.blocks.len(), stored.tail.is_some())
    };
    let size = fs::metadata(root.join("text")).unwrap().len();
    let whole = usize::try_from(size / (64 << 10)).unwrap();
    assert!(size % (64 << 10) != 0);
    assert_eq!(tail_of(&[]), (whole + 1, false), "mksquashfs' default: the part in a block of its own");
    assert_eq!(tail_of(&["--tail-packing"]), (whole, true), "the part in a fragment block");
    let out = tamis(&["squashfs", "--tail-packing", "--no-fragments", "a", "b"]);
    assert_eq!(out.status.code(), Some(2), "tails need fragments: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn same_bytes_for_any_thread_count_and_creation_order() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    make_tree(&a, false);
    make_tree(&b, true);
    for comp in ["zstd", "xz"] {
        let images: Vec<Vec<u8>> = [(&a, "1"), (&a, "2"), (&b, "2"), (&b, "1")]
            .iter()
            .map(|(root, threads)| {
                let image = dir.path().join("out.sqfs");
                write_image(root, &image, &["--comp", comp, "-j", threads, "-b", "64K"]);
                fs::read(&image).unwrap()
            })
            .collect();
        assert!(images.windows(2).all(|w| w[0] == w[1]), "{comp}: the same bytes from every run");
    }
    // --check says so too, and notices a different epoch.
    let image = dir.path().join("out.sqfs");
    let (a, image_s) = (a.to_str().unwrap(), image.to_str().unwrap());
    let out = tamis(&["squashfs", "--comp", "xz", "-b", "64K", "--epoch", "1700000000", "--check", "-q", a, image_s]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let out = tamis(&["squashfs", "--comp", "xz", "-b", "64K", "--epoch", "1700000001", "--check", "-q", a, image_s]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn sort_file_places_data_first_and_all_root_owns_everything() {
    if !have_unsquashfs() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    make_tree(&root, false);
    let sort = dir.path().join("sort");
    fs::write(&sort, "text 100\n/random 50\n").unwrap();
    let image = dir.path().join("image.sqfs");
    write_image(&root, &image, &["--sort", sort.to_str().unwrap(), "--all-root", "--no-fragments"]);
    let read = tamis_squashfs::Image::open(&image).unwrap();
    let entries = read.entries().unwrap();
    assert!(entries.iter().all(|e| e.uid == 0 && e.gid == 0), "--all-root");
    // The listing of unsquashfs still holds every entry.
    assert_eq!(unsquashfs_listing(&image).len(), entries.len());
    // The highest priority file's data comes first, right after the superblock (zstd at its
    // default level has no options block), then the next priority.
    let start = |name: &str| entries.iter().find(|e| e.path == Path::new(name)).unwrap().data_start().unwrap();
    assert_eq!(start("text"), 96, "priority 100 is placed first");
    let after_text = start("text") + fs::metadata(root.join("text")).unwrap().len().min(1);
    assert!(start("random") > after_text && start("random") < start("exact-block"), "priority 50 next");
}

/// Two builds of the same packages made at different times (the fixture), normalized: the
/// images are byte-identical, and `tamis diff` says the images are identical.
#[test]
fn two_real_rootfs_builds_give_identical_images() {
    let Some(pair) = common::fixture("rootfs-pair") else { return };
    let mut images = Vec::new();
    let work = tempfile::tempdir().unwrap();
    for (i, build) in ["a", "b"].into_iter().enumerate() {
        let copy = copy(&pair.join(build));
        let root = copy.path().join("root");
        let out = tamis(&["normalize", "--epoch", "1700000000", "-q", root.to_str().unwrap()]);
        assert!(out.status.success(), "normalize: {}", String::from_utf8_lossy(&out.stderr));
        let image = work.path().join(format!("{i}.sqfs"));
        // Debian sets POSIX ACLs on /var/log/journal: squashfs cannot hold them (the kernel has no
        // `system.` namespace in squashfs); say so rather than exit 3.
        write_image(&root, &image, &["--comp", "zstd", "--level", "3", "--xattr-exclude", "system.posix_acl_"]);
        if i == 0 && Command::new("unsquashfs").arg("-version").output().is_ok() {
            check_listing_count(&root, &image);
        }
        images.push(image);
    }
    let (a, b) = (fs::read(&images[0]).unwrap(), fs::read(&images[1]).unwrap());
    assert!(a == b, "the two normalized builds give different images");
    let out = tamis(&["diff", images[0].to_str().unwrap(), images[1].to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "tamis diff of two images: {}", String::from_utf8_lossy(&out.stderr));
}

fn check_listing_count(root: &Path, image: &Path) {
    let walked = Root::open(root).unwrap().walk().unwrap().entries().len();
    assert_eq!(unsquashfs_listing(image).len(), walked, "unsquashfs lists every entry of the real rootfs");
}

#[test]
fn tamis_diff_reads_images() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    make_tree(&root, false);
    let (one, two) = (dir.path().join("1.sqfs"), dir.path().join("2.sqfs"));
    write_image(&root, &one, &[]);
    // One file changed (and given back its old time): the only difference.
    fs::write(root.join("small"), b"changed\n").unwrap();
    run(Command::new("touch").args(["-h", "-d", &format!("@{OLD}")]).arg(root.join("small")));
    write_image(&root, &two, &[]);
    let out = tamis(&["diff", "--json", "-", one.to_str().unwrap(), two.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("/small"), "the changed file is named: {text}");
    assert!(!text.contains("/text"), "unchanged files are not: {text}");
    let out = tamis(&["diff", one.to_str().unwrap(), one.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
}

/// The kernel mounts the image (loop device) and sees the same tree.
#[test]
fn the_kernel_mounts_the_image() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    make_tree(&root, false);
    let image = dir.path().join("image.sqfs");
    write_image(&root, &image, &["--comp", "xz", "--xz-bcj", "x86", "--xattr-exclude", "trusted.overlay."]);
    let mnt = dir.path().join("mnt");
    fs::create_dir(&mnt).unwrap();
    let mounted = Command::new("mount").args(["-t", "squashfs", "-o", "loop,ro"]).arg(&image).arg(&mnt).output();
    match mounted {
        Ok(out) if out.status.success() => {}
        Ok(out) => {
            eprintln!(
                "skipped: cannot mount a squashfs loop device here: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            return;
        }
        Err(e) => {
            eprintln!("skipped: no mount command: {e}");
            return;
        }
    }
    let seen = Manifest::of_tree(&Root::open(&mnt).unwrap());
    let _ = Command::new("umount").arg(&mnt).status();
    let mut seen = seen.unwrap().entries;
    let mut want = expected(&root);
    seen.retain(|e| e.path != "/");
    want.retain(|e| e.path != "/");
    assert_eq!(seen.len(), want.len());
    for (s, w) in seen.iter().zip(&want) {
        assert_eq!(s, w, "the kernel sees the tree that was written");
    }
}

/// The `squashfs` stage at the end of a profile writes the image of the normalized tree, the
/// same bytes as `tamis squashfs`; a second run (or a check) finds nothing to do.
#[test]
fn pipeline_stage_writes_the_image_after_normalization() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    make_tree(&root, false);
    let image = dir.path().join("stage.sqfs");
    let profile = dir.path().join("profile.toml");
    fs::write(
        &profile,
        format!(
            "description = \"normalize, then the image\"\n\n[[stage]]\nname = \"mtime\"\n\n[[stage]]\nname = \"squashfs\"\noutput = {:?}\ncomp = \"xz\"\nblock_size = 65536\nxattr_exclude = [\"trusted.overlay.\"]\n",
            image.to_str().unwrap()
        ),
    )
    .unwrap();
    let (profile, root_s) = (profile.to_str().unwrap(), root.to_str().unwrap());
    let out = tamis(&["normalize", "--profile", profile, "--epoch", "1700000000", "-q", root_s]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let direct = dir.path().join("direct.sqfs");
    write_image(&root, &direct, &["--comp", "xz", "-b", "64K", "--xattr-exclude", "trusted.overlay."]);
    assert!(fs::read(&image).unwrap() == fs::read(&direct).unwrap(), "the stage writes what tamis squashfs writes");
    let out = tamis(&["normalize", "--profile", profile, "--epoch", "1700000000", "--check", "-q", root_s]);
    assert_eq!(out.status.code(), Some(0), "nothing left to do: {}", String::from_utf8_lossy(&out.stderr));
}

/// A large sparse file (a lastlog after a login with a high uid) is stored as holes: a small
/// image, read block by block rather than whole, listed with its full size.
#[test]
fn sparse_files_are_stored_as_holes() {
    if !have_unsquashfs() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    fs::create_dir(&root).unwrap();
    let file = fs::File::create(root.join("lastlog")).unwrap();
    file.set_len(1 << 30).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&file, b"data in the middle", 1 << 29).unwrap();
    let image = dir.path().join("image.sqfs");
    write_image(&root, &image, &[]);
    assert!(fs::metadata(&image).unwrap().len() < 64 * 1024, "holes take no room");
    let listing = unsquashfs_listing(&image);
    assert!(listing["/lastlog"].contains(&(1u64 << 30).to_string()), "{listing:?}");
    let read = tamis_squashfs::Image::open(&image).unwrap();
    let entry = read.entries().unwrap().into_iter().find(|e| e.path == Path::new("lastlog")).unwrap();
    let mut hasher = Digest::default();
    read.read_file_to(&entry, &mut hasher).unwrap();
    assert_eq!((hasher.len, hasher.nonzero), (1 << 30, 18), "the same bytes come back");
}

/// Counts bytes, and non-zero ones.
#[derive(Default)]
struct Digest {
    len: u64,
    nonzero: u64,
}

impl std::io::Write for Digest {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.len += buf.len() as u64;
        self.nonzero += buf.iter().filter(|&&b| b != 0).count() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Unmounts on drop, so a failing assertion does not leave a mount behind.
struct BindMount(PathBuf);

impl BindMount {
    fn new(from: &Path, to: &Path) -> Self {
        fs::create_dir_all(to).unwrap();
        run(Command::new("mount").arg("--bind").arg(from).arg(to));
        Self(to.to_owned())
    }
}

impl Drop for BindMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn an_image_is_not_written_inside_its_tree_through_a_bind_mount() {
    if !is_root() {
        common::skip("bind mounts need root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    fs::create_dir_all(root.join("srv/data")).unwrap();
    fs::write(root.join("srv/data/f"), b"data").unwrap();
    // The whole tree mounted elsewhere, and one directory of it.
    let _whole = BindMount::new(&root, &dir.path().join("whole"));
    let _part = BindMount::new(&root.join("srv"), &dir.path().join("part"));
    let have_xorriso = Command::new("xorriso").arg("-version").output().is_ok();
    for out in [dir.path().join("whole/out.img"), dir.path().join("part/data/out.img"), root.join("srv/out.img")] {
        let mut runs = vec![vec!["squashfs", "--epoch", "1700000000", root.to_str().unwrap(), out.to_str().unwrap()]];
        if have_xorriso {
            runs.push(vec!["iso", "build", "--epoch", "1700000000", root.to_str().unwrap(), out.to_str().unwrap()]);
        }
        for args in runs {
            let o = tamis(&args);
            let stderr = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(2), "{args:?}: {stderr}");
            assert!(stderr.contains("may not be written inside the tree it is made of"), "{args:?}: {stderr}");
            // Nothing was written into the tree: no image, no temporary file.
            let names = run(Command::new("find").arg(&root).args(["-mindepth", "1", "-printf", "%P\n"]));
            let mut names: Vec<&str> = names.lines().collect();
            names.sort_unstable();
            assert_eq!(names, ["srv", "srv/data", "srv/data/f"], "{args:?}");
        }
    }
    // The squashfs stage of a profile: a problem, and nothing written.
    let profile = dir.path().join("profile.toml");
    let output = dir.path().join("whole/stage.img");
    fs::write(&profile, format!("description = 'x'\n[[stage]]\nname = 'squashfs'\noutput = {output:?}\n")).unwrap();
    let o =
        tamis(&["normalize", "--epoch", "1700000000", "--profile", profile.to_str().unwrap(), root.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("may not be written inside the tree it is made of"), "{stderr}");
    assert!(!output.exists(), "the stage wrote its image inside the tree");
    // Beside the tree, it is written.
    let beside = dir.path().join("beside.img");
    let o = tamis(&["squashfs", "--epoch", "1700000000", root.to_str().unwrap(), beside.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn an_output_path_ending_with_a_slash_is_refused_not_written_as_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    fs::create_dir(&root).unwrap();
    fs::write(root.join("f"), b"data").unwrap();
    // `images/` names a directory (here one that does not exist): no file `images` is made.
    let out = format!("{}/", dir.path().join("images").display());
    let o = tamis(&["squashfs", "--epoch", "1700000000", root.to_str().unwrap(), &out]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&out) && stderr.contains("names a directory"), "{stderr}");
    let names: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, ["root"], "something was written beside the tree");
    // The same for a kit, whose error names OUT as given.
    let image = dir.path().join("root.img");
    write_image(&root, &image, &[]);
    let i = image.to_str().unwrap();
    let o = tamis(&["iuk", "--epoch", "1700000000", "--allow-older", i, i, &out]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&format!("{out}: cannot create a temporary file")), "{stderr}");
    assert!(!dir.path().join("images").exists(), "the kit was written as a file named after the directory");
}

#[test]
fn an_output_that_is_a_device_node_or_a_named_pipe_is_refused_and_left_as_it_is() {
    use std::os::unix::fs::FileTypeExt as _;
    if !is_root() {
        common::skip("mknod needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    fs::create_dir(&root).unwrap();
    fs::write(root.join("f"), b"data").unwrap();
    let image = dir.path().join("image.sqfs");
    write_image(&root, &image, &[]);
    // A node like /dev/null (the rename would have put the image in its place), and a named
    // pipe (which the comparison with the old contents would have waited on for ever).
    let null = dir.path().join("null");
    run(Command::new("mknod").arg(&null).args(["c", "1", "3"]));
    let fifo = dir.path().join("fifo");
    run(Command::new("mkfifo").arg(&fifo));
    let (r, i) = (root.to_str().unwrap(), image.to_str().unwrap());
    for (out, is_it) in
        [(&null, fs::FileType::is_char_device as fn(&fs::FileType) -> bool), (&fifo, fs::FileType::is_fifo)]
    {
        let o = out.to_str().unwrap();
        for args in [
            vec!["squashfs", "--epoch", "1700000000", r, o],
            vec!["squashfs", "--epoch", "1700000000", "--check", r, o],
            vec!["squashfs", "--list", i, "--json", o],
            vec!["iuk", "--epoch", "1700000000", "--allow-older", i, i, o],
        ] {
            let out_run = tamis(&args);
            let stderr = String::from_utf8_lossy(&out_run.stderr);
            assert_eq!(out_run.status.code(), Some(2), "{args:?}: {stderr}");
            assert!(stderr.contains(o) && stderr.contains("not a regular file"), "{args:?}: {stderr}");
            assert!(is_it(&fs::symlink_metadata(out).unwrap().file_type()), "{args:?}: {o} was replaced");
        }
    }
    let left: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().starts_with(".tamis-"))
        .collect();
    assert!(left.is_empty(), "temporary files left: {left:?}");
}
