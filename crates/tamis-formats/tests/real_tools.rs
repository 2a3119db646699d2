//! Real inputs made by the real tools (gzip, zip, jar, ar, dpkg-deb, Python's zlib for PNG) in
//! two builds that differ the way builds do — other times, other temporary names, other order,
//! other owner and umask — are identical after the formats stage, still accepted by their
//! consumers (gzip -t, unzip -t, jar tf, ar p, dpkg-deb -I, pngcheck), left alone by a second
//! run and by `strip-nondeterminism -T EPOCH`.
//!
//! The tools come from `scripts/test.sh`. A test whose tool is missing says "skipped" and
//! passes, unless `TAMIS_REQUIRE_FIXTURES=1` (set by `scripts/test.sh`, hence by CI).

#![allow(clippy::disallowed_methods, clippy::print_stderr, reason = "a test finds its tools and says what it skipped")]

use std::fs;
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;
use std::process::Command;

use tamis_core::{Context, Epoch, Mode, Normalizer, Report, Root};
use tamis_formats::{FormatsOptions, StripFormats, TimePolicy};
use tamis_test_support::{faketime_prefix, have, sh};

const EPOCH: i64 = 1_700_000_000;

fn run(dir: &Path, mode: Mode, options: &FormatsOptions) -> Report {
    let cx = Context::new(Epoch::from_secs(EPOCH).unwrap(), mode);
    StripFormats::new(options).run(&Root::open(dir).unwrap(), &cx).unwrap()
}

fn strip(dir: &Path) -> Report {
    run(dir, Mode::Apply, &FormatsOptions::default())
}

/// Two build directories, `a` and `b`, each with `src/` holding the same files.
fn two_builds() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    for build in ["a", "b"] {
        let dir = tmp.path().join(build).join("src");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("x.txt"), "the quick brown fox\n".repeat(200)).unwrap();
        fs::write(dir.join("y.sh"), "#!/bin/sh\necho y\n").unwrap();
        fs::write(dir.join("z.txt"), b"zzz\n").unwrap();
    }
    tmp
}

/// The build `b` differs from `a`: its files are 5 months newer, its umask looser, its owner
/// another user.
fn vary(tmp: &Path) {
    sh(tmp, "touch -d 2026-01-01T10:00:00Z a/src/* && chmod 644 a/src/*.txt && chmod 755 a/src/y.sh");
    sh(tmp, "touch -d 2026-06-01T12:34:56Z b/src/* && chmod 664 b/src/*.txt && chmod 775 b/src/y.sh");
    sh(tmp, "chown 1000:1000 b/src/* 2>/dev/null || true");
}

fn assert_same(tmp: &Path, name: &str) {
    let (a, b) = (fs::read(tmp.join("a").join(name)).unwrap(), fs::read(tmp.join("b").join(name)).unwrap());
    assert!(a == b, "{name} differs between the two builds after the formats stage");
}

fn sha256(dir: &Path) -> String {
    sh(dir, "find . -type f -print0 | sort -z | xargs -0 sha256sum")
}

/// After tamis, a second run and `strip-nondeterminism` change nothing.
fn assert_fixed_point(dir: &Path, sn_files: &str) {
    let again = strip(dir);
    assert!(again.is_clean(), "second run: {again:?}");
    if have(&["strip-nondeterminism"]) {
        let before = sha256(dir);
        sh(dir, &format!("strip-nondeterminism -T {EPOCH} {sn_files}"));
        assert_eq!(before, sha256(dir), "strip-nondeterminism changed tamis' output");
    }
}

