//! Byte code written by the real Python `marshal` for the same source while the interpreter
//! held different references: the reference flags differ, the code does not. After the pyc
//! handler the files are identical and Python loads the same code from them.

#![allow(clippy::disallowed_methods, clippy::print_stderr, reason = "a test finds its fixture and says what it skips")]

use std::fs;
use std::path::Path;
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
    assert!(!handler.matches(Path::new("x"), &older[..8]), "an unknown magic alone is no pyc");
    assert!(handler.matches(Path::new("x.pyc"), &older[..8]), "a *.pyc with it is, to be reported");
    assert_eq!(
        handler.normalize(&older, &settings()),
        Err(FormatError::UnknownVersion {
            what: "magic number",
            number: 3439,
            known: "Python 3.11 to 3.14: 3495, 3531, 3571, 3627"
        })
    );
}

/// Turns the streams the host's Python wrote into Python 3.14 ones, by the facts of marshal
/// version 5: the same code-object fields as 3.11 to 3.13, the magic number 3627, and a slice
/// constant (`:` and its start, stop and step, its reference slot taken before them, as a
/// tuple's). The tuple `(1234567, 'slice-stop', None)` that the source holds twice (so that the
/// second is a back-reference) becomes that slice; every other byte is the real marshal's.
/// No Python 3.14 interpreter is installable on the build host (Debian 12), hence this.
const TO_314: &str = r#"
import re, sys
for name in sys.argv[1:]:
    data = open(name, "rb").read()
    # a small tuple of 3, flagged or not, whose first member is the int 1234567
    found = list(re.finditer(rb"[)\xa9]\x03[i\xe9]\x87\xd6\x12\x00", data))
    assert len(found) == 1, (name, len(found))
    at = found[0].start()
    slice_type = b"\xba" if data[at] == 0xa9 else b":"
    assert data.count(b"slice-stop") == 1, "the second one is a back-reference"
    out = (3627).to_bytes(2, "little") + data[2:at] + slice_type + data[at + 2:]
    open(name, "wb").write(out)
"#;

/// The reverse, to load a normalized 3.14 stream with the host's Python: the slice becomes the
/// tuple again and the magic the host's.
const FROM_314: &str = r#"
import importlib.util, re, sys
data = open(sys.argv[1], "rb").read()
found = list(re.finditer(rb"[:\xba][i\xe9]\x87\xd6\x12\x00", data))
assert len(found) == 1
at = found[0].start()
tuple_type = b"\xa9\x03" if data[at] == 0xba else b")\x03"
open(sys.argv[2], "wb").write(importlib.util.MAGIC_NUMBER[:2] + data[2:at] + tuple_type + data[at + 1:])
"#;

const WRITER_SLICE: &str = r#"
import importlib.util, marshal, sys
src = "S = (1234567, 'slice-stop', None)\ndef f(a):\n    return a, (1234567, 'slice-stop', None), 'gamma'\n"
code = compile(src, "probe.py", "exec")
header = importlib.util.MAGIC_NUMBER + bytes(4) + (1700000000).to_bytes(4, "little") + len(src).to_bytes(4, "little")
open(sys.argv[1], "wb").write(header + marshal.dumps(code))
held = list(code.co_consts) + list(code.co_names) + list(code.co_consts[1].co_consts)
open(sys.argv[2], "wb").write(header + marshal.dumps(code))
"#;

const CHECKER_SLICE: &str = r#"
import marshal, sys
src = "S = (1234567, 'slice-stop', None)\ndef f(a):\n    return a, (1234567, 'slice-stop', None), 'gamma'\n"
loaded = marshal.loads(open(sys.argv[1], "rb").read()[16:])
assert loaded == compile(src, "probe.py", "exec"), "different code"
scope = {}
exec(loaded, scope)
assert scope["f"](1) == (1, scope["S"], 'gamma') and scope["f"](1)[1] is scope["S"], "one shared constant"
"#;

#[test]
fn python_3_14_pycs_with_a_slice_constant_become_identical() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.pyc"), dir.path().join("b.pyc"));
    python(&["-c", WRITER_SLICE, a.to_str().unwrap(), b.to_str().unwrap()]);
    python(&["-c", TO_314, a.to_str().unwrap(), b.to_str().unwrap()]);
    let (ba, bb) = (fs::read(&a).unwrap(), fs::read(&b).unwrap());
    assert_eq!(&ba[..4], b"\x2b\x0e\r\n", "Python 3.14's magic number");
    assert_ne!(ba, bb, "marshal flags objects by their reference counts");
    let handler = Format::Pyc.handler();
    assert!(handler.matches(Path::new("anything"), &ba[..8]), "3.14 is recognised by content");

    let na = handler.normalize(&ba, &settings()).unwrap().unwrap_or(ba.clone());
    let nb = handler.normalize(&bb, &settings()).unwrap().unwrap_or(bb.clone());
    assert_eq!(na, nb, "normalized pycs differ");
    assert_eq!(na.len(), ba.len(), "flags cleared in place");
    assert_eq!(handler.normalize(&na, &settings()).unwrap(), None, "idempotent");
    // The references, the one to the slice among them, still point at the right objects: the
    // host's marshal loads the same code from the stream turned back.
    let (n314, host) = (dir.path().join("n314.pyc"), dir.path().join("host.pyc"));
    fs::write(&n314, &na).unwrap();
    python(&["-c", FROM_314, n314.to_str().unwrap(), host.to_str().unwrap()]);
    python(&["-c", CHECKER_SLICE, host.to_str().unwrap()]);
}

/// A pyc of a Python whose marshal format tamis does not know (here the magic number of 3.15's
/// first alpha, 3650) is left as it was and listed in the report as skipped, with its number.
#[test]
fn a_pyc_with_an_unknown_magic_is_reported_with_its_number() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("usr/lib/python3.15/__pycache__");
    fs::create_dir_all(&cache).unwrap();
    let (a, b) = (cache.join("m.cpython-315.pyc"), dir.path().join("b.pyc"));
    python(&["-c", WRITER, a.to_str().unwrap(), b.to_str().unwrap()]);
    fs::remove_file(&b).unwrap();
    let mut bytes = fs::read(&a).unwrap();
    bytes[..2].copy_from_slice(&3650u16.to_le_bytes());
    fs::write(&a, &bytes).unwrap();

    let root = tamis_core::Root::open(dir.path()).unwrap();
    let cx = tamis_core::Context::new(Epoch::from_secs(1_700_000_000).unwrap(), tamis_core::Mode::Apply);
    let options = tamis_formats::FormatsOptions::default().with_policy(tamis_formats::TimePolicy::Set);
    let report = tamis_core::Normalizer::run(&tamis_formats::StripFormats::new(&options), &root, &cx).unwrap();
    assert!(report.changes.is_empty(), "{report:?}");
    assert!(report.problems.is_empty(), "a Python tamis does not know is no fault of the file: {report:?}");
    assert_eq!(report.skipped.len(), 1, "{report:?}");
    let problem = &report.skipped[0];
    assert_eq!(problem.path, Path::new("usr/lib/python3.15/__pycache__/m.cpython-315.pyc"));
    assert!(problem.reason.contains("magic number 3650"), "{}", problem.reason);
    assert_eq!(fs::read(&a).unwrap(), bytes, "left byte for byte as it was");
}

/// Every pyc the real py3compile wrote in the rootfs fixture parses, and normalizing is
/// idempotent on it.
#[test]
fn every_pyc_of_a_real_rootfs_parses() {
    let Some(pair) = tamis_test_support::fixture("rootfs-pair") else { return };
    let root = pair.join("a");
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
