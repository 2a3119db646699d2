//! Two directories compared: the same answer as the comparison of their full manifests, files
//! of different sizes not read, and the same bytes out whatever the number of threads.

use std::fs;
use std::io::Read as _;
use std::os::unix::fs::symlink;
use std::path::Path;

use tamis_core::Root;
use tamis_manifest::{Comparison, Manifest, compare, input};

/// Every entry under `dir` given one mtime: files written a moment apart must not differ by
/// the second they were written in, which a test would see as a difference now and then.
fn same_times(dir: &Path) {
    let status = std::process::Command::new("find")
        .arg(dir)
        .args(["-exec", "touch", "-h", "-d", "@2000000000", "{}", "+"])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Two trees that differ in every way a comparison tells apart, and are equal elsewhere.
fn pair() -> tempfile::TempDir {
    let base = tempfile::tempdir().unwrap();
    for side in ["a", "b"] {
        let dir = base.path().join(side);
        for sub in ["etc", "usr/lib/x", "usr/share/doc/y", "var/log"] {
            fs::create_dir_all(dir.join(sub)).unwrap();
        }
        for i in 0..200 {
            fs::write(dir.join(format!("usr/lib/x/lib{i}.so")), format!("library {i}\n").repeat(i + 1)).unwrap();
        }
        fs::write(dir.join("usr/share/doc/y/README"), b"same\n").unwrap();
        symlink("../lib/x/lib1.so", dir.join("usr/share/doc/y/link")).unwrap();
    }
    let (a, b) = (base.path().join("a"), base.path().join("b"));
    // Same size, other bytes; another size; a file here and a directory there; a file here and
    // a link there; only on one side; another mode; another mtime only.
    fs::write(a.join("etc/hostname"), b"build-a\n").unwrap();
    fs::write(b.join("etc/hostname"), b"build-b\n").unwrap();
    fs::write(a.join("var/log/dpkg.log"), b"short\n").unwrap();
    fs::write(b.join("var/log/dpkg.log"), b"a longer log\n").unwrap();
    fs::write(a.join("etc/kind"), b"file\n").unwrap();
    fs::create_dir(b.join("etc/kind")).unwrap();
    fs::write(a.join("etc/link-or-file"), b"file\n").unwrap();
    symlink("hostname", b.join("etc/link-or-file")).unwrap();
    fs::write(a.join("etc/only-a"), b"a\n").unwrap();
    fs::write(b.join("etc/only-b"), b"b\n").unwrap();
    fs::write(a.join("etc/mode"), b"m\n").unwrap();
    fs::write(b.join("etc/mode"), b"m\n").unwrap();
    fs::set_permissions(b.join("etc/mode"), std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    same_times(base.path());
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
    fs::File::options().write(true).open(a.join("usr/share/doc/y/README")).unwrap().set_modified(t).unwrap();
    base
}

fn comparison_json(a: &Path, b: &Path, explain: bool) -> Vec<u8> {
    let (a, b) = (input::open(a).unwrap(), input::open(b).unwrap());
    serde_json::to_vec_pretty(&Comparison::of(a.as_ref(), b.as_ref(), explain).unwrap()).unwrap()
}

#[test]
fn two_directories_compare_as_their_full_manifests() {
    let base = pair();
    let (a, b) = (base.path().join("a"), base.path().join("b"));
    let full = compare(
        &Manifest::of_tree(&Root::open(&a).unwrap()).unwrap(),
        &Manifest::of_tree(&Root::open(&b).unwrap()).unwrap(),
    );
    let (ia, ib) = (input::open(&a).unwrap(), input::open(&b).unwrap());
    let comparison = Comparison::of(ia.as_ref(), ib.as_ref(), false).unwrap();
    let fields = |d: &tamis_manifest::EntryDifference| (d.path.clone(), d.group, d.fields.clone());
    let from_full: Vec<_> = full
        .into_iter()
        .map(|(path, difference)| {
            let group = difference.group();
            let fields = match difference {
                tamis_manifest::Difference::Fields(f) => f,
                _ => Vec::new(),
            };
            (path, group, fields)
        })
        .collect();
    assert_eq!(comparison.differences.iter().map(fields).collect::<Vec<_>>(), from_full);
    let paths: Vec<&str> = comparison.differences.iter().map(|d| d.path.as_str()).collect();
    for path in ["/etc/hostname", "/var/log/dpkg.log", "/etc/kind", "/etc/link-or-file", "/etc/mode"] {
        assert!(paths.contains(&path), "{path} missing from {paths:?}");
    }
    let size = comparison.differences.iter().find(|d| d.path == "/var/log/dpkg.log").unwrap();
    assert_eq!(size.fields, ["size", "sha256"]);

    // Against a manifest file of b (every file hashed there): the same differences.
    let manifest_b = base.path().join("b.jsonl");
    let mut lines = Vec::new();
    Manifest::of_tree(&Root::open(&b).unwrap()).unwrap().write_json_lines(&mut lines).unwrap();
    fs::write(&manifest_b, lines).unwrap();
    let im = input::open(&manifest_b).unwrap();
    let against_file = Comparison::of(ia.as_ref(), im.as_ref(), false).unwrap();
    assert_eq!(against_file.differences.iter().map(fields).collect::<Vec<_>>(), from_full);
}

/// Bytes this process has read with `read` and friends so far (`/proc/self/io`, `rchar`).
fn bytes_read() -> u64 {
    let mut io = String::new();
    fs::File::open("/proc/self/io").unwrap().read_to_string(&mut io).unwrap();
    io.lines().find_map(|l| l.strip_prefix("rchar: ")).unwrap().trim().parse().unwrap()
}

/// The size of the two files of different sizes: far more than the rest of the test reads.
const BIG: u64 = 64 << 20;

#[test]
fn files_of_different_sizes_are_not_read() {
    let base = tempfile::tempdir().unwrap();
    let (a, b) = (base.path().join("a"), base.path().join("b"));
    for (dir, len) in [(&a, BIG), (&b, BIG + 1)] {
        fs::create_dir(dir).unwrap();
        // Sparse: no disk used, but a reader reads every byte.
        fs::File::create(dir.join("image")).unwrap().set_len(len).unwrap();
        fs::write(dir.join("small"), b"same\n").unwrap();
    }
    same_times(base.path());
    let before = bytes_read();
    let (ia, ib) = (input::open(&a).unwrap(), input::open(&b).unwrap());
    let comparison = Comparison::of(ia.as_ref(), ib.as_ref(), false).unwrap();
    let read = bytes_read() - before;
    assert_eq!(comparison.differences.len(), 1);
    assert_eq!(comparison.differences[0].fields, ["size", "sha256"]);
    // Other tests of this process may read a little meanwhile; nothing near one image.
    assert!(read < BIG / 2, "{read} bytes read to compare two files whose sizes differ");
}

#[test]
fn output_does_not_depend_on_the_thread_count() {
    let base = pair();
    let (a, b) = (base.path().join("a"), base.path().join("b"));
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let mut manifest = Vec::new();
            Manifest::of_tree(&Root::open(&a).unwrap()).unwrap().write_json_lines(&mut manifest).unwrap();
            (manifest, comparison_json(&a, &b, false), comparison_json(&a, &b, true))
        })
    };
    let one = run(1);
    assert!(one.0.len() > 10_000, "a manifest of the whole tree");
    for threads in [2, 3, 8] {
        assert!(run(threads) == one, "{threads} threads give other bytes than 1");
    }
}
