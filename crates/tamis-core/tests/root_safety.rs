//! A symbolic link inside the tree must never make tamis read, change or remove anything
//! outside it, wherever the link stands: as the last name, as a directory in the middle of a
//! path, or pointing at the root itself or its parent.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use tamis_core::{Error, FileKind, Links, Root, Timestamp};

struct Outside {
    file: PathBuf,
    dir_file: PathBuf,
}

/// Files outside the root, with an old mtime and a distinctive mode, so any change shows.
fn outside(base: &Path) -> Outside {
    let out = base.join("outside");
    fs::create_dir_all(out.join("dir")).unwrap();
    let file = out.join("secret");
    let dir_file = out.join("dir/inner");
    for f in [&file, &dir_file] {
        fs::write(f, b"do not touch").unwrap();
        fs::set_permissions(f, fs::Permissions::from_mode(0o640)).unwrap();
        let t = filetime(1_000_000_000);
        fs::File::options().write(true).open(f).unwrap().set_times(t).unwrap();
    }
    Outside { file, dir_file }
}

fn filetime(secs: u64) -> fs::FileTimes {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
    fs::FileTimes::new().set_accessed(t).set_modified(t)
}

fn snapshot(paths: &[&Path]) -> Vec<(Vec<u8>, u32, i64, u64)> {
    paths
        .iter()
        .map(|p| {
            let m = fs::symlink_metadata(p).unwrap();
            (fs::read(p).unwrap(), m.mode(), m.mtime(), m.ino())
        })
        .collect()
}

/// A root with links to the outside in every position.
fn hostile_root(base: &Path, out: &Outside) -> PathBuf {
    let root = base.join("root");
    fs::create_dir_all(root.join("etc")).unwrap();
    fs::write(root.join("etc/hostname"), b"inside\n").unwrap();
    symlink(&out.file, root.join("etc/leaf-absolute")).unwrap();
    symlink("../../outside/secret", root.join("etc/leaf-relative")).unwrap();
    symlink(out.dir_file.parent().unwrap(), root.join("dir-absolute")).unwrap();
    symlink("../outside/dir", root.join("dir-relative")).unwrap();
    symlink("/", root.join("slash")).unwrap();
    symlink("..", root.join("parent")).unwrap();
    symlink(".", root.join("itself")).unwrap();
    root
}

#[test]
fn no_operation_reaches_outside_through_a_link() {
    confined(|path| Root::open(path).unwrap());
}

#[test]
fn no_operation_reaches_outside_through_a_link_without_openat2() {
    confined(|path| Root::open(path).unwrap().without_openat2());
}

fn confined(open: impl Fn(&Path) -> Root) {
    let base = tempfile::tempdir().unwrap();
    let out = outside(base.path());
    let before = snapshot(&[&out.file, &out.dir_file]);
    let root = open(&hostile_root(base.path(), &out));
    let t = Timestamp::from_secs(1_500_000_000);

    let through_dirs = [
        "dir-absolute/inner",
        "dir-relative/inner",
        "parent/outside/secret",
        "slash/etc/hostname",
        "itself/etc/hostname",
    ];
    for p in through_dirs {
        let p = Path::new(p);
        let r = root.read(p);
        assert!(matches!(r, Err(Error::SymlinkInPath { .. })), "read {} {r:?}", p.display());
        assert!(matches!(root.set_times(p, t, t), Err(Error::SymlinkInPath { .. })), "set_times {}", p.display());
        assert!(
            matches!(root.replace(p, b"x", &Links::unknown()), Err(Error::SymlinkInPath { .. })),
            "replace {}",
            p.display()
        );
        assert!(matches!(root.remove_file(p), Err(Error::SymlinkInPath { .. })), "remove {}", p.display());
        assert!(matches!(root.lstat(p), Err(Error::SymlinkInPath { .. })), "lstat {}", p.display());
    }
    for p in ["../outside/secret", "etc/../../outside/secret"] {
        assert!(matches!(root.read(Path::new(p)), Err(Error::OutsideRoot { .. })), "read {p}");
    }
    for p in ["etc/leaf-absolute", "etc/leaf-relative"] {
        let p = Path::new(p);
        assert!(matches!(root.read(p), Err(Error::WrongType { found: "symbolic link", .. })), "read {}", p.display());
        assert!(root.replace(p, b"x", &Links::unknown()).is_err(), "replace {}", p.display());
        // Times of a leaf link are the link's own.
        root.set_times(p, t, t).unwrap();
        assert_eq!(root.lstat(p).unwrap().mtime, t);
    }
    // Removing a link removes the link, not its target.
    root.remove_file(Path::new("etc/leaf-absolute")).unwrap();

    // The walk lists the links and does not enter them.
    let tree = root.walk().unwrap();
    let paths: Vec<_> = tree.entries().iter().map(|e| e.path.to_str().unwrap().to_owned()).collect();
    assert_eq!(
        paths,
        ["", "dir-absolute", "dir-relative", "etc", "etc/hostname", "etc/leaf-relative", "itself", "parent", "slash"]
    );

    assert_eq!(snapshot(&[&out.file, &out.dir_file]), before, "a file outside the root changed");
}

#[test]
fn a_root_opened_through_a_link_still_confines_its_contents() {
    let base = tempfile::tempdir().unwrap();
    let out = outside(base.path());
    let before = snapshot(&[&out.file, &out.dir_file]);
    let real = hostile_root(base.path(), &out);
    let alias = base.path().join("alias");
    symlink(&real, &alias).unwrap();
    let root = Root::open(&alias).unwrap();
    let t = Timestamp::from_secs(1_500_000_000);
    assert!(root.set_times(Path::new("dir-absolute/inner"), t, t).is_err());
    assert_eq!(root.read(Path::new("etc/hostname")).unwrap(), b"inside\n");
    assert_eq!(snapshot(&[&out.file, &out.dir_file]), before);
}

