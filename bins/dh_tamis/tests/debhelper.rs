//! `dh_tamis` inside a real package build: a source package (debhelper compat 13) whose build
//! makes a gzip file, a jar and a zip, built twice by `dpkg-buildpackage` under different
//! clocks (faketime, days apart), umasks and host names (unshare --uts), with
//! `dh_strip_nondeterminism` overridden to do nothing. With `Build-Depends: dh-sequence-tamis`
//! (the add-on of this worktree, found through `PERL5LIB`, `dh_tamis` through `PATH`) the two
//! `.deb` files are byte-identical; without it they differ. Also its options (`-p`, `-N`, `-a`,
//! `-i`, `-X`, `-O`, `DH_OPTIONS`, `DH_INTERNAL_OPTIONS`, `DH_NO_ACT`). Needs root (unshare),
//! debhelper, faketime, zip and a JDK; says "skipped" without them.

#![allow(clippy::disallowed_methods, clippy::print_stderr, reason = "a test finds its tools and says what it skipped")]

use std::path::{Path, PathBuf};
use std::process::Command;

fn have(tool: &str) -> bool {
    Command::new("sh").arg("-c").arg(format!("command -v {tool}")).output().is_ok_and(|o| o.status.success())
}

fn skip_reason() -> Option<String> {
    let missing: Vec<_> =
        ["dpkg-buildpackage", "dh", "faketime", "zip", "jar", "unshare"].into_iter().filter(|t| !have(t)).collect();
    if !missing.is_empty() {
        return Some(format!("missing {missing:?}"));
    }
    if !rustix::process::geteuid().is_root() {
        return Some("not root (unshare --uts)".into());
    }
    None
}

const RULES: &str = r"#!/usr/bin/make -f
%:
	dh $@

# Made at build time: their bytes hold the build's clock, umask and user.
override_dh_auto_build:
	mkdir -p build/classes
	printf 'hello\n' > build/hello.txt
	gzip -c build/hello.txt > build/hello.txt.gz
	printf 'class Hello {}\n' > build/classes/Hello.txt
	jar cf build/hello.jar -C build/classes Hello.txt
	cd build && zip -q hello.zip hello.txt classes/Hello.txt

override_dh_auto_install:
	install -d debian/hello-tamis/usr/share/hello-tamis
	cp build/hello.txt.gz build/hello.jar build/hello.zip debian/hello-tamis/usr/share/hello-tamis/

override_dh_auto_clean:
	rm -rf build

override_dh_strip_nondeterminism:
";

fn write_source(dir: &Path, with_tamis: bool) {
    let debian = dir.join("debian");
    std::fs::create_dir_all(&debian).unwrap();
    let extra = if with_tamis { ", dh-sequence-tamis" } else { "" };
    std::fs::write(
        debian.join("control"),
        format!(
            "Source: hello-tamis\nSection: misc\nPriority: optional\nMaintainer: Tamis Test <test@example.org>\n\
             Build-Depends: debhelper-compat (= 13){extra}\nStandards-Version: 4.6.2\nRules-Requires-Root: no\n\n\
             Package: hello-tamis\nArchitecture: all\nDepends: ${{misc:Depends}}\nDescription: files made at build time\n \
             A gzip file, a jar and a zip.\n"
        ),
    )
    .unwrap();
    std::fs::write(
        debian.join("changelog"),
        "hello-tamis (1.0) unstable; urgency=medium\n\n  * Test.\n\n -- Tamis Test <test@example.org>  Mon, 01 Jan 2024 00:00:00 +0000\n",
    )
    .unwrap();
    std::fs::write(debian.join("rules"), RULES).unwrap();
    std::process::Command::new("chmod").arg("+x").arg(debian.join("rules")).status().unwrap();
    std::fs::create_dir_all(debian.join("source")).unwrap();
    std::fs::write(debian.join("source/format"), "3.0 (native)\n").unwrap();
}

/// Builds the package in `work/hello-tamis` under the given clock, umask and host name and
/// returns the bytes of its `.deb`.
fn build(work: &Path, with_tamis: bool, clock: &str, umask: &str, host: &str) -> Vec<u8> {
    let src = work.join("hello-tamis");
    let _ = std::fs::remove_dir_all(work);
    write_source(&src, with_tamis);
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_dh_tamis")).parent().unwrap().to_owned();
    let addon = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../packaging/debhelper");
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let script = format!(
        "hostname {host} && umask {umask} && cd {} && {} dpkg-buildpackage -us -uc -b -d",
        src.display(),
        tamis_test_support::faketime_prefix(clock)
    );
    let out = Command::new("unshare")
        .args(["--uts", "sh", "-c", &script])
        .env("PATH", path)
        .env("PERL5LIB", addon)
        .env("DH_VERBOSE", "1")
        .env_remove("SOURCE_DATE_EPOCH")
        .output()
        .unwrap();
    let log = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "dpkg-buildpackage failed:\n{log}");
    assert_eq!(log.contains("dh_tamis"), with_tamis, "dh_tamis ran only with the add-on:\n{log}");
    std::fs::read(work.join("hello-tamis_1.0_all.deb")).unwrap()
}

fn contents(deb: &[u8], dir: &Path) -> PathBuf {
    let file = dir.join("x.deb");
    std::fs::write(&file, deb).unwrap();
    let out = dir.join("x");
    assert!(Command::new("dpkg-deb").arg("-x").arg(&file).arg(&out).status().unwrap().success());
    out
}

