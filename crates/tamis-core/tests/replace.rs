//! `Root::replace` swaps a file's contents atomically and keeps everything else about it:
//! owner, mode, times, extended attributes (file capabilities) and its hard-link group.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use tamis_core::{Error, Links, Root};

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd).args(args).output().unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(out.status.success(), "{cmd} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn leftovers(dir: &Path) -> Vec<String> {
    let mut names = Vec::new();
    for entry in walkdir(dir) {
        let name = entry.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with(".tamis-") {
            names.push(name);
        }
    }
    names
}

fn walkdir(dir: &Path) -> Vec<std::path::PathBuf> {
    let tree = Root::open(dir).unwrap().walk().unwrap();
    tree.entries().iter().map(|e| dir.join(&e.path)).collect()
}

#[test]
fn keeps_owner_mode_times_and_xattrs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ping");
    fs::write(&path, b"old contents").unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o4751)).unwrap();
    run("setfattr", &["-n", "user.tamis", "-v", "kept", path.to_str().unwrap()]);
    if is_root() {
        run("chown", &["1234:5678", path.to_str().unwrap()]);
        // chown clears set-id bits; set them again, then a file capability as ping has.
        fs::set_permissions(&path, fs::Permissions::from_mode(0o4751)).unwrap();
        run("setcap", &["cap_net_raw+ep", path.to_str().unwrap()]);
    }
    run("touch", &["-d", "@1600000000.123456789", path.to_str().unwrap()]);
    let before = fs::metadata(&path).unwrap();

    let root = Root::open(dir.path()).unwrap();
    root.replace(Path::new("ping"), b"new contents", &Links::unknown()).unwrap();

    let after = fs::metadata(&path).unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"new contents");
    assert_ne!(after.ino(), before.ino(), "replaced by rename, not written in place");
    assert_eq!(after.mode(), before.mode());
    assert_eq!((after.uid(), after.gid()), (before.uid(), before.gid()));
    assert_eq!((after.mtime(), after.mtime_nsec()), (1_600_000_000, 123_456_789));
    assert!(run("getfattr", &["-n", "user.tamis", "--only-values", path.to_str().unwrap()]) == "kept");
    if is_root() {
        assert_eq!((after.uid(), after.gid()), (1234, 5678));
        assert_eq!(after.mode() & 0o7777, 0o4751);
        assert!(run("getcap", &[path.to_str().unwrap()]).contains("cap_net_raw=ep"));
    }
    assert!(leftovers(dir.path()).is_empty());
}

#[test]
fn keeps_a_hard_link_group_one_inode() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("sub")).unwrap();
    fs::write(dir.path().join("a"), b"old").unwrap();
    fs::hard_link(dir.path().join("a"), dir.path().join("sub/b")).unwrap();
    fs::hard_link(dir.path().join("a"), dir.path().join("c")).unwrap();

    let root = Root::open(dir.path()).unwrap();
    let tree = root.walk().unwrap();
    let entry = tree.get(Path::new("a")).unwrap();
    let others = tree.hardlinks(entry);
    assert_eq!(others.len(), 2);
    root.replace(&entry.path, b"new", &tree.links(entry)).unwrap();

    let inos: Vec<u64> = ["a", "sub/b", "c"].iter().map(|n| fs::metadata(dir.path().join(n)).unwrap().ino()).collect();
    assert!(inos.iter().all(|&i| i == inos[0]), "names no longer share one inode: {inos:?}");
    assert_ne!(inos[0], entry.meta.ino);
    assert_eq!(fs::metadata(dir.path().join("c")).unwrap().nlink(), 3);
    assert_eq!(fs::read(dir.path().join("sub/b")).unwrap(), b"new");
    assert!(leftovers(dir.path()).is_empty());
}

#[test]
fn refuses_to_split_a_link_group_and_leaves_it_untouched() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("a"), b"old").unwrap();
    fs::hard_link(dir.path().join("a"), dir.path().join("b")).unwrap();
    fs::write(dir.path().join("unrelated"), b"x").unwrap();
    let root = Root::open(dir.path()).unwrap();

    let err = root.replace(Path::new("a"), b"new", &Links::unknown()).unwrap_err();
    assert!(matches!(err, Error::HardlinkGroup { nlink: 2, given: 0, .. }), "{err}");
    let err = root.replace(Path::new("a"), b"new", &Links::partial(["unrelated"])).unwrap_err();
    assert!(matches!(err, Error::HardlinkGroup { .. }), "{err}");
    assert_eq!(fs::read(dir.path().join("a")).unwrap(), b"old");
    assert_eq!(fs::metadata(dir.path().join("b")).unwrap().nlink(), 2);
    assert!(leftovers(dir.path()).is_empty());
}

#[test]
fn errors_name_the_path_inside_the_image() {
    let dir = tempfile::tempdir().unwrap();
    let root = Root::open(dir.path()).unwrap();
    let err = root.replace(Path::new("etc/missing"), b"x", &Links::unknown()).unwrap_err();
    assert!(err.to_string().starts_with("/etc"), "{err}");
}

#[test]
fn patch_copies_the_rest_and_keeps_what_replace_keeps() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big");
    // Larger than one copy_file_range call needs, with a pattern to check every byte.
    let original: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    fs::write(&path, &original).unwrap();
    fs::hard_link(&path, dir.path().join("other")).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
    run("setfattr", &["-n", "user.tamis", "-v", "kept", path.to_str().unwrap()]);
    run("touch", &["-d", "@1600000000.5", path.to_str().unwrap()]);
    let root = Root::open(dir.path()).unwrap();

    let patches = vec![(0u64, b"HEAD".to_vec()), (2_999_998, b"TL".to_vec()), (1_000_000, vec![0; 60])];
    root.patch(Path::new("big"), &patches, &Links::partial(["other"])).unwrap();
    let mut expected = original.clone();
    for (at, bytes) in &patches {
        expected[*at as usize..*at as usize + bytes.len()].copy_from_slice(bytes);
    }
    assert!(fs::read(&path).unwrap() == expected, "patched bytes, every other byte copied");
    let (after, other) = (fs::metadata(&path).unwrap(), fs::metadata(dir.path().join("other")).unwrap());
    assert_eq!((after.ino(), after.nlink(), after.mode() & 0o7777), (other.ino(), 2, 0o640));
    assert_eq!((after.mtime(), after.mtime_nsec()), (1_600_000_000, 500_000_000));
    assert!(run("getfattr", &["-n", "user.tamis", "--only-values", path.to_str().unwrap()]) == "kept");

    // A patch past the end: refused, the file as it was, no temporary file left.
    let err = root.patch(Path::new("big"), &[(2_999_999, b"xy".to_vec())], &Links::partial(["other"])).unwrap_err();
    assert!(err.to_string().contains("big"), "{err}");
    assert!(fs::read(&path).unwrap() == expected);
    assert!(leftovers(dir.path()).is_empty());
}