#[test]
fn gzip_with_names_times_and_members() {
    if !have(&["gzip"]) {
        return;
    }
    let tmp = two_builds();
    vary(tmp.path());
    for (build, temp) in [("a", "mkinitramfs-MAIN_x3Fq9a"), ("b", "mkinitramfs-MAIN_Zk1p0Q")] {
        let dir = tmp.path().join(build);
        sh(&dir, &format!("cp -p src/x.txt {temp} && gzip -9 -c {temp} > doc.gz && gzip -c src/z.txt > two.gz"));
        // An initrd: two members, recognised by content although its name has no .gz.
        sh(&dir, "cat doc.gz two.gz > initrd.img-6.1.0-28-amd64 && rm mkinitramfs-*");
    }
    assert_ne!(fs::read(tmp.path().join("a/doc.gz")).unwrap(), fs::read(tmp.path().join("b/doc.gz")).unwrap());
    for build in ["a", "b"] {
        let report = strip(&tmp.path().join(build));
        assert_eq!(report.changes.len(), 3, "{report:?}");
        assert!(report.problems.is_empty(), "{report:?}");
    }
    for name in ["doc.gz", "two.gz", "initrd.img-6.1.0-28-amd64"] {
        assert_same(tmp.path(), name);
    }
    let a = tmp.path().join("a");
    sh(&a, "gzip -t doc.gz two.gz && gzip -t < initrd.img-6.1.0-28-amd64");
    sh(&a, "zcat doc.gz | cmp - src/x.txt && zcat < initrd.img-6.1.0-28-amd64 | cmp - <(cat src/x.txt src/z.txt)");
    let listing = sh(&a, "gzip -lv --name doc.gz");
    assert!(!listing.contains("mkinitramfs"), "the temporary name is gone: {listing}");
    assert_fixed_point(&a, "doc.gz two.gz");
}

