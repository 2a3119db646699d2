//! What a killed run leaves, made by hand in the exact states SIGKILL can leave, and cleared by
//! `StaleTemporaries`: a lone copy is removed, a hard-link group cut in two (with a temporary
//! link not yet renamed) is made one inode again with the new contents, and `--check` changes
//! nothing but reports all of it.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use tamis_core::{Action, Context, Epoch, Mode, Normalizer, Root, StaleTemporaries};

fn inodes(root: &Path, names: &[&str]) -> BTreeSet<u64> {
    names.iter().map(|n| fs::symlink_metadata(root.join(n)).unwrap().ino()).collect()
}

fn temporaries(root: &Path) -> Vec<String> {
    let tree = Root::open(root).unwrap().walk().unwrap();
    tree.entries()
        .iter()
        .filter(|e| e.path.file_name().is_some_and(tamis_core::is_temporary))
        .map(|e| e.path.display().to_string())
        .collect()
}

/// A group of five names whose re-pointing stopped after two, with a temporary link made for
/// the third but not yet renamed (the process ids are of no running process).
fn split_group(root: &Path) -> (Vec<&'static str>, Vec<u8>) {
    let names = vec!["d/a", "links/1", "links/2", "links/3", "links/4"];
    fs::create_dir_all(root.join("d")).unwrap();
    fs::create_dir_all(root.join("links")).unwrap();
    fs::write(root.join("d/a"), b"old contents").unwrap();
    for name in &names[1..] {
        fs::hard_link(root.join("d/a"), root.join(name)).unwrap();
    }
    let old = fs::metadata(root.join("d/a")).unwrap().ino();
    let new = b"new contents".to_vec();
    let temp = format!("d/.tamis-999999999-0-i{old}.tmp");
    fs::write(root.join(&temp), &new).unwrap();
    for (i, name) in ["links/1", "links/2"].iter().enumerate() {
        let link = root.join(format!("links/.tamis-999999999-{}-i{old}.tmp", i + 1));
        fs::hard_link(root.join(&temp), &link).unwrap();
        fs::rename(&link, root.join(name)).unwrap();
    }
    fs::hard_link(root.join(&temp), root.join(format!("links/.tamis-999999999-3-i{old}.tmp"))).unwrap();
    (names, new)
}

#[test]
fn a_split_group_is_reported_by_check_and_made_whole_by_a_run() {
    let dir = tempfile::tempdir().unwrap();
    let (names, new) = split_group(dir.path());
    assert_eq!(inodes(dir.path(), &names).len(), 2);
    let root = Root::open(dir.path()).unwrap();
    let epoch = Epoch::parse("1700000000").unwrap();

    let check = StaleTemporaries.run(&root, &Context::new(epoch, Mode::Check)).unwrap();
    assert!(check.problems.is_empty(), "{:?}", check.problems);
    let removed: Vec<_> = check.changes.iter().filter(|c| c.action == Action::Remove).collect();
    let relinked: Vec<_> = check.changes.iter().filter(|c| c.action == Action::Rewrite).collect();
    assert_eq!((removed.len(), relinked.len()), (2, 3), "{:?}", check.changes);
    assert_eq!(inodes(dir.path(), &names).len(), 2, "--check changed the tree");
    assert_eq!(temporaries(dir.path()).len(), 2);

    let run = StaleTemporaries.run(&root, &Context::new(epoch, Mode::Apply)).unwrap();
    assert!(run.problems.is_empty(), "{:?}", run.problems);
    assert_eq!(run.changes, check.changes);
    assert_eq!(inodes(dir.path(), &names).len(), 1, "the group is still split");
    assert_eq!(fs::metadata(dir.path().join("d/a")).unwrap().nlink(), 5);
    for name in &names {
        assert_eq!(fs::read(dir.path().join(name)).unwrap(), new, "{name}");
    }
    assert_eq!(temporaries(dir.path()), Vec::<String>::new());
    // Nothing left to do.
    assert!(StaleTemporaries.run(&root, &Context::new(epoch, Mode::Apply)).unwrap().is_clean());
}

#[test]
fn a_lone_copy_is_removed_and_the_original_kept() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("f"), b"original").unwrap();
    let ino = fs::metadata(dir.path().join("f")).unwrap().ino();
    fs::write(dir.path().join(format!(".tamis-999999999-0-i{ino}.tmp")), b"half a co").unwrap();
    fs::write(dir.path().join(".tamis-999999999-7.tmp"), b"").unwrap();
    let root = Root::open(dir.path()).unwrap();
    let epoch = Epoch::parse("1700000000").unwrap();
    let report = StaleTemporaries.run(&root, &Context::new(epoch, Mode::Apply)).unwrap();
    assert_eq!(report.changes.len(), 2, "{:?}", report.changes);
    assert_eq!(temporaries(dir.path()), Vec::<String>::new());
    assert_eq!(fs::read(dir.path().join("f")).unwrap(), b"original");
}

#[test]
fn one_directory_is_cleared_without_its_subdirectories() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("sub")).unwrap();
    fs::write(dir.path().join(".tamis-999999999-0.tmp"), b"").unwrap();
    fs::write(dir.path().join("sub/.tamis-999999999-1.tmp"), b"").unwrap();
    let root = Root::open(dir.path()).unwrap();
    let cx = Context::new(Epoch::parse("1700000000").unwrap(), Mode::Apply);
    let report = StaleTemporaries.run_in(&root, Path::new(""), &cx).unwrap();
    assert_eq!(report.changes.len(), 1, "{:?}", report.changes);
    assert_eq!(temporaries(dir.path()), vec!["sub/.tamis-999999999-1.tmp".to_owned()]);
}
