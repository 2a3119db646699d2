//! `tamis strip` on inputs it must not break: corrupt gzip streams, Android packages and signed
//! jars, standalone cpio archives, sparse and huge files. Every input is made by the real tool
//! (gzip, zip, zipalign, apksigner, jarsigner, cpio, truncate) and checked after tamis by the
//! real consumer (gzip -t, apksigner verify, jarsigner -verify, cpio -t -v and cpio -i).
//!
//! A test whose tool is missing says "skipped" and passes, unless `TAMIS_REQUIRE_FIXTURES=1`
//! (set by `scripts/test.sh`, hence by CI). The tests on large files run tamis under an
//! address-space limit (`prlimit --as`), so that reading a file whole fails the test instead
//! of filling the machine's memory.

#![allow(clippy::disallowed_methods, clippy::print_stderr, reason = "a test finds its tools and says what it skipped")]

mod common;

use common::{have, sh};

use std::fs;
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;
use std::process::{Command, Output};

const EPOCH: &str = "1700000000";
/// The address space tamis may use in the tests on large files: far below the sizes involved
/// (2 to 5 GiB), far above what a bounded run needs.
const MEMORY_LIMIT: &str = "1500000000";

/// `tamis COMMAND --threads 2 --epoch EPOCH ARGS…` in `dir`, its address space limited to
/// `limit` bytes.
fn tamis(dir: &Path, limit: &str, command: &str, args: &[&str]) -> Output {
    Command::new("prlimit")
        .arg(format!("--as={limit}"))
        .arg("--")
        .arg(env!("CARGO_BIN_EXE_tamis"))
        // Two workers, whatever the machine: the limit holds their stacks and allocator arenas.
        .args([command, "--threads", "2", "--epoch", EPOCH])
        .args(args)
        .current_dir(dir)
        .env_remove("SOURCE_DATE_EPOCH")
        .output()
        .unwrap()
}

