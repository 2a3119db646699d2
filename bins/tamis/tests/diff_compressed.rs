//! `tamis diff --explain` on trees holding compressed files that are not initramfs images
//! (`.gz`, `.xz`, `.zst`, `.bz2` made by the real compressors): each is a plain content
//! difference, a gzip that differs only in its header is explained as such, and a file that
//! cannot be read as the image it is (a truncated initramfs) does not stop the comparison.

#![allow(clippy::disallowed_methods, reason = "a test reads whether CI requires every tool")]

mod common;

use std::fs;

use common::{have, sh, tamis};

#[test]
fn differing_compressed_files_are_plain_content_differences() {
    if !have(&["gzip", "xz", "zstd", "bzip2", "cpio"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (side, text, date) in [("a", "first", "2026-01-01 10:00:00"), ("b", "second", "2026-06-01 12:34:56")] {
        let root = dir.path().join(side);
        fs::create_dir_all(&root).unwrap();
        sh(
            &root,
            &format!(
                "for z in gz xz zst bz2; do seq 1 2000 > c; echo {text} >> c; case $z in \
                   gz) gzip -n -c c > c.gz;; xz) xz -c c > c.xz;; zst) zstd -q -c c > c.zst;; bz2) bzip2 -c c > c.bz2;; \
                 esac; done; rm c
                 # the same text, compressed at two times under two names: only the header differs
                 seq 1 500 > h-{side}; touch -d '{date}' h-{side}; gzip h-{side}; mv h-{side}.gz h.gz
                 # a truncated initramfs on one side: no image to compare inside, the rest goes on
                 seq 1 3000 > m; echo m | cpio --quiet -o -H newc | gzip -n > t.gz; rm m
                 if [ {side} = b ]; then head -c 200 t.gz > t && mv t t.gz; fi
                 touch -d '2026-01-01 00:00:00' *"
            ),
        );
    }
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());

    let listed = tamis(&["diff", a, b]);
    assert_eq!(listed.status.code(), Some(1), "{}", String::from_utf8_lossy(&listed.stderr));

    let out = tamis(&["diff", "--explain", "--json", "-", a, b]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["counts"]["content"], 6, "{v}");
    let find = |path: &str| {
        v["differences"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["path"] == path)
            .cloned()
            .unwrap_or_else(|| panic!("{path}: {v}"))
    };
    for name in ["c.gz", "c.xz", "c.zst", "c.bz2"] {
        let d = find(&format!("/{name}"));
        assert_eq!((&d["group"], &d["cause"]), (&"content".into(), &"unknown".into()), "{d}");
        assert!(d.get("inside").is_none(), "{d}");
        assert!(!d["detail"].as_str().unwrap_or("").contains("not compared inside"), "not an image at all: {d}");
    }
    let header = find("/h.gz");
    assert_eq!(header["cause"], "gzip-header", "{header}");
    assert_eq!(header["stage"], "formats", "{header}");
    let truncated = find("/t.gz");
    assert_eq!(truncated["cause"], "unknown", "{truncated}");
    assert!(truncated["detail"].as_str().unwrap().contains("not compared inside"), "{truncated}");

    let text = tamis(&["diff", "--explain", a, b]);
    assert_eq!(text.status.code(), Some(1), "{}", String::from_utf8_lossy(&text.stderr));
    assert!(String::from_utf8_lossy(&text.stdout).contains("6 content"), "{}", String::from_utf8_lossy(&text.stdout));
}