#[test]
fn gzip_name_kept_on_request_and_set_policy() {
    if !have(&["gzip"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    sh(tmp.path(), "echo old > old.txt && touch -d 2001-01-01 old.txt && gzip -k old.txt");
    let options = FormatsOptions::default().with_gzip_keep_name(true).with_policy(TimePolicy::Set);
    let report = run(tmp.path(), Mode::Apply, &options);
    assert_eq!(report.changes.len(), 1, "an old time is set to the epoch: {report:?}");
    let bytes = fs::read(tmp.path().join("old.txt.gz")).unwrap();
    assert_eq!(&bytes[4..8], &(EPOCH as u32).to_le_bytes());
    assert_eq!(&bytes[10..18], b"old.txt\0", "the name is kept");
    assert!(run(tmp.path(), Mode::Apply, &options).is_clean());
}

#[test]
fn zip_and_jar_built_in_other_orders_at_other_times() {
    if !have(&["zip", "unzip", "jar"]) {
        return;
    }
    let tmp = two_builds();
    vary(tmp.path());
    sh(tmp.path(), "cd a && zip -q -r out.zip src/x.txt src/y.sh src/z.txt && jar cf out.jar -C src .");
    sh(
        tmp.path(),
        "cd b && zip -q -r out.zip src/z.txt src/x.txt src/y.sh && jar cf out.jar -C src z.txt -C src y.sh -C src x.txt",
    );
    // A Firefox-style name: found by content.
    sh(tmp.path(), "cp a/out.zip a/omni.ja && cp b/out.zip b/omni.ja");
    assert_ne!(fs::read(tmp.path().join("a/out.zip")).unwrap(), fs::read(tmp.path().join("b/out.zip")).unwrap());
    fs::copy(tmp.path().join("a/out.jar"), tmp.path().join("original.jar")).unwrap();
    for build in ["a", "b"] {
        let report = strip(&tmp.path().join(build));
        assert_eq!(report.changes.len(), 3, "{report:?}");
    }
    for name in ["out.zip", "out.jar", "omni.ja"] {
        assert_same(tmp.path(), name);
    }
    let a = tmp.path().join("a");
    sh(&a, "unzip -tq out.zip && unzip -tq out.jar && unzip -p out.zip src/x.txt | cmp - src/x.txt");
    let listing = sh(&a, "jar tf out.jar");
    assert!(listing.starts_with("META-INF/\nMETA-INF/MANIFEST.MF\n"), "{listing}");
    let info = sh(&a, "zipinfo -T out.zip");
    assert!(info.contains("rwxr-xr-x") && info.contains("rw-r--r--") && info.contains("20231114.221320"), "{info}");
    assert_fixed_point(&a, "out.zip");
    // The JDK's jar writes data descriptors, which Archive::Zip (under strip-nondeterminism)
    // always rewrites away: its output is then not ours, but it is the same from the original
    // and from tamis' output.
    if have(&["strip-nondeterminism"]) {
        sh(tmp.path(), "cp a/out.jar tamis.jar && strip-nondeterminism -T 1700000000 original.jar tamis.jar");
        assert!(fs::read(tmp.path().join("original.jar")).unwrap() == fs::read(tmp.path().join("tamis.jar")).unwrap());
    }
}

#[test]
fn jar_from_a_debian_package() {
    let jar = Path::new("/usr/share/java/commons-lang3.jar");
    if !jar.exists() {
        assert!(have(&["__libcommons-lang3-java__"]), "libcommons-lang3-java");
        return;
    }
    if !have(&["unzip", "strip-nondeterminism"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    fs::copy(jar, tmp.path().join("tamis.jar")).unwrap();
    fs::copy(jar, tmp.path().join("sn.jar")).unwrap();
    let set = FormatsOptions::default().with_policy(TimePolicy::Set);
    let report = run(tmp.path(), Mode::Check, &set);
    assert_eq!(report.changes.len(), 2, "{report:?}");
    assert_eq!(fs::read(tmp.path().join("sn.jar")).unwrap(), fs::read(jar).unwrap(), "check changes nothing");
    fs::remove_file(tmp.path().join("sn.jar")).unwrap();
    run(tmp.path(), Mode::Apply, &set);
    fs::copy(jar, tmp.path().join("sn.jar")).unwrap();
    sh(tmp.path(), &format!("strip-nondeterminism -T {EPOCH} sn.jar && unzip -tq tamis.jar"));
    assert!(
        fs::read(tmp.path().join("sn.jar")).unwrap() == fs::read(tmp.path().join("tamis.jar")).unwrap(),
        "with --set, tamis writes the bytes strip-nondeterminism writes"
    );
    if have(&["jar"]) {
        sh(tmp.path(), "jar tf tamis.jar >/dev/null");
    }
}

#[test]
fn every_jar_of_the_installed_packages() {
    if !Path::new("/usr/share/java/commons-lang3.jar").exists() {
        assert!(have(&["__libcommons-lang3-java__"]), "libcommons-lang3-java");
        return;
    }
    if !have(&["unzip", "strip-nondeterminism"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    sh(tmp.path(), "for f in /usr/share/java/*.jar; do [ -L \"$f\" ] || cp -p \"$f\" .; done");
    let set = FormatsOptions::default().with_policy(TimePolicy::Set);
    let report = run(tmp.path(), Mode::Apply, &set);
    assert!(report.problems.is_empty(), "{report:?}");
    assert!(run(tmp.path(), Mode::Apply, &set).is_clean());
    sh(tmp.path(), "for f in *.jar; do unzip -tqq \"$f\" >/dev/null; done");
    let before = sha256(tmp.path());
    sh(tmp.path(), &format!("strip-nondeterminism -T {EPOCH} *.jar"));
    assert_eq!(before, sha256(tmp.path()), "strip-nondeterminism changed tamis' output");
}

#[test]
fn ar_archives_and_debs() {
    if !have(&["ar", "dpkg-deb"]) {
        return;
    }
    let tmp = two_builds();
    vary(tmp.path());
    for build in ["a", "b"] {
        // U: real times, owners and modes, as ar without deterministic mode writes them.
        sh(&tmp.path().join(build), "ar rcsU lib.a src/x.txt src/y.sh src/z.txt");
    }
    for (build, sde) in [("a", "1767225600"), ("b", "1780000000")] {
        let dir = tmp.path().join(build);
        sh(
            &dir,
            "mkdir -p pkg/DEBIAN pkg/usr/share/t && cp src/x.txt pkg/usr/share/t/ && \
             printf 'Package: t\\nVersion: 1\\nArchitecture: all\\nMaintainer: t <t@t.invalid>\\nDescription: t\\n' \
               > pkg/DEBIAN/control && touch -d 2020-01-01 pkg/DEBIAN/control pkg/usr/share/t/x.txt \
               pkg/usr/share/t pkg/usr/share pkg/usr pkg/DEBIAN pkg && chmod 644 pkg/usr/share/t/x.txt",
        );
        let out = Command::new("dpkg-deb")
            .args(["--root-owner-group", "-Zxz", "--build", "pkg", "t.deb"])
            .current_dir(&dir)
            .env("SOURCE_DATE_EPOCH", sde)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        sh(&dir, "rm -r pkg");
    }
    assert_ne!(fs::read(tmp.path().join("a/lib.a")).unwrap(), fs::read(tmp.path().join("b/lib.a")).unwrap());
    assert_ne!(fs::read(tmp.path().join("a/t.deb")).unwrap(), fs::read(tmp.path().join("b/t.deb")).unwrap());
    for build in ["a", "b"] {
        let report = strip(&tmp.path().join(build));
        assert_eq!(report.changes.len(), 2, "{report:?}");
    }
    assert_same(tmp.path(), "lib.a");
    assert_same(tmp.path(), "t.deb");
    let a = tmp.path().join("a");
    let listing = sh(&a, "ar tv lib.a");
    assert!(listing.contains("rwxr-xr-x 0/0") && listing.contains("rw-r--r-- 0/0"), "{listing}");
    assert!(listing.contains("Nov 14 22:13 2023"), "{listing}");
    sh(&a, "ar p lib.a x.txt | cmp - src/x.txt && dpkg-deb -I t.deb >/dev/null && dpkg-deb -c t.deb >/dev/null");
    // strip-nondeterminism sets (never clamps) ar times: compare on a copy made with --set.
    let set = FormatsOptions::default().with_policy(TimePolicy::Set);
    run(&a, Mode::Apply, &set);
    assert!(run(&a, Mode::Apply, &set).is_clean());
    if have(&["strip-nondeterminism"]) {
        let before = sha256(&a);
        sh(&a, &format!("strip-nondeterminism -T {EPOCH} lib.a t.deb"));
        assert_eq!(before, sha256(&a), "strip-nondeterminism changed tamis' output");
    }
}

#[test]
fn png_with_time_and_date_text() {
    if !have(&["python3", "pngcheck"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let writer = r"
import struct, sys, zlib
def chunk(kind, data):
    return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))
year, month = int(sys.argv[2]), int(sys.argv[3])
png = b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', 2, 2, 8, 2, 0, 0, 0))
png += chunk(b'tIME', struct.pack('>HBBBBB', year, month, 1, 12, 0, 0))
png += chunk(b'tEXt', b'date:create\x00%d-%02d-01T12:00:00+00:00' % (year, month))
png += chunk(b'tEXt', b'Software\x00tamis test')
png += chunk(b'IDAT', zlib.compress(b'\x00' + b'\xff\x00\x00' * 2 + b'\x00' + b'\x00\xff\x00' * 2))
png += chunk(b'IEND', b'')
open(sys.argv[1], 'wb').write(png)
";
    fs::write(tmp.path().join("w.py"), writer).unwrap();
    fs::create_dir(tmp.path().join("a")).unwrap();
    fs::create_dir(tmp.path().join("b")).unwrap();
    sh(tmp.path(), "python3 w.py a/icon.png 2026 1 && python3 w.py b/icon.png 2026 6 && rm w.py");
    for build in ["a", "b"] {
        assert_eq!(strip(&tmp.path().join(build)).changes.len(), 1);
    }
    assert_same(tmp.path(), "icon.png");
    let a = tmp.path().join("a");
    let check = sh(&a, "pngcheck -t icon.png");
    assert!(check.contains("OK") && check.contains("Software") && !check.contains("date:"), "{check}");
    assert_fixed_point(&a, "icon.png");
}

#[test]
fn gettext_catalogs_made_from_templates_of_other_days() {
    if !have(&["msgfmt", "msgunfmt", "python3"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    for (build, date) in [("a", "2026-01-01 10:00+0100"), ("b", "2026-06-01 12:34-0500")] {
        let dir = tmp.path().join(build);
        fs::create_dir(&dir).unwrap();
        let po = format!(
            "msgid \"\"\nmsgstr \"\"\n\"Project-Id-Version: t 1\\n\"\n\"POT-Creation-Date: {date}\\n\"\n\
             \"PO-Revision-Date: {date}\\n\"\n\"Content-Type: text/plain; charset=UTF-8\\n\"\n\n\
             msgid \"Hello\"\nmsgstr \"Bonjour\"\n"
        );
        fs::write(dir.join("t.po"), po).unwrap();
        sh(&dir, "mkdir -p fr/LC_MESSAGES && msgfmt -o fr/LC_MESSAGES/t.mo t.po && rm t.po");
    }
    assert_ne!(
        fs::read(tmp.path().join("a/fr/LC_MESSAGES/t.mo")).unwrap(),
        fs::read(tmp.path().join("b/fr/LC_MESSAGES/t.mo")).unwrap()
    );
    for build in ["a", "b"] {
        assert_eq!(strip(&tmp.path().join(build)).changes.len(), 1);
    }
    assert_same(tmp.path(), "fr/LC_MESSAGES/t.mo");
    let a = tmp.path().join("a");
    let text = sh(&a, "msgunfmt fr/LC_MESSAGES/t.mo");
    // msgfmt leaves POT-Creation-Date out of the catalog; PO-Revision-Date stays.
    assert!(text.contains("PO-Revision-Date: 2023-11-14 22:13+0000"), "{text}");
    let hello =
        sh(&a, "python3 -c 'import gettext; print(gettext.translation(\"t\", \".\", [\"fr\"]).gettext(\"Hello\"))'");
    assert_eq!(hello, "Bonjour\n");
    assert_fixed_point(&a, "fr/LC_MESSAGES/t.mo");
}

#[test]
fn malformed_files_are_left_alone_and_reported() {
    if !have(&["gzip", "zip", "ar"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    sh(dir, "seq 1000 > n.txt && gzip -c n.txt | head -c 7 > cut.gz");
    sh(dir, "zip -q ok.zip n.txt && cp ok.zip badcd.zip && ar rcU ok.a n.txt && cp ok.a bad.a && rm n.txt");
    // The central directory offset of the end record points past the file.
    sh(
        dir,
        "size=$(stat -c %s badcd.zip) && printf '\\xff\\xff\\xff\\x7f' | dd of=badcd.zip bs=1 seek=$((size - 6)) conv=notrunc status=none",
    );
    sh(dir, "printf 'X' | dd of=bad.a bs=1 seek=$((8 + 58)) conv=notrunc status=none && rm ok.zip ok.a");
    let before = sha256(dir);
    let report = strip(dir);
    assert_eq!(before, sha256(dir), "corrupt files are left byte for byte");
    assert!(report.changes.is_empty(), "{report:?}");
    let problems: Vec<(String, &str)> =
        report.problems.iter().map(|p| (tamis_core::display_path(&p.path), p.reason.as_str())).collect();
    assert_eq!(problems.len(), 3, "{problems:?}");
    for (path, reason) in &problems {
        assert!(reason.starts_with(path.as_str()) && reason.contains("left as it was"), "{path}: {reason}");
    }
    assert!(problems[0].1.contains("ar member header magic"), "{problems:?}");
    assert!(problems[1].1.contains("zip central directory offset"), "{problems:?}");
    assert!(problems[2].1.contains("truncated: gzip header"), "{problems:?}");
}

#[test]
fn check_changes_nothing_and_hard_links_stay_linked() {
    if !have(&["gzip"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    sh(
        dir,
        "mkdir d && seq 100 > d/n && gzip d/n && ln d/n.gz other.gz && chmod 640 d/n.gz && touch -d 2020-02-02 d/n.gz",
    );
    let before = sha256(dir);
    let check = run(dir, Mode::Check, &FormatsOptions::default());
    assert_eq!(check.changes.len(), 1, "a link group is one file: {check:?}");
    assert_eq!(check.changes[0].path, Path::new("d/n.gz"), "under its first name");
    assert_eq!(before, sha256(dir));
    strip(dir);
    let (one, two) = (fs::metadata(dir.join("d/n.gz")).unwrap(), fs::metadata(dir.join("other.gz")).unwrap());
    assert_eq!((one.ino(), one.nlink(), one.mode() & 0o7777), (two.ino(), 2, 0o640));
    assert_eq!(one.mtime(), 1_580_601_600, "the file's own mtime is kept");
    assert!(strip(dir).is_clean());
}

#[test]
fn javadoc_pages_made_on_other_days_in_other_time_zones() {
    if !have(&["javadoc", "faketime"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let source = "package p;\n/** A class. */\npublic class A {\n    /** @return one */\n    public int one() { return 1; }\n}\n";
    for (build, zone, date) in [("a", "UTC", "2026-01-01 10:00:00"), ("b", "Europe/Paris", "2026-06-01 23:34:56")] {
        let dir = tmp.path().join(build);
        fs::create_dir_all(dir.join("src/p")).unwrap();
        fs::write(dir.join("src/p/A.java"), source).unwrap();
        sh(
            &dir,
            &format!(
                "TZ={zone} {} javadoc -quiet -d api -sourcepath src p 2>/dev/null; rm -r src",
                faketime_prefix(date)
            ),
        );
    }
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    assert_ne!(sha256(&a), sha256(&b), "javadoc dates its pages");
    let pages = sh(&a, "grep -rl 'Generated by javadoc' api | wc -l").trim().parse::<usize>().unwrap();
    assert!(pages >= 5, "{pages} pages");
    assert_eq!(strip(&a).changes.len(), pages);
    assert_eq!(strip(&b).changes.len(), pages);
    assert_eq!(sha256(&a), sha256(&b), "the two builds are identical after the stage");
    let page = fs::read_to_string(a.join("api/p/A.html")).unwrap();
    assert!(page.contains("<meta name=\"dc.created\" content=\"2023-11-14\">"), "{page}");
    assert!(page.contains("<title>A</title>") && page.contains("id=\"one()\""), "{page}");
    // Python's HTML parser reads the page, the method's link and all.
    let text = sh(
        &a,
        "python3 -c 'import html.parser,sys\nclass P(html.parser.HTMLParser):\n  t=[]\n  def handle_data(s,d): s.t.append(d)\np=P(); p.feed(open(\"api/p/A.html\").read()); print(\"one\" in p.t)'",
    );
    assert_eq!(text, "True\n");
    assert_fixed_point(&a, "$(find api -name '*.html')");
}

#[test]
fn javadoc_pages_made_under_two_locales() {
    if !have(&["javadoc"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let source = "package p;\n/** A class. */\npublic class A {\n    /** @return one */\n    public int one() { return 1; }\n}\n";
    // One build asks for French, the other inherits German from the JVM's locale.
    for (build, locale) in [("a", "-locale fr"), ("b", "-J-Duser.language=de -J-Duser.country=DE")] {
        let dir = tmp.path().join(build);
        fs::create_dir_all(dir.join("src/p")).unwrap();
        fs::write(dir.join("src/p/A.java"), source).unwrap();
        sh(&dir, &format!("javadoc -quiet {locale} -d api -sourcepath src p 2>/dev/null; rm -r src"));
    }
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    assert!(fs::read_to_string(a.join("api/p/A.html")).unwrap().contains("<html lang=\"fr\">"));
    assert!(fs::read_to_string(b.join("api/p/A.html")).unwrap().contains("<html lang=\"de\">"));
    strip(&a);
    strip(&b);
    assert_eq!(sha256(&a), sha256(&b), "the two locales' pages are identical after the stage");
    let langs = sh(&a, "grep -rl 'lang=' api --include='*.html' || true");
    assert_eq!(langs, "", "no page keeps a language");
    // Python's HTML parser finds the root element, now without attributes, and the method.
    let parsed = sh(
        &a,
        "python3 -c 'import html.parser\nclass P(html.parser.HTMLParser):\n  t=[];r=None\n  def handle_starttag(s,tag,a):\n    if s.r is None: s.r=(tag,a)\n  def handle_data(s,d): s.t.append(d)\np=P(); p.feed(open(\"api/p/A.html\").read()); print(p.r, \"one\" in p.t)'",
    );
    assert_eq!(parsed, "('html', []) True\n");
    assert_fixed_point(&a, "$(find api -name '*.html')");
}

#[test]
fn uboot_images_made_at_other_times() {
    if !have(&["mkimage", "dumpimage", "faketime"]) {
        return;
    }
    let tmp = two_builds();
    for (build, date) in [("a", "2026-01-01 10:00:00"), ("b", "2026-06-01 12:34:56")] {
        sh(
            &tmp.path().join(build),
            &format!(
                "{} mkimage -A arm -O linux -T script -C none -n boot -d src/x.txt boot.scr >/dev/null",
                faketime_prefix(date)
            ),
        );
    }
    assert_ne!(fs::read(tmp.path().join("a/boot.scr")).unwrap(), fs::read(tmp.path().join("b/boot.scr")).unwrap());
    for build in ["a", "b"] {
        assert_eq!(strip(&tmp.path().join(build)).changes.len(), 1);
    }
    assert_same(tmp.path(), "boot.scr");
    let a = tmp.path().join("a");
    // dumpimage checks the header CRC; the payload comes out unchanged.
    let listed = sh(&a, "dumpimage -l boot.scr");
    assert!(listed.contains("Created:      Tue Nov 14 22:13:20 2023"), "{listed}");
    sh(&a, "dumpimage -T script -p 0 -o payload boot.scr >/dev/null && tail -c +9 payload | cmp - src/x.txt");
    assert_fixed_point(&a, "boot.scr");
}

#[test]
fn python_zip_applications_and_jmods_keep_what_precedes_the_zip() {
    if !have(&["python3", "javac", "jmod", "faketime"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    for (build, date, order) in [("a", "2026-01-01 10:00:00", "a b"), ("b", "2026-06-01 12:34:56", "b a")] {
        let dir = tmp.path().join(build);
        fs::create_dir_all(dir.join("app")).unwrap();
        fs::create_dir_all(dir.join("mod/classes")).unwrap();
        fs::write(dir.join("mod/module-info.java"), "module m { exports m.p; }\n").unwrap();
        fs::create_dir_all(dir.join("mod/m/p")).unwrap();
        fs::write(dir.join("mod/m/p/A.java"), "package m.p;\npublic class A {}\n").unwrap();
        sh(
            &dir,
            &format!(
                "clock() {{ {} \"$@\"; }}
                 for n in {order}; do echo \"X = '$n'\" > app/$n.py; done
                 echo 'import a, b; print(a.X + b.X)' > app/__main__.py
                 clock python3 -m zipapp app -p /usr/bin/python3 -o app.pyz
                 cd mod && clock javac -d classes module-info.java m/p/A.java && clock jmod create --class-path classes ../m.jmod",
                faketime_prefix(date)
            ),
        );
        sh(&dir, "rm -r app mod");
    }
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    assert_ne!(sha256(&a), sha256(&b), "the tools date their entries");
    for dir in [&a, &b] {
        let report = strip(dir);
        assert_eq!(report.changes.len(), 2, "{report:?}");
    }
    assert_same(tmp.path(), "app.pyz");
    assert_same(tmp.path(), "m.jmod");
    assert!(fs::read(a.join("app.pyz")).unwrap().starts_with(b"#!/usr/bin/python3\n"));
    assert!(fs::read(a.join("m.jmod")).unwrap().starts_with(b"JM\x01\x00PK"));
    assert_eq!(sh(&a, "python3 app.pyz"), "ab\n");
    assert_eq!(sh(&a, "unzip -Z1 app.pyz"), "__main__.py\na.py\nb.py\n", "canonical order");
    let listed = sh(&a, "jmod list m.jmod");
    assert!(listed.contains("classes/m/p/A.class") && listed.contains("classes/module-info.class"), "{listed}");
    assert!(sh(&a, "jmod describe m.jmod").contains("exports m.p"));
    assert_fixed_point(&a, "app.pyz m.jmod");
}

#[test]
fn jar_manifest_builder_and_properties_date_are_removed() {
    if !have(&["java", "jar", "unzip", "faketime"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = "import java.io.*; import java.util.*;\n\
        public class Store { public static void main(String[] a) throws Exception {\n\
        Properties p = new Properties(); p.setProperty(\"groupId\", \"g\"); p.setProperty(\"version\", \"1\");\n\
        try (OutputStream o = new FileOutputStream(a[0])) { p.store(o, \"Created by Apache Maven\"); } } }\n";
    for (build, date, zone, user) in
        [("a", "2026-01-01 10:00:00", "UTC", "alice"), ("b", "2026-06-01 23:34:56", "Europe/Paris", "bob")]
    {
        let dir = tmp.path().join(build);
        fs::create_dir_all(dir.join("c/META-INF/maven/g/a")).unwrap();
        fs::write(dir.join("Store.java"), store).unwrap();
        fs::write(
            dir.join("manifest.txt"),
            format!("Built-By: {user}\nBnd-LastModified: {}000\nImplementation-Title: a\n", build.len() * 7),
        )
        .unwrap();
        fs::write(dir.join("c/A.txt"), "data\n".repeat(100)).unwrap();
        sh(
            &dir,
            &format!(
                "export TZ={zone}; clock() {{ {} \"$@\"; }}
                 clock java Store.java c/META-INF/maven/g/a/pom.properties
                 clock jar cfm a.jar manifest.txt -C c .
                 rm -r c Store.java manifest.txt",
                faketime_prefix(date)
            ),
        );
    }
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    assert!(sh(&a, "unzip -p a.jar META-INF/maven/g/a/pom.properties").contains("#Thu Jan 01 10:00:00 UTC 2026"));
    assert!(sh(&b, "unzip -p a.jar META-INF/MANIFEST.MF").contains("Built-By: bob"));
    fs::copy(a.join("a.jar"), tmp.path().join("original.jar")).unwrap();
    for dir in [&a, &b] {
        assert_eq!(strip(dir).changes.len(), 1);
    }
    assert_same(tmp.path(), "a.jar");
    let manifest = sh(&a, "unzip -p a.jar META-INF/MANIFEST.MF");
    assert!(!manifest.contains("Built-By") && !manifest.contains("Bnd-LastModified"), "{manifest}");
    assert!(manifest.contains("Implementation-Title: a"), "{manifest}");
    let properties = sh(&a, "unzip -p a.jar META-INF/maven/g/a/pom.properties");
    assert_eq!(properties, "#Created by Apache Maven\ngroupId=g\nversion=1\n");
    sh(&a, "unzip -tq a.jar && jar tf a.jar >/dev/null");
    // Java reads the rewritten manifest and properties through its own zip code.
    let read = "import java.util.*; import java.util.jar.*;\n\
        public class Read { public static void main(String[] a) throws Exception {\n\
        try (JarFile j = new JarFile(\"a.jar\")) { Properties p = new Properties();\n\
        p.load(j.getInputStream(j.getEntry(\"META-INF/maven/g/a/pom.properties\")));\n\
        System.out.println(j.getManifest().getMainAttributes().getValue(\"Implementation-Title\") + p.getProperty(\"version\")); } } }\n";
    fs::write(tmp.path().join("Read.java"), read).unwrap();
    assert_eq!(sh(&a, "java ../Read.java"), "a1\n");
    assert!(strip(&a).is_clean());
    // strip-nondeterminism finds nothing more to remove in any entry (it rewrites the JDK's
    // data descriptors away, so the layout is its own), and on the original it removes the
    // same manifest lines as tamis (it leaves the properties date inside a jar).
    if have(&["strip-nondeterminism"]) {
        sh(tmp.path(), "cp a/a.jar tamis.jar && strip-nondeterminism -T 1700000000 original.jar tamis.jar");
        sh(tmp.path(), "for e in $(unzip -Z1 a/a.jar); do unzip -p tamis.jar $e | cmp - <(unzip -p a/a.jar $e); done");
        let theirs = sh(tmp.path(), "unzip -p original.jar META-INF/MANIFEST.MF");
        assert_eq!(theirs, manifest);
    }
}

#[test]
fn a_large_deb_is_normalized_by_its_headers_alone_to_the_same_bytes() {
    if !have(&["dpkg-deb", "python3"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    for (build, sde) in [("a", "1767225600"), ("b", "1780000000")] {
        let dir = tmp.path().join(build);
        fs::create_dir_all(dir.join("pkg/DEBIAN")).unwrap();
        fs::create_dir_all(dir.join("pkg/usr/share/t")).unwrap();
        // 3 MB that compression cannot shrink: the package is well past the size read by headers.
        sh(
            &dir,
            "python3 -c 'import random; random.seed(7); open(\"pkg/usr/share/t/data\", \"wb\").write(random.randbytes(3000000))'",
        );
        fs::write(
            dir.join("pkg/DEBIAN/control"),
            "Package: t\nVersion: 1\nArchitecture: all\nMaintainer: t <t@t.invalid>\nDescription: t\n",
        )
        .unwrap();
        sh(&dir, "find pkg -exec touch -h -d 2020-01-01 {} + && chmod 644 pkg/usr/share/t/data");
        let out = Command::new("dpkg-deb")
            .args(["--root-owner-group", "-Znone", "--build", "pkg", "t.deb"])
            .current_dir(&dir)
            .env("SOURCE_DATE_EPOCH", sde)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        sh(&dir, "rm -r pkg");
    }
    let original = fs::read(tmp.path().join("a/t.deb")).unwrap();
    assert!(original.len() > 2 << 20);
    assert_ne!(original, fs::read(tmp.path().join("b/t.deb")).unwrap());
    for build in ["a", "b"] {
        assert_eq!(strip(&tmp.path().join(build)).changes.len(), 1);
    }
    assert_same(tmp.path(), "t.deb");
    // The same bytes the handler gives from the whole file in memory.
    let settings = tamis_formats::Settings::new(Epoch::from_secs(EPOCH).unwrap());
    let whole = tamis_formats::Handler::normalize(&tamis_formats::ar::Ar, &original, &settings).unwrap().unwrap();
    assert!(fs::read(tmp.path().join("a/t.deb")).unwrap() == whole);
    sh(&tmp.path().join("a"), "dpkg-deb -I t.deb >/dev/null && dpkg-deb --fsys-tarfile t.deb | tar -t >/dev/null");
    assert!(strip(&tmp.path().join("a")).is_clean());
}
