//! `tamis diff --explain` names the `formats` handler that removes a difference inside an `ar`
//! archive, a PNG image, a gettext catalog, a javadoc page and a U-Boot image: each made twice by
//! the real tool (`ar`, Python's zlib, `msgfmt`, `javadoc`, `mkimage`) at two different times, as
//! two builds would. The explanation comes from the handler itself, which normalizes both sides
//! in memory; before, these differences were `unknown`.

#![allow(clippy::disallowed_methods, reason = "a test reads whether CI requires every tool")]

mod common;

use std::fs;

use common::{faketime_prefix, have, sh, tamis};

/// A PNG with a `tIME` chunk and a `date:create` text of the given year and month.
const PNG_WRITER: &str = r"
import struct, sys, zlib
def chunk(kind, data):
    return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))
year, month = int(sys.argv[2]), int(sys.argv[3])
png = b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', 2, 2, 8, 2, 0, 0, 0))
png += chunk(b'tIME', struct.pack('>HBBBBB', year, month, 1, 12, 0, 0))
png += chunk(b'tEXt', b'date:create\x00%d-%02d-01T12:00:00+00:00' % (year, month))
png += chunk(b'IDAT', zlib.compress(b'\x00' + b'\xff\x00\x00' * 2 + b'\x00' + b'\x00\xff\x00' * 2))
png += chunk(b'IEND', b'')
open(sys.argv[1], 'wb').write(png)
";

#[test]
fn differences_inside_ar_png_gettext_javadoc_and_uboot_files_name_their_handler() {
    if !have(&["ar", "python3", "msgfmt", "javadoc", "mkimage", "faketime"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("png.py"), PNG_WRITER).unwrap();
    for (side, date, month) in [("a", "2026-01-01 10:00", 1), ("b", "2026-06-01 12:34", 6)] {
        let clock = faketime_prefix(&format!("{date}:00"));
        let root = dir.path().join(side);
        fs::create_dir_all(root.join("src/p")).unwrap();
        fs::write(root.join("src/p/A.java"), "package p;\n/** A class. */\npublic class A {}\n").unwrap();
        sh(
            &root,
            &format!(
                "printf 'one\\n' > x.txt; printf 'two\\n' > y.txt; touch -d '{date}' x.txt y.txt
                 # U: real member times, as ar without deterministic mode writes them
                 ar rcsU lib.a x.txt y.txt 2>/dev/null; rm x.txt y.txt
                 python3 ../png.py icon.png 2026 {month}
                 mkdir -p fr/LC_MESSAGES
                 printf 'msgid \"\"\\nmsgstr \"\"\\n\"PO-Revision-Date: {date}+0100\\\\n\"\\n\"Content-Type: text/plain; charset=UTF-8\\\\n\"\\n\\nmsgid \"Hello\"\\nmsgstr \"Bonjour\"\\n' > t.po
                 msgfmt -o fr/LC_MESSAGES/t.mo t.po; rm t.po
                 {clock} javadoc -quiet -d api -sourcepath src p >/dev/null 2>&1; rm -r src
                 printf 'echo boot\\n' > s.txt
                 {clock} mkimage -A arm -O linux -T script -C none -n boot -d s.txt boot.scr >/dev/null; rm s.txt
                 find . -exec touch -h -d '2026-01-01 00:00:00' {{}} +"
            ),
        );
    }
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    let out = tamis(&["diff", "--explain", "--json", "-", a, b]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let differences = v["differences"].as_array().unwrap();
    let find = |path: &str| {
        differences.iter().find(|d| d["path"] == path).cloned().unwrap_or_else(|| panic!("{path} not in {v}"))
    };
    for (path, handler) in [
        ("/lib.a", "ar"),
        ("/icon.png", "png"),
        ("/fr/LC_MESSAGES/t.mo", "gettext"),
        ("/api/p/A.html", "javadoc"),
        ("/boot.scr", "uimage"),
    ] {
        let d = find(path);
        assert_eq!(
            (&d["group"], &d["stage"], &d["handler"]),
            (&"content".into(), &"formats".into(), &handler.into()),
            "{d}"
        );
        assert_eq!(d["cause"], "embedded-metadata", "{d}");
        assert!(d["detail"].as_str().unwrap().contains(&format!("the {handler} handler")), "{d}");
    }
    // Every content difference of the two builds is one a stage removes.
    for d in differences.iter().filter(|d| d["group"] == "content") {
        assert_ne!(d["cause"], "unknown", "{d}");
    }

    let text = tamis(&["diff", "--explain", a, b]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.lines().any(|l| l.contains("/boot.scr") && l.contains("stage formats") && l.contains("uimage")),
        "{text}"
    );
}
