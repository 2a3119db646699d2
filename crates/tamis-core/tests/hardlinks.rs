//! No operation changes an inode that is also linked from outside the tree (a tree made with
//! `cp -al`): the tree's names get an inode of their own, the outside file keeps its bytes,
//! times and inode. In-tree groups stay one inode, changed in place where the operation is in
//! place. Names that may not be all of the tree's make the operation refuse, never split a group.

#![allow(clippy::disallowed_methods, reason = "tests look at the trees with std")]

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::process::Command;

use tamis_core::{Error, Links, Root, Timestamp};

fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd).args(args).output().unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(out.status.success(), "{cmd} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Inode, mtime (seconds, nanoseconds) and contents (or link target) of `p`.
fn seen(p: &Path) -> (u64, (i64, i64), Vec<u8>) {
    let meta = fs::symlink_metadata(p).unwrap();
    let contents = if meta.is_file() {
        fs::read(p).unwrap()
    } else if meta.is_symlink() {
        fs::read_link(p).unwrap().into_os_string().into_encoded_bytes()
    } else {
        Vec::new()
    };
    (meta.ino(), (meta.mtime(), meta.mtime_nsec()), contents)
}

const NAMES: [&str; 6] = ["truncated", "replaced", "patched", "timed", "link", "fifo"];

/// `out/NAME` outside the root `tree`, each also linked as `tree/NAME` and `tree/sub/NAME`.
fn shared_with_outside() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    let (out, tree) = (t.path().join("out"), t.path().join("tree"));
    fs::create_dir_all(&out).unwrap();
    fs::create_dir_all(tree.join("sub")).unwrap();
    for name in &NAMES[..4] {
        fs::write(out.join(name), format!("contents of {name}\n")).unwrap();
    }
    std::os::unix::fs::symlink("truncated", out.join("link")).unwrap();
    run("mkfifo", &[out.join("fifo").to_str().unwrap()]);
    let timed = out.join("timed");
    run("setfattr", &["-n", "user.tamis", "-v", "kept", timed.to_str().unwrap()]);
    if is_root() {
        run("setcap", &["cap_net_raw+ep", timed.to_str().unwrap()]);
    }
    for name in NAMES {
        run("touch", &["-h", "-d", "@1800000000.5", out.join(name).to_str().unwrap()]);
        fs::hard_link(out.join(name), tree.join(name)).unwrap();
        fs::hard_link(out.join(name), tree.join("sub").join(name)).unwrap();
    }
    t
}

#[test]
fn an_inode_linked_from_outside_is_copied_for_the_tree_never_changed() {
    let t = shared_with_outside();
    let (out, tree) = (t.path().join("out"), t.path().join("tree"));
    let before: Vec<_> = NAMES.iter().map(|n| seen(&out.join(n))).collect();

    let root = Root::open(&tree).unwrap();
    let walk = root.walk().unwrap();
    let links = |name: &str| {
        let links = walk.links(walk.get(Path::new(name)).unwrap());
        assert_eq!((links.outside(), links.others()), (1, &[Path::new("sub").join(name)][..]));
        links
    };
    let t0 = Timestamp::from_secs(1_700_000_000);
    root.truncate(Path::new("truncated"), &links("truncated")).unwrap();
    root.replace(Path::new("replaced"), b"new\n", &links("replaced")).unwrap();
    root.patch(Path::new("patched"), &[(0, b"C".to_vec())], &links("patched")).unwrap();
    for name in ["timed", "link", "fifo"] {
        root.set_times_linked(Path::new(name), &links(name), t0, t0).unwrap();
    }

    let after: Vec<_> = NAMES.iter().map(|n| seen(&out.join(n))).collect();
    assert_eq!(after, before, "a file outside the tree changed");
    let expected: [&[u8]; 6] = [b"", b"new\n", b"Contents of patched\n", b"contents of timed\n", b"truncated", b""];
    for (name, contents) in NAMES.iter().zip(expected) {
        let (one, two) = (tree.join(name), tree.join("sub").join(name));
        let (m1, m2) = (fs::symlink_metadata(&one).unwrap(), fs::symlink_metadata(&two).unwrap());
        assert_eq!((m1.ino(), m1.nlink()), (m2.ino(), 2), "{name}: the tree's two names are one inode of their own");
        assert_ne!(m1.ino(), fs::symlink_metadata(out.join(name)).unwrap().ino(), "{name}");
        assert_eq!(seen(&one).2, contents, "{name}");
        let times = (m1.mtime(), m1.mtime_nsec());
        if ["timed", "link", "fifo"].contains(name) {
            assert_eq!(times, (1_700_000_000, 0), "{name}");
        } else {
            assert_eq!(times, (1_800_000_000, 500_000_000), "{name}: the copy keeps the times");
        }
    }
    assert!(fs::symlink_metadata(tree.join("fifo")).unwrap().file_type().is_fifo());
    let timed = tree.join("timed");
    assert_eq!(run("getfattr", &["--only-values", "-n", "user.tamis", timed.to_str().unwrap()]), "kept");
    if is_root() {
        assert!(run("getcap", &[timed.to_str().unwrap()]).contains("cap_net_raw=ep"), "capability kept");
    }
}