/// `tamis strip` on `args` in `dir`, under the memory limit.
fn strip(dir: &Path, args: &[&str]) -> Output {
    tamis(dir, MEMORY_LIMIT, "strip", args)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// What must not change when a file is left alone: bytes (by digest: the first 64 MiB, for the
/// sparse giants; every rewrite renames a new inode over the name, which the inode shows),
/// inode, size, allocated blocks and mtime.
/// The file is synced first: a file just written has delayed allocation pending, and its block
/// count settles when writeback runs, which would look like a change made by tamis.
fn fingerprint(dir: &Path, name: &str) -> (String, u64, u64, u64, i64) {
    let digest = sh(dir, &format!("sync -- '{name}' && head -c 67108864 '{name}' | sha256sum | cut -d' ' -f1"));
    let meta = fs::symlink_metadata(dir.join(name)).unwrap();
    (digest, meta.ino(), meta.size(), meta.blocks(), meta.mtime())
}

/// The fixed part of a gzip file's first header.
fn gzip_header(path: &Path) -> [u8; 10] {
    let mut head = [0u8; 10];
    std::io::Read::read_exact(&mut fs::File::open(path).unwrap(), &mut head).unwrap();
    head
}

#[test]
fn corrupt_gzip_streams_are_left_byte_for_byte_and_named() {
    if !have(&["gzip", "python3", "prlimit"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // Real gzip output with a name and a time (both to be removed), then broken copies: cut in
    // the middle, a byte of the deflate data flipped, a byte of the CRC-32 and of ISIZE flipped,
    // and two-member files whose first or second member is broken.
    sh(
        dir,
        "seq 200000 > n && touch -d 2026-03-01 n && gzip -k -9 n && seq 5000 > m && gzip -k m && rm n m
         size=$(stat -c %s n.gz)
         head -c $((size / 2)) n.gz > cut.gz
         flip() { python3 -c 'import sys; p, at = sys.argv[1], int(sys.argv[2]); b = bytearray(open(p, \"rb\").read()); b[at] ^= 0x5a; open(p, \"wb\").write(b)' \"$@\"; }
         cp n.gz flipped.gz && flip flipped.gz $((size / 2))
         cp n.gz badcrc.gz && flip badcrc.gz $((size - 6))
         cp n.gz badlen.gz && flip badlen.gz $((size - 2))
         cat n.gz m.gz > two.gz
         cat cut.gz m.gz > two-first-cut.gz
         cat m.gz flipped.gz > two-second-flipped.gz
         touch -d 2025-01-01 *.gz",
    );
    let bad = ["cut.gz", "flipped.gz", "badcrc.gz", "badlen.gz", "two-first-cut.gz", "two-second-flipped.gz"];
    let before: Vec<_> = bad.iter().map(|name| fingerprint(dir, name)).collect();
    let out = strip(dir, &["."]);
    assert_eq!(out.status.code(), Some(3), "problems exit 3: {}", stderr(&out));
    for (name, before) in bad.iter().zip(&before) {
        assert_eq!(&fingerprint(dir, name), before, "{name} is left byte for byte");
        assert!(stderr(&out).contains(&format!("/{name}: gzip: ")), "{name} is named: {}", stderr(&out));
    }
    assert!(stderr(&out).contains("gzip CRC-32 of the data"), "{}", stderr(&out));
    assert!(stderr(&out).contains("gzip length of the data"), "{}", stderr(&out));
    // The sound files are normalized and still decompress to the same bytes.
    sh(dir, "gzip -t n.gz m.gz two.gz && gzip -dc two.gz | cmp - <(seq 200000; seq 5000)");
    let header = gzip_header(&dir.join("n.gz"));
    assert_eq!(header[3] & 0x08, 0, "name dropped");
    assert_eq!(u32::from_le_bytes([header[4], header[5], header[6], header[7]]), 1_700_000_000, "mtime clamped");
}

/// A keystore for `apksigner` and `jarsigner`.
fn keystore(dir: &Path) {
    sh(
        dir,
        "keytool -genkeypair -keystore ks.jks -storepass android -keypass android -alias tamis \
         -keyalg RSA -keysize 2048 -dname CN=tamis -validity 10000 2>/dev/null",
    );
}

#[test]
fn android_packages_are_left_as_they_are_and_said_so() {
    if !have(&["zip", "zipalign", "apksigner", "keytool", "prlimit"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    keystore(dir);
    // A minimal package: a manifest, code, a resource; aligned, then signed (schemes v2 and v3,
    // the APK Signing Block). Copies under names that do not say "apk".
    sh(
        dir,
        "mkdir src && printf manifest > src/AndroidManifest.xml && printf 'dex\\n035\\0' > src/classes.dex
         mkdir src/res && echo x > src/res/b.txt && echo y > src/res/a.txt && touch -d 2026-05-05 src/* src/res/*
         (cd src && zip -q -r ../unaligned.apk AndroidManifest.xml classes.dex res)
         zipalign -p 4 unaligned.apk unsigned.apk && rm unaligned.apk
         cp unsigned.apk signed.apk
         apksigner sign --ks ks.jks --ks-pass pass:android --min-sdk-version 24 signed.apk
         rm -f signed.apk.idsig
         cp signed.apk signed-named-otherwise.bin && cp unsigned.apk unsigned-named-otherwise.zip",
    );
    let verify = "for f in signed.apk signed-named-otherwise.bin; do apksigner verify --min-sdk-version 24 $f; done";
    sh(dir, verify);
    let names = ["signed.apk", "signed-named-otherwise.bin", "unsigned.apk", "unsigned-named-otherwise.zip"];
    let before: Vec<_> = names.iter().map(|name| fingerprint(dir, name)).collect();
    let out = strip(dir, &["."]);
    assert_eq!(out.status.code(), Some(0), "skipped on purpose is not a problem: {}", stderr(&out));
    for (name, before) in names.iter().zip(&before) {
        assert_eq!(&fingerprint(dir, name), before, "{name} is left byte for byte");
        assert!(stderr(&out).contains(&format!("left as it is: /{name}: zip: an Android package")), "{}", stderr(&out));
    }
    assert!(stderr(&out).contains("APK Signing Block"), "{}", stderr(&out));
    sh(dir, verify);
    // A file given alone, as strip-nondeterminism is called.
    let one = strip(dir, &["signed.apk"]);
    assert_eq!(one.status.code(), Some(0), "{}", stderr(&one));
    assert!(stderr(&one).contains("left as it is"), "{}", stderr(&one));
}

#[test]
fn a_signed_jar_still_verifies() {
    if !have(&["jar", "jarsigner", "keytool", "prlimit"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    keystore(dir);
    // A manifest with a line tamis removes from unsigned jars (Maven writes it), and a
    // properties file with the date line: the signature digests both, so both must stay.
    sh(
        dir,
        "mkdir -p src/org/example && echo one > src/org/example/B.txt && echo two > src/org/example/A.txt
         printf '#Mon Nov 23 13:13:27 UTC 2026\nk=v\n' > src/org/example/p.properties
         printf 'Manifest-Version: 1.0\nBuilt-By: someone\n' > manifest.txt
         touch -d 2026-05-05 src/org/example/*
         jar cfm lib.jar manifest.txt -C src org
         jarsigner -keystore ks.jks -storepass android lib.jar tamis >/dev/null 2>&1",
    );
    // (A self-signed certificate: verified, but not with -strict, which wants a trusted chain.)
    let verified = "jarsigner -verify lib.jar | grep -q '^jar verified'";
    sh(dir, verified);
    let before = fingerprint(dir, "lib.jar");
    let out = strip(dir, &["lib.jar"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("left as it is: /lib.jar: zip: a signed jar"), "{}", stderr(&out));
    assert_eq!(fingerprint(dir, "lib.jar"), before, "left byte for byte, as strip-nondeterminism leaves it");
    sh(dir, verified);
    sh(dir, "unzip -t -q lib.jar && unzip -p lib.jar META-INF/MANIFEST.MF | grep -q '^Built-By: someone'");
}

#[test]
fn standalone_cpio_archives_of_two_days_become_identical() {
    if !have(&["cpio", "prlimit"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // The same files on two days, listed in two orders, as newc, crc and odc; the second
    // build's inodes differ (other files made first).
    for (build, day, order) in [("a", "2026-01-01", "sort"), ("b", "2026-06-01", "sort -r")] {
        sh(
            dir,
            &format!(
                "mkdir -p {build}/tree/etc {build}/out && cd {build}
                 [ {build} = b ] && touch filler1 filler2 filler3
                 echo hello > tree/etc/motd && printf 'x%.0s' $(seq 5000) > tree/big && ln tree/big tree/big-link
                 ln -s motd tree/etc/link && chmod 600 tree/etc/motd
                 touch -h -d {day} tree/etc/motd tree/etc/link tree/big tree/etc tree
                 (cd tree && find . | {order} | cpio -o -H newc --quiet > ../out/newc.cpio)
                 (cd tree && find . | {order} | cpio -o -H crc --quiet > ../out/data)
                 (cd tree && find . | {order} | cpio -o -H odc --quiet > ../out/odc.cpio)
                 (cd tree && find . | {order} | cpio -o -H bin --quiet > ../out/bin.cpio)"
            ),
        );
    }
    sh(
        dir,
        "! cmp -s a/out/newc.cpio b/out/newc.cpio && ! cmp -s a/out/data b/out/data && ! cmp -s a/out/odc.cpio b/out/odc.cpio",
    );
    let bin = fingerprint(&dir.join("a/out"), "bin.cpio");
    for build in ["a", "b"] {
        let out = strip(dir, &[&format!("{build}/out"), "--set"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert!(stderr(&out).contains("3 changes"), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("left as it is: /bin.cpio: cpio: an old binary cpio archive"),
            "{}",
            stderr(&out)
        );
    }
    assert_eq!(fingerprint(&dir.join("a/out"), "bin.cpio"), bin, "bin is left byte for byte");
    sh(dir, "head -c 6 a/out/odc.cpio | grep -qx 070707 && [ $(($(stat -c %s a/out/odc.cpio) % 512)) = 0 ]");
    for name in ["newc.cpio", "data", "odc.cpio"] {
        let (a, b) = (fs::read(dir.join("a/out").join(name)).unwrap(), fs::read(dir.join("b/out").join(name)).unwrap());
        assert!(a == b, "{name}: the two days give the same bytes");
        // GNU cpio lists the members in the canonical order with the epoch as their time, and
        // extracts the same contents, modes and links.
        let listing = sh(dir, &format!("cpio -t -v --quiet < a/out/{name}"));
        assert!(listing.lines().all(|l| l.contains("Nov 14  2023")), "{listing}");
        sh(
            dir,
            &format!(
                "rm -rf x && mkdir x && cd x && cpio -i -d --quiet < ../a/out/{name}
                 diff -r --no-dereference . ../a/tree && [ $(stat -c %h big) = 2 ] && [ $(stat -c %a etc/motd) = 600 ]
                 [ $(readlink etc/link) = motd ]"
            ),
        );
    }
    for name in ["newc.cpio", "odc.cpio"] {
        let listing = sh(dir, &format!("cpio -t --quiet < a/out/{name}"));
        assert_eq!(listing, ".\nbig\nbig-link\netc\netc/link\netc/motd\n", "{name}: canonical order");
    }
    let again = strip(dir, &["a/out", "--set"]);
    assert!(stderr(&again).contains("0 changes, 0 problems"), "idempotent: {}", stderr(&again));
}

#[test]
fn sparse_files_with_a_magic_are_not_read_whole_nor_filled() {
    if !have(&["truncate", "gzip", "prlimit"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // 5 GiB, all of it a hole but the magic: not gzip, not zip; and a sound gzip member followed
    // by a 64 MiB hole (zero padding, which gzip ignores) whose header would change.
    sh(
        dir,
        "printf '\\x1f\\x8b\\x08\\x00\\x00\\x00\\x00\\x00\\x00\\x03' > huge.gz && truncate -s 5G huge.gz
         printf 'PK\\x03\\x04' > huge.zip && truncate -s 5G huge.zip
         seq 1000 > s && touch -d 2026-01-01 s && gzip s && truncate -s +64M s.gz",
    );
    let names = ["huge.gz", "huge.zip", "s.gz"];
    let before: Vec<_> = names.iter().map(|name| fingerprint(dir, name)).collect();
    let out = strip(dir, &["."]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    for (name, before) in names.iter().zip(&before) {
        assert_eq!(&fingerprint(dir, name), before, "{name}: untouched, its holes kept");
        assert!(stderr(&out).contains(&format!("problem: /{name}: ")), "{name} is named: {}", stderr(&out));
    }
    assert!(stderr(&out).contains("/huge.gz: gzip: malformed: deflate data"), "{}", stderr(&out));
    assert!(stderr(&out).contains("/huge.zip: zip: 5368709120 bytes, more than the 256 MiB"), "{}", stderr(&out));
    assert!(stderr(&out).contains("/s.gz: gzip header: mtime, file name, OS: has holes"), "{}", stderr(&out));
}

#[test]
fn a_gzip_too_large_to_read_whole_is_checked_and_patched_as_a_stream() {
    if !have(&["gzip", "prlimit", "python3"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // 300 MB that do not compress, without a name; its header time set to 2026 afterwards (the
    // header is outside the CRC), so that only same-length fields change. A cut copy too.
    sh(
        dir,
        "head -c 300000000 /dev/urandom | gzip -1 -n > big.gz
         python3 -c 'import sys, struct; f = open(\"big.gz\", \"r+b\"); f.seek(4); f.write(struct.pack(\"<I\", 1780000000))'
         head -c 299000000 big.gz > cut.gz",
    );
    let cut = fingerprint(dir, "cut.gz");
    // 500 MB of address space: less than the file and its rewrite held in memory together.
    let out = tamis(dir, "500000000", "strip", &["."]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(fingerprint(dir, "cut.gz"), cut, "a cut stream is left as it was");
    assert!(stderr(&out).contains("/cut.gz: gzip: truncated"), "{}", stderr(&out));
    assert!(stderr(&out).contains("1 changes"), "{}", stderr(&out));
    assert_eq!(gzip_header(&dir.join("big.gz"))[4..8], 1_700_000_000u32.to_le_bytes());
    sh(dir, "gzip -t big.gz");
}

#[test]
fn an_initrd_that_decompresses_to_gigabytes_is_refused_within_bounded_memory() {
    if !have(&["cpio", "gzip", "truncate", "prlimit"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // A few MB of gzip holding a 2 GiB file of zeros, made by the real cpio and gzip.
    sh(
        dir,
        "mkdir tree && echo hi > tree/init && truncate -s 2G tree/zeros && touch -d 2026-01-01 tree/*
         (cd tree && find . | cpio -o -H newc --quiet | gzip -1 > ../initrd.img-bomb)
         rm -r tree",
    );
    let before = fingerprint(dir, "initrd.img-bomb");
    // 1 GiB of it is held (the documented limit) before the refusal: 3 GB of address space,
    // under the 2 GiB that the old code allocated and grew from.
    let out = tamis(dir, "3000000000", "initramfs", &["initrd.img-bomb"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("decompresses to more than 1024 MiB"), "{}", stderr(&out));
    assert_eq!(fingerprint(dir, "initrd.img-bomb"), before, "left as it was");
    // The formats stage checks its gzip stream by streaming it, and finds it sound.
    let out = strip(dir, &["initrd.img-bomb"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    sh(dir, "gzip -t initrd.img-bomb");
}