#[test]
fn a_fifo_is_refused_without_hanging() {
    let base = tempfile::tempdir().unwrap();
    let status = std::process::Command::new("mkfifo").arg(base.path().join("pipe")).status().unwrap();
    assert!(status.success());
    let root = Root::open(base.path()).unwrap();
    assert!(matches!(root.read(Path::new("pipe")), Err(Error::WrongType { found: "named pipe", .. })));
}

#[test]
fn links_resolve_inside_the_image_as_in_a_chroot() {
    let base = tempfile::tempdir().unwrap();
    let out = outside(base.path());
    let before = snapshot(&[&out.file, &out.dir_file]);
    let root_path = hostile_root(base.path(), &out);
    fs::create_dir_all(root_path.join("usr/lib")).unwrap();
    fs::write(root_path.join("usr/lib/real"), b"inside").unwrap();
    symlink("usr/lib", root_path.join("lib")).unwrap();
    symlink("/lib/real", root_path.join("etc/absolute")).unwrap();
    symlink("../../../../../lib/real", root_path.join("etc/climbing")).unwrap();
    symlink("loop", root_path.join("loop")).unwrap();
    let root = Root::open(&root_path).unwrap();

    for (link, expected) in
        [("etc/absolute", "usr/lib/real"), ("etc/climbing", "usr/lib/real"), ("lib/real", "usr/lib/real")]
    {
        let (path, meta) = root.resolve_in_image(Path::new(link)).unwrap().unwrap();
        assert_eq!(path, Path::new(expected), "{link}");
        assert_eq!(meta.size, 6);
    }
    // A link to an absolute path names that path in the image, never on the host.
    let host_path = out.file.strip_prefix("/").unwrap().to_owned();
    assert!(root.resolve_in_image(Path::new("etc/leaf-absolute")).unwrap().is_none(), "{}", host_path.display());
    assert!(root.resolve_in_image(Path::new("loop")).unwrap().is_none());
    assert_eq!(root.resolve_in_image(Path::new("parent/etc/hostname")).unwrap().unwrap().0, Path::new("etc/hostname"));
    assert_eq!(snapshot(&[&out.file, &out.dir_file]), before);
}

#[test]
fn xattrs_are_the_entry_s_own_never_a_link_target_s() {
    let base = tempfile::tempdir().unwrap();
    let out = outside(base.path());
    let root = base.path().join("root");
    fs::create_dir_all(root.join("dir")).unwrap();
    fs::write(root.join("file"), b"x").unwrap();
    symlink(&out.file, root.join("link")).unwrap();
    let set = |path: &Path, name: &str, value: &[u8]| {
        if let Err(e) = rustix::fs::lsetxattr(path, name, value, rustix::fs::XattrFlags::empty()) {
            panic!("{}: cannot set {name}: {e}", path.display());
        }
    };
    set(&out.file, "user.outside", b"secret");
    set(&root.join("file"), "user.b", b"2");
    set(&root.join("file"), "user.a", b"1");
    set(&root.join("dir"), "user.dir", b"d");
    // Only `trusted.*` and `security.*` attributes can be set on a link itself (as root).
    let link_own = rustix::fs::lsetxattr(root.join("link"), "trusted.tamis", b"own", rustix::fs::XattrFlags::empty());

    let r = Root::open(&root).unwrap();
    let a = |n: &str, v: &str| (n.as_bytes().to_vec(), v.as_bytes().to_vec());
    assert_eq!(r.xattrs(Path::new("file")).unwrap(), vec![a("user.a", "1"), a("user.b", "2")], "sorted by name");
    assert_eq!(r.xattrs(Path::new("/dir")).unwrap(), vec![a("user.dir", "d")]);
    let link = r.xattrs(Path::new("link")).unwrap();
    assert!(!link.contains(&a("user.outside", "secret")), "the link's target was read: {link:?}");
    if link_own.is_ok() {
        assert_eq!(link, vec![a("trusted.tamis", "own")]);
    }
    assert!(matches!(r.xattrs(Path::new("link/x")), Err(Error::SymlinkInPath { .. } | Error::Io { .. })));

    // The same through a directory opened once for its entries (as a manifest reads a tree).
    let top = r.directory(Path::new("")).unwrap();
    let name = std::ffi::OsStr::new;
    assert_eq!(top.xattrs(name("file"), FileKind::File).unwrap(), vec![a("user.a", "1"), a("user.b", "2")]);
    assert_eq!(top.xattrs(name("dir"), FileKind::Dir).unwrap(), vec![a("user.dir", "d")]);
    let link = top.xattrs(name("link"), FileKind::Symlink).unwrap();
    assert!(!link.contains(&a("user.outside", "secret")), "the link's target was read: {link:?}");
    assert!(matches!(top.xattrs(name("link"), FileKind::File), Err(Error::WrongType { .. })));
    assert!(matches!(top.open_regular(name("link")), Err(Error::WrongType { found: "symbolic link", .. })));
    assert_eq!(top.read_link(name("link")).unwrap(), out.file);
    for bad in ["..", ".", "", "dir/../link"] {
        assert!(matches!(top.open_regular(name(bad)), Err(Error::OutsideRoot { .. })), "{bad:?}");
    }
}