#[test]
fn an_in_tree_group_is_changed_in_place_as_one_inode() {
    let t = tempfile::tempdir().unwrap();
    fs::create_dir(t.path().join("sub")).unwrap();
    fs::write(t.path().join("a"), b"log\n").unwrap();
    fs::hard_link(t.path().join("a"), t.path().join("sub/b")).unwrap();
    let ino = fs::metadata(t.path().join("a")).unwrap().ino();

    let root = Root::open(t.path()).unwrap();
    let walk = root.walk().unwrap();
    let links = walk.links(walk.get(Path::new("sub/b")).unwrap());
    assert_eq!((links.outside(), links.others()), (0, &[Path::new("a").to_owned()][..]));
    root.truncate(Path::new("sub/b"), &links).unwrap();
    let t0 = Timestamp::from_secs(1_700_000_000);
    root.set_times_linked(Path::new("sub/b"), &links, t0, t0).unwrap();

    for name in ["a", "sub/b"] {
        let meta = fs::metadata(t.path().join(name)).unwrap();
        assert_eq!((meta.ino(), meta.nlink(), meta.len(), meta.mtime()), (ino, 2, 0, 1_700_000_000), "{name}");
    }
}

#[test]
fn names_that_may_not_be_all_the_tree_s_are_refused() {
    let t = tempfile::tempdir().unwrap();
    for dir in ["a", "b"] {
        fs::create_dir(t.path().join(dir)).unwrap();
    }
    fs::write(t.path().join("a/f"), b"log\n").unwrap();
    fs::hard_link(t.path().join("a/f"), t.path().join("b/f")).unwrap();
    let before = seen(&t.path().join("a/f"));
    let root = Root::open(t.path()).unwrap();
    let t0 = Timestamp::from_secs(1_700_000_000);
    let f = Path::new("a/f");

    // A walk of `a` alone sees one name of two: the other may be in the tree; not split.
    let sub = root.walk_under(Path::new("a")).unwrap();
    assert!(!sub.is_whole());
    let partial = sub.links(sub.get(f).unwrap());
    assert_eq!(partial.outside(), 0);
    let refused = |r: tamis_core::Result<()>| assert!(matches!(r, Err(Error::HardlinkGroup { .. })), "{r:?}");
    refused(root.truncate(f, &partial));
    refused(root.replace(f, b"new", &partial));
    refused(root.set_times_linked(f, &partial, t0, t0));
    // No names at all.
    refused(root.set_times(f, t0, t0));
    refused(root.truncate(f, &Links::unknown()));
    refused(root.directory(Path::new("a")).unwrap().set_times("f".as_ref(), t0, t0));
    // Names from a walk that are no longer the inode: `b/f` became another file.
    let whole = root.walk().unwrap();
    let stale = whole.links(whole.get(f).unwrap());
    fs::remove_file(t.path().join("b/f")).unwrap();
    fs::write(t.path().join("b/f"), b"other\n").unwrap();
    fs::hard_link(t.path().join("a/f"), t.path().join("a/g")).unwrap();
    refused(root.truncate(f, &stale));
    refused(root.set_times_linked(f, &stale, t0, t0));

    assert_eq!(seen(&t.path().join("a/f")), before, "nothing changed");
    assert_eq!(fs::read(t.path().join("b/f")).unwrap(), b"other\n");
}
