//! Byte code written by the real Python `marshal` for the same source while the interpreter
//! held different references: the reference flags differ, the code does not. After the pyc
//! handler the files are identical and Python loads the same code from them.

#![allow(clippy::disallowed_methods, clippy::print_stderr, reason = "a test finds its fixture and says what it skips")]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use tamis_core::Epoch;
use tamis_formats::{Format, FormatError, Settings};

const WRITER: &str = r#"
import importlib.util, marshal, sys
src = "X = ('alpha', 'beta', 12345678901234567890, 1.5, 2j)\ndef f(a, b=3):\n    return [a, b, 'gamma', (1, 2), {'k': frozenset({4})}]\n"
code = compile(src, "probe.py", "exec")
header = importlib.util.MAGIC_NUMBER + bytes(4) + (1700000000).to_bytes(4, "little") + len(src).to_bytes(4, "little")
open(sys.argv[1], "wb").write(header + marshal.dumps(code))
held = list(code.co_consts) + list(code.co_names)  # more references to the constants and names
open(sys.argv[2], "wb").write(header + marshal.dumps(code))
"#;

const CHECKER: &str = r#"
import marshal, sys
src = "X = ('alpha', 'beta', 12345678901234567890, 1.5, 2j)\ndef f(a, b=3):\n    return [a, b, 'gamma', (1, 2), {'k': frozenset({4})}]\n"
loaded = marshal.loads(open(sys.argv[1], "rb").read()[16:])
assert loaded == compile(src, "probe.py", "exec"), "different code"
scope = {}
exec(loaded, scope)
assert scope["f"](1) == [1, 3, 'gamma', (1, 2), {'k': frozenset({4})}]
"#;

fn python(args: &[&str]) {
    let out = Command::new("python3").args(args).env_remove("SOURCE_DATE_EPOCH").output().unwrap();
    assert!(out.status.success(), "python3: {}", String::from_utf8_lossy(&out.stderr));
}

fn settings() -> Settings {
    Settings::new(Epoch::from_secs(1_700_000_000).unwrap())
}

#[test]
fn pycs_differing_in_reference_flags_become_identical_and_load_the_same_code() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.pyc"), dir.path().join("b.pyc"));
    python(&["-c", WRITER, a.to_str().unwrap(), b.to_str().unwrap()]);
    let (ba, bb) = (fs::read(&a).unwrap(), fs::read(&b).unwrap());
    assert_ne!(ba, bb, "marshal flags objects by their reference counts");
    let handler = Format::Pyc.handler();
    assert!(handler.matches(Path::new("anything"), &ba[..8]));

    let na = handler.normalize(&ba, &settings()).unwrap().unwrap_or(ba.clone());
    let nb = handler.normalize(&bb, &settings()).unwrap().unwrap_or(bb.clone());
    assert_eq!(na, nb, "normalized pycs differ");
    assert_eq!(na.len(), ba.len(), "flags cleared in place");
    assert_eq!(handler.normalize(&na, &settings()).unwrap(), None, "idempotent");
    let out = dir.path().join("n.pyc");
    fs::write(&out, &na).unwrap();
    python(&["-c", CHECKER, out.to_str().unwrap()]);
}

#[test]
fn truncated_or_foreign_streams_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.pyc"), dir.path().join("b.pyc"));
    python(&["-c", WRITER, a.to_str().unwrap(), b.to_str().unwrap()]);
    let bytes = fs::read(&a).unwrap();
    let handler = Format::Pyc.handler();
    for cut in [8, 16, 17, bytes.len() / 2, bytes.len() - 1] {
        assert!(handler.normalize(&bytes[..cut], &settings()).is_err(), "cut at {cut}");
    }
    let mut unknown = bytes.clone();
    unknown[16] = b'@';
    assert!(matches!(handler.normalize(&unknown, &settings()), Err(FormatError::Malformed { .. })));
    let mut older = bytes;
    older[..2].copy_from_slice(&3439u16.to_le_bytes()); // Python 3.10
    assert!(!handler.matches(Path::new("x.pyc"), &older[..8]));
}

/// Every pyc the real py3compile wrote in the rootfs fixture parses, and normalizing is
/// idempotent on it.
#[test]
fn every_pyc_of_a_real_rootfs_parses() {
    let base = std::env::var_os("TAMIS_FIXTURE_DIR")
        .map_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/fixtures"), PathBuf::from);
    let root = base.join("rootfs-pair/a");
    if !root.join("usr").exists() {
        assert!(
            std::env::var_os("TAMIS_REQUIRE_FIXTURES").is_none_or(|v| v != "1"),
            "no fixture at {}",
            root.display()
        );
        eprintln!("skipped: no fixture");
        return;
    }
    let tree = tamis_core::Root::open(&root).unwrap().walk().unwrap();
    let handler = Format::Pyc.handler();
    let mut seen = 0;
    for entry in tree.entries().iter().filter(|e| e.path.extension() == Some("pyc".as_ref())) {
        let bytes = fs::read(root.join(&entry.path)).unwrap();
        assert!(handler.matches(&entry.path, &bytes[..8]), "{}", entry.path.display());
        let once = handler.normalize(&bytes, &settings()).unwrap_or_else(|e| panic!("{}: {e}", entry.path.display()));
        let once = once.unwrap_or(bytes);
        assert_eq!(handler.normalize(&once, &settings()).unwrap(), None, "{}", entry.path.display());
        seen += 1;
    }
    assert!(seen > 500, "only {seen} pycs");
}
