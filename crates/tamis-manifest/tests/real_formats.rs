//! Causes recognised in bytes written by the real producers: gzip (header mtime and name),
//! Python's `py_compile` (pyc header mtime), Info-ZIP's `zip` (entry times, DOS and `UT`).
//! Each pair is made twice from the same contents with different times, as two builds would.

use std::fs;
use std::path::Path;
use std::process::Command;

use tamis_manifest::Cause;
use tamis_manifest::explain::explain_content;

fn run(dir: &Path, program: &str, args: &[&str]) {
    let out = Command::new(program).args(args).current_dir(dir).env("TZ", "UTC").output().unwrap();
    assert!(out.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// `dir/name` with `contents` and mtime `secs`.
fn file(dir: &Path, name: &str, contents: &[u8], secs: u64) {
    let path = dir.join(name);
    fs::write(&path, contents).unwrap();
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
    fs::File::options().write(true).open(&path).unwrap().set_modified(t).unwrap();
}

/// Makes `out` twice, in directories `a` and `b`, with `make(dir, secs)`; returns both bytes.
fn twice(make: impl Fn(&Path, u64), out: &str) -> (Vec<u8>, Vec<u8>) {
    let base = tempfile::tempdir().unwrap();
    let mut bytes = Vec::new();
    for (side, secs) in [("a", 1_700_000_000), ("b", 1_700_259_200)] {
        let dir = base.path().join(side);
        fs::create_dir(&dir).unwrap();
        make(&dir, secs);
        bytes.push(fs::read(dir.join(out)).unwrap());
    }
    let b = bytes.pop().unwrap();
    (bytes.pop().unwrap(), b)
}

#[test]
fn gzip_keeps_mtime_and_name_in_its_header() {
    let (a, b) = twice(
        |dir, secs| {
            // As mkinitramfs leaks its temporary name: a different name on each side.
            let name = format!("tmp-{secs}");
            file(dir, &name, &b"the same contents\n".repeat(100), secs);
            run(dir, "gzip", &[&name]);
            fs::rename(dir.join(format!("{name}.gz")), dir.join("out.gz")).unwrap();
        },
        "out.gz",
    );
    assert_ne!(a, b);
    let e = explain_content("/usr/share/doc/tamis/changelog.gz", Some(&a), Some(&b));
    assert_eq!((e.cause, e.stage), (Cause::GzipHeader, Some("formats")), "{}", e.detail);
    assert!(e.detail.contains("mtime 1700000000 and 1700259200"), "{}", e.detail);
    assert!(e.detail.contains("\"tmp-1700000000\" and \"tmp-1700259200\""), "{}", e.detail);
}

#[test]
fn pyc_records_its_source_mtime() {
    let (a, b) = twice(
        |dir, secs| {
            file(dir, "m.py", b"X = 1\n", secs);
            run(dir, "python3", &["-c", "import py_compile; py_compile.compile('m.py', cfile='m.pyc')"]);
        },
        "m.pyc",
    );
    let e = explain_content("/usr/lib/python3/dist-packages/__pycache__/m.cpython-311.pyc", Some(&a), Some(&b));
    assert_eq!((e.cause, e.stage), (Cause::PycMtime, Some("pyc")), "{}", e.detail);
    assert_eq!(e.detail, "source mtime 1700000000 and 1700259200 in the header");
}

#[test]
fn zip_records_entry_times() {
    let (a, b) = twice(
        |dir, secs| {
            file(dir, "Main.class", b"\xca\xfe\xba\xbe class", secs);
            file(dir, "README", b"same text\n", secs);
            run(dir, "zip", &["-q", "app.jar", "Main.class", "README"]);
        },
        "app.jar",
    );
    assert_ne!(a, b);
    let e = explain_content("/usr/share/java/app.jar", Some(&a), Some(&b));
    assert_eq!((e.cause, e.stage), (Cause::ZipEntryTimes, Some("formats")), "{}", e.detail);
}