#[test]
fn two_builds_are_identical_with_the_addon_only() {
    if let Some(why) = skip_reason() {
        eprintln!("skipped: {why}");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    let a = build(&work, true, "+3d", "022", "builder-a");
    let b = build(&work, true, "+10d", "002", "builder-b");
    assert!(a == b, "with dh-sequence-tamis the two .deb files differ");
    // What is shipped still parses with the real tools.
    let tree = contents(&a, tmp.path());
    let share = tree.join("usr/share/hello-tamis");
    assert!(Command::new("gzip").arg("-t").arg(share.join("hello.txt.gz")).status().unwrap().success());
    assert!(Command::new("unzip").arg("-tq").arg(share.join("hello.zip")).status().unwrap().success());
    let listed = Command::new("jar").arg("tf").arg(share.join("hello.jar")).output().unwrap();
    assert!(String::from_utf8_lossy(&listed.stdout).contains("Hello.txt"));

    let c = build(&work, false, "+3d", "022", "builder-a");
    let d = build(&work, false, "+10d", "002", "builder-b");
    assert!(c != d, "without the add-on the builds should differ (the test would prove nothing)");
}

/// A source tree with an arch-dependent package `one` and an arch-independent `two`, each with
/// a staged gzip file holding a name and a time, and `keep.gz` in `two`.
fn staged_tree(dir: &Path) {
    let debian = dir.join("debian");
    std::fs::create_dir_all(&debian).unwrap();
    std::fs::write(
        debian.join("control"),
        "Source: sel\nMaintainer: T <t@example.org>\nBuild-Depends: debhelper-compat (= 13)\n\n\
         Package: one\nArchitecture: any\nDescription: one\n one\n\nPackage: two\nArchitecture: all\nDescription: two\n two\n",
    )
    .unwrap();
    std::fs::write(
        debian.join("changelog"),
        "sel (1.0) unstable; urgency=medium\n\n  * T.\n\n -- T <t@example.org>  Mon, 01 Jan 2024 00:00:00 +0000\n",
    )
    .unwrap();
    for (package, name) in [("one", "a.gz"), ("two", "b.gz"), ("two", "keep.gz")] {
        let d = debian.join(package).join("usr/share");
        std::fs::create_dir_all(&d).unwrap();
        let plain = d.join(name.trim_end_matches(".gz"));
        std::fs::write(&plain, "data\n").unwrap();
        // gzip records the name and the file's mtime (here 2030, after the changelog's date).
        assert!(Command::new("touch").args(["-d", "2030-01-01"]).arg(&plain).status().unwrap().success());
        assert!(Command::new("gzip").arg(&plain).status().unwrap().success());
    }
}

fn gzip_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    ["one/usr/share/a.gz", "two/usr/share/b.gz", "two/usr/share/keep.gz"]
        .iter()
        .map(|p| ((*p).to_owned(), std::fs::read(dir.join("debian").join(p)).unwrap()))
        .collect()
}

/// Runs `dh_tamis` with `args` and `env` in a fresh staged tree; returns which gzip files changed.
fn changed_by(args: &[&str], env: &[(&str, &str)]) -> Vec<String> {
    let tmp = tempfile::tempdir().unwrap();
    staged_tree(tmp.path());
    let before = gzip_files(tmp.path());
    let out = Command::new(env!("CARGO_BIN_EXE_dh_tamis"))
        .args(args)
        .env_remove("DH_VERBOSE")
        .env_remove("DH_NO_ACT")
        .env_remove("DH_OPTIONS")
        .env_remove("DH_INTERNAL_OPTIONS")
        .envs(env.iter().copied())
        .env("SOURCE_DATE_EPOCH", "1704067200")
        .current_dir(tmp.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let after = gzip_files(tmp.path());
    let changed: Vec<String> =
        before.iter().zip(&after).filter(|(b, a)| b.1 != a.1).map(|(b, _)| b.0.clone()).collect();
    for (name, bytes) in after {
        let path = tmp.path().join("debian").join(&name);
        assert!(Command::new("gzip").arg("-t").arg(&path).status().unwrap().success(), "{name}: {bytes:?}");
    }
    changed
}

#[test]
fn package_selection_exclusions_and_no_act() {
    if !have("dh_listpackages") {
        eprintln!("skipped: no debhelper");
        return;
    }
    let all = ["one/usr/share/a.gz", "two/usr/share/b.gz", "two/usr/share/keep.gz"];
    assert_eq!(changed_by(&[], &[]), all);
    assert_eq!(changed_by(&["-pone"], &[]), ["one/usr/share/a.gz"]);
    assert_eq!(changed_by(&["--package=two"], &[]), all[1..]);
    assert_eq!(changed_by(&["-Ntwo"], &[]), ["one/usr/share/a.gz"]);
    assert_eq!(changed_by(&["-a"], &[]), ["one/usr/share/a.gz"]);
    assert_eq!(changed_by(&["-i"], &[]), all[1..]);
    assert_eq!(changed_by(&["-Xkeep"], &[]), all[..2]);
    // dh passes its own options with -O; DH_OPTIONS and DH_INTERNAL_OPTIONS are debhelper's.
    assert_eq!(changed_by(&["-O-Xkeep", "-O--buildsystem=none"], &[]), all[..2]);
    assert_eq!(changed_by(&[], &[("DH_OPTIONS", "-Xkeep")]), all[..2]);
    assert_eq!(changed_by(&[], &[("DH_INTERNAL_OPTIONS", "-Ntwo")]), ["one/usr/share/a.gz"]);
    assert!(changed_by(&["--no-act"], &[]).is_empty());
    assert!(changed_by(&[], &[("DH_NO_ACT", "1")]).is_empty());
    assert_eq!(changed_by(&[], &[("DH_NO_ACT", "0")]), all);
}
