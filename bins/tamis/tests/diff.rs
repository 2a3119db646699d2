//! `tamis manifest` and `tamis diff` as a build script or a rebuilder uses them: exit codes,
//! groups, explanations, manifest files as inputs.

#![allow(clippy::disallowed_methods, reason = "a test reads whether CI requires every tool")]

mod common;

use common::have;

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use tamis_manifest::Cause;

fn tamis(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tamis")).args(args).output().unwrap()
}

fn code(out: &Output) -> i32 {
    out.status.code().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Two identical small trees with equal mtimes: `a` and `b` under one temporary directory.
fn twin_trees() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for side in ["a", "b"] {
        let root = dir.path().join(side);
        fs::create_dir_all(root.join("etc/ssh")).unwrap();
        fs::create_dir_all(root.join("usr/bin")).unwrap();
        fs::write(root.join("etc/hostname"), b"debian\n").unwrap();
        fs::write(root.join("etc/ssh/ssh_host_ed25519_key"), b"key\n").unwrap();
        fs::write(root.join("usr/bin/tool"), b"\x7fELF tool").unwrap();
        std::os::unix::fs::symlink("../usr/bin/tool", root.join("etc/tool")).unwrap();
        let out = tamis(&["mtime", "--set", "--epoch", "1700000000", "--quiet", p(&root)]);
        assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    }
    dir
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out.stdout)))
}

#[test]
fn identical_trees_exit_0_and_a_difference_exits_1_grouped_and_explained() {
    let dir = twin_trees();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let same = tamis(&["diff", p(&a), p(&b)]);
    assert_eq!(code(&same), 0, "{}{}", text(&same.stdout), text(&same.stderr));
    assert!(text(&same.stdout).contains("are identical (9 entries)"), "{}", text(&same.stdout));

    fs::write(b.join("etc/ssh/ssh_host_ed25519_key"), b"other key\n").unwrap();
    fs::write(b.join("usr/bin/tool"), b"\x7fELF tooL").unwrap();
    fs::write(b.join("etc/new"), b"").unwrap();
    fs::set_permissions(b.join("etc/hostname"), std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let out = tamis(&["diff", "--explain", p(&a), p(&b)]);
    assert_eq!(code(&out), 1, "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(said.contains("differ: 1 only-in-second, 2 content, 1 metadata, 1 mtime-only"), "{said}");
    assert!(said.contains("stage host-keys"), "{said}");
    assert!(said.contains("unknown: first difference at offset 8: 6c | 4c"), "{said}");
    assert!(said.lines().any(|l| l.starts_with("  /etc/hostname ") && l.ends_with(" mode")), "{said}");

    let out = tamis(&["diff", "--json", "-", "--explain", p(&a), p(&b)]);
    assert_eq!(code(&out), 1);
    let v = json(&out);
    assert_eq!(v["counts"]["content"], 2);
    let key = v["differences"].as_array().unwrap().iter().find(|d| d["path"] == "/etc/ssh/ssh_host_ed25519_key");
    assert_eq!(key.unwrap()["stage"], "host-keys");
    assert_eq!(key.unwrap()["cause"], "host-key");
}

#[test]
fn threads_do_not_change_the_manifest_nor_the_diff() {
    let dir = twin_trees();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    for i in 0..50 {
        fs::write(a.join(format!("usr/bin/t{i}")), vec![b'x'; i * 100]).unwrap();
    }
    fs::write(b.join("etc/hostname"), b"other\n").unwrap();
    fs::write(b.join("usr/bin/tool"), b"\x7fELF toolbox").unwrap();
    let runs: Vec<(Vec<u8>, Vec<u8>)> = ["1", "2", "5"]
        .iter()
        .map(|n| {
            let manifest = tamis(&["manifest", "--threads", n, p(&a)]);
            assert_eq!(code(&manifest), 0, "{}", text(&manifest.stderr));
            let diff = tamis(&["diff", "-j", n, "--json", "-", "--explain", p(&a), p(&b)]);
            assert_eq!(code(&diff), 1, "{}", text(&diff.stderr));
            (manifest.stdout, diff.stdout)
        })
        .collect();
    assert!(runs[0].0.len() > 5_000 && runs[0].1.len() > 1_000, "{}", text(&runs[0].1));
    assert!(runs[1] == runs[0] && runs[2] == runs[0], "the bytes depend on --threads");
    let zero = tamis(&["diff", "--threads", "0", p(&a), p(&b)]);
    assert_eq!(code(&zero), 2, "{}", text(&zero.stderr));
}

#[test]
fn a_manifest_file_is_an_input_and_round_trips() {
    let dir = twin_trees();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let security = "security.capability";
    // What `setcap cap_net_raw+ep` writes (revision 2, effective, permitted bit 13), and the
    // same without effective.
    let ep = [1u8, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    let mut p_only = ep;
    p_only[0] = 0;
    for root in [&a, &b] {
        rustix::fs::lsetxattr(root.join("usr/bin/tool"), security, &ep, rustix::fs::XattrFlags::empty()).unwrap();
    }
    let file = dir.path().join("a.jsonl");
    let out = tamis(&["manifest", "-o", p(&file), p(&a)]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    let stdout = tamis(&["manifest", p(&a)]);
    assert_eq!(stdout.stdout, fs::read(&file).unwrap(), "stdout and -o write the same bytes");
    let written = text(&stdout.stdout);
    assert!(written.starts_with("{\"tamis-manifest\":1}\n"), "{written}");
    assert!(written.contains(r#""xattrs":{"security.capability":"01000002002000000000"#), "{written}");

    let same = tamis(&["diff", p(&file), p(&b)]);
    assert_eq!(code(&same), 0, "{}{}", text(&same.stdout), text(&same.stderr));
    // Rewriting a manifest keeps it byte for byte.
    let again = tamis(&["manifest", p(&file)]);
    assert_eq!(again.stdout, stdout.stdout);

    // An xattr changed is a metadata difference; a content one is explained by path only.
    rustix::fs::lsetxattr(b.join("usr/bin/tool"), security, &p_only, rustix::fs::XattrFlags::empty()).unwrap();
    fs::write(b.join("etc/hostname"), b"build-host\n").unwrap();
    let out = tamis(&["diff", "--json", "-", "--explain", p(&file), p(&b)]);
    assert_eq!(code(&out), 1, "{}", text(&out.stderr));
    let v = json(&out);
    let diffs = v["differences"].as_array().unwrap();
    let tool = diffs.iter().find(|d| d["path"] == "/usr/bin/tool").unwrap();
    assert_eq!(tool["group"], "metadata");
    assert_eq!(tool["fields"], serde_json::json!(["xattrs"]));
    let host = diffs.iter().find(|d| d["path"] == "/etc/hostname").unwrap();
    assert_eq!((&host["group"], &host["stage"]), (&"content".into(), &"host-config".into()));
}

#[test]
fn unreadable_or_unknown_inputs_exit_2() {
    let dir = twin_trees();
    let junk = dir.path().join("junk.img");
    fs::write(&junk, b"neither a tree, a manifest nor an image").unwrap();
    let out = tamis(&["diff", p(&junk), p(&dir.path().join("a"))]);
    assert_eq!(code(&out), 2);
    assert!(text(&out.stderr).contains("not a directory, a tamis manifest, nor an image"), "{}", text(&out.stderr));
    // A squashfs magic on a file too short to be an image: the squashfs reader says so.
    fs::write(&junk, b"hsqs but truncated").unwrap();
    let out = tamis(&["diff", p(&junk), p(&dir.path().join("a"))]);
    assert_eq!(code(&out), 2);
    assert!(text(&out.stderr).contains("not a squashfs 4.0 image"), "{}", text(&out.stderr));
    let out = tamis(&["diff", p(&dir.path().join("missing")), p(&dir.path().join("a"))]);
    assert_eq!(code(&out), 2);
    let bad = dir.path().join("bad.jsonl");
    fs::write(&bad, b"{\"tamis-manifest\":1}\n{\"path\":\"/x\"}\n").unwrap();
    let out = tamis(&["diff", p(&bad), p(&bad)]);
    assert_eq!(code(&out), 2);
    assert!(text(&out.stderr).contains("bad.jsonl:2: not a tamis manifest entry"), "{}", text(&out.stderr));
}

#[test]
fn a_manifest_with_an_entry_no_tree_can_have_is_refused_naming_the_line() {
    let dir = twin_trees();
    let good = dir.path().join("a.jsonl");
    let out = tamis(&["manifest", "-o", p(&good), p(&dir.path().join("a"))]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    let lines: Vec<String> = text(&fs::read(&good).unwrap()).lines().map(str::to_owned).collect();
    // Line 3 is /etc (after the header and /): each case replaces it.
    assert!(lines[2].contains(r#""path":"/etc","#), "{lines:?}");
    let cases = [
        ("duplicate", lines[3].clone(), "listed twice (also on line"),
        ("dotdot", lines[2].replace(r#""/etc""#, r#""/usr/../etc""#), "a . or .. name"),
        ("dot", lines[2].replace(r#""/etc""#, r#""/./etc""#), "a . or .. name"),
        ("relative", lines[2].replace(r#""/etc""#, r#""etc""#), "not absolute"),
        ("doubled slash", lines[2].replace(r#""/etc""#, r#""//etc""#), "doubled or trailing slash"),
        ("trailing slash", lines[2].replace(r#""/etc""#, r#""/etc/""#), "doubled or trailing slash"),
        ("nul", lines[2].replace(r#""/etc""#, r#""/et\u0000c""#), "NUL"),
        ("nanoseconds", lines[2].replace(r#""nanos":0"#, r#""nanos":1000000000"#), "nanoseconds"),
        ("mode", lines[2].replace(r#""mode":493"#, r#""mode":65535"#), "mode"),
    ];
    for (what, line, message) in cases {
        assert_ne!(line, lines[2], "{what}: the case changed nothing");
        let mut bad = lines.clone();
        bad[2] = line;
        let file = dir.path().join(format!("{what}.jsonl"));
        fs::write(&file, bad.join("\n") + "\n").unwrap();
        let out = tamis(&["diff", p(&file), p(&good)]);
        let stderr = text(&out.stderr);
        assert_eq!(code(&out), 2, "{what}: {stderr}");
        let line = if what == "duplicate" { 4 } else { 3 };
        assert!(
            stderr.contains(&format!("{}:{line}: ", file.display())) && stderr.contains(message),
            "{what}: {stderr}"
        );
    }
}

/// Names and link targets whose text could be read two ways: a systemd unit name holds a
/// literal `\x2d`, which must neither show like the byte 0x2d nor like another name, nor be
/// looked up as `-` when its bytes are compared.
#[test]
fn names_and_link_targets_that_only_look_alike_are_different() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt as _;
    let dir = twin_trees();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    // The same bytes under a name made of the four characters `\xff` and under the byte 0xff.
    fs::write(a.join("etc/x\\xff"), b"same\n").unwrap();
    fs::write(b.join(OsStr::from_bytes(b"etc/x\xff")), b"same\n").unwrap();
    // Links whose targets differ only in bytes that are not UTF-8.
    std::os::unix::fs::symlink(OsStr::from_bytes(b"t\xfe"), a.join("etc/l")).unwrap();
    std::os::unix::fs::symlink(OsStr::from_bytes(b"t\xff"), b.join("etc/l")).unwrap();
    for side in [&a, &b] {
        let out = tamis(&["mtime", "--set", "--epoch", "1700000000", "--quiet", p(side)]);
        assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    }
    let out = tamis(&["diff", "--json", "-", p(&a), p(&b)]);
    assert_eq!(code(&out), 1, "{}{}", text(&out.stdout), text(&out.stderr));
    let v = json(&out);
    assert_eq!(
        (v["counts"]["only-in-first"].as_u64(), v["counts"]["only-in-second"].as_u64()),
        (Some(1), Some(1)),
        "{v}"
    );
    assert_eq!(v["counts"]["content"], 1, "{v}");

    // A manifest names each entry so that it is found again: compared with the tree it was
    // made from, identical; its link target keeps its bytes.
    let manifest = dir.path().join("a.jsonl");
    let out = tamis(&["manifest", "-o", p(&manifest), p(&a)]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    let out = tamis(&["diff", p(&a), p(&manifest)]);
    assert_eq!(code(&out), 0, "{}{}", text(&out.stdout), text(&out.stderr));
    let out = tamis(&["diff", p(&manifest), p(&b)]);
    assert_eq!(code(&out), 1, "{}{}", text(&out.stdout), text(&out.stderr));

    // A systemd unit whose contents differ: --explain reads the bytes of that very file.
    let unit = "etc/dev-disk-by\\x2dlabel-root.swap";
    fs::write(a.join(unit), b"[Swap]\nWhat=a\n").unwrap();
    fs::write(b.join(unit), b"[Swap]\nWhat=b\n").unwrap();
    fs::write(a.join("etc/dev-disk-by-label-root.swap"), b"decoy\n").unwrap();
    fs::write(b.join("etc/dev-disk-by-label-root.swap"), b"decoy\n").unwrap();
    let out = tamis(&["diff", "--explain", "--json", "-", p(&a), p(&b)]);
    assert_eq!(code(&out), 1, "{}", text(&out.stderr));
    let v = json(&out);
    let unit = v["differences"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["path"].as_str().is_some_and(|s| s.contains("label-root.swap")));
    let unit = unit.unwrap_or_else(|| panic!("{v}")).to_string();
    assert!(unit.contains("first difference at offset 12"), "{unit}");
}

/// Entries without bytes (a device node, a pipe) that differ between two directories: the
/// explanation says they have no bytes, not that an input is a manifest.
#[test]
fn a_device_or_pipe_that_differs_is_explained_as_having_no_bytes() {
    if !rustix::process::geteuid().is_root() {
        tamis_test_support::skip("making a device node needs root");
        return;
    }
    let dir = twin_trees();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    for (side, minor) in [(&a, "3"), (&b, "5")] {
        let made = std::process::Command::new("mknod").arg(side.join("etc/dev")).args(["c", "1", minor]).status();
        assert!(made.unwrap().success());
    }
    let made = std::process::Command::new("mkfifo").arg(a.join("etc/pipe")).status();
    assert!(made.unwrap().success());
    fs::write(b.join("etc/pipe"), b"").unwrap();
    let out = tamis(&["diff", "--explain", "--json", "-", p(&a), p(&b)]);
    assert_eq!(code(&out), 1, "{}", text(&out.stderr));
    let v = json(&out);
    for (path, kind) in [("/etc/dev", "is a character device"), ("/etc/pipe", "is a named pipe")] {
        let d = v["differences"].as_array().unwrap().iter().find(|d| d["path"] == path);
        let detail = d.unwrap_or_else(|| panic!("{path}: {v}"))["detail"].as_str().unwrap().to_owned();
        assert!(!detail.contains("manifest") && detail.contains(kind), "{path}: {detail}");
    }
}

#[test]
fn every_cause_names_a_stage_tamis_has() {
    let out = tamis(&["stages", "--json", "-"]);
    let stages = json(&out);
    let names: Vec<&str> = stages.as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    for cause in Cause::ALL {
        match cause.stage() {
            None => {}
            Some(stage) => assert!(names.contains(&stage), "{cause:?} names {stage}, not in {names:?}"),
        }
    }
}

#[test]
fn the_squashfs_inside_two_isos_is_compared_inside() {
    if !have(&["xorriso"]) {
        return;
    }
    // Two live images: the root filesystem's host name and one mtime differ, nothing else.
    let dir = twin_trees();
    let b = dir.path().join("b");
    fs::write(b.join("etc/hostname"), b"other\n").unwrap();
    let out = tamis(&["mtime", "--set", "--epoch", "1700000000", "--quiet", p(&b)]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    let touched = Command::new("touch").args(["-h", "-d", "@1600000000"]).arg(b.join("etc/tool")).status().unwrap();
    assert!(touched.success());
    for side in ["a", "b"] {
        let live = dir.path().join(format!("{side}-iso/live"));
        fs::create_dir_all(&live).unwrap();
        let image = live.join("filesystem.squashfs");
        let out = tamis(&["squashfs", "--epoch", "1700000000", p(&dir.path().join(side)), p(&image)]);
        assert_eq!(code(&out), 0, "{}", text(&out.stderr));
        let iso = dir.path().join(format!("{side}.iso"));
        let out = Command::new("xorriso")
            .args(["-as", "mkisofs", "-R", "-J", "-V", "LIVE", "-o", p(&iso), p(live.parent().unwrap())])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
    }

    let out = tamis(&["diff", "--json", "-", "--explain", p(&dir.path().join("a.iso")), p(&dir.path().join("b.iso"))]);
    assert_eq!(code(&out), 1, "{}", text(&out.stderr));
    let v = json(&out);
    let image = v["differences"].as_array().unwrap().iter().find(|d| d["path"] == "/live/filesystem.squashfs");
    let inside = &image.expect("the squashfs differs")["inside"];
    let inner: Vec<(&str, &str)> = inside["differences"]
        .as_array()
        .expect("compared inside")
        .iter()
        .map(|d| (d["path"].as_str().unwrap(), d["group"].as_str().unwrap()))
        .collect();
    assert_eq!(inner, [("/etc/hostname", "content"), ("/etc/tool", "mtime-only")]);
    assert_eq!(image.unwrap()["cause"], "nested-image");
    let hostname = &inside["differences"][0];
    assert_eq!(hostname["stage"], "host-config", "explained as in a tree");

    // The summary for people shows the inside, indented under the image.
    let out = tamis(&["diff", "--explain", p(&dir.path().join("a.iso")), p(&dir.path().join("b.iso"))]);
    let said = text(&out.stdout);
    assert!(said.contains(":/live/filesystem.squashfs differ: 1 content, 1 mtime-only"), "{said}");
    assert!(
        said.contains("/live/filesystem.squashfs  image: an image whose insides differ: 1 content, 1 mtime-only"),
        "{said}"
    );
    assert!(said.lines().any(|l| l.starts_with("      /etc/hostname") && l.contains("stage host-config")), "{said}");
}
