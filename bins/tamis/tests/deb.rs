//! The Debian package of tamis (`scripts/build-deb.sh`) in a fresh bookworm chroot
//! (`scripts/make-deb-chroot.sh`, mmdebstrap): `apt install ./tamis_*.deb` works, and there
//! `tamis --version`, `man tamis-normalize`, `dh_tamis --help` and the bash completion of
//! `tamis nor<TAB>` (through bash-completion's loader, as an interactive shell loads it) work.
//! The package is `TAMIS_DEB` or the one `scripts/build-deb.sh` left in target/debian/.

#![allow(
    clippy::disallowed_methods,
    clippy::print_stderr,
    reason = "a test finds the package and says what it skipped"
)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn package() -> Option<PathBuf> {
    if let Some(deb) = std::env::var_os("TAMIS_DEB") {
        return Some(PathBuf::from(deb));
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/debian");
    let found = std::fs::read_dir(&dir).ok().and_then(|entries| {
        let mut debs: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("tamis_")))
            .collect();
        debs.sort();
        debs.pop()
    });
    if found.is_none() {
        assert!(!common::required(), "no package in {}: run scripts/build-deb.sh", dir.display());
        eprintln!("skipped: no package in {} (scripts/build-deb.sh)", dir.display());
    }
    found
}

fn in_chroot(root: &Path, script: &str) -> Output {
    Command::new("chroot")
        .arg(root)
        .args(["/bin/bash", "-c", script])
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("HOME", "/root")
        .env("LC_ALL", "C.UTF-8")
        .output()
        .unwrap()
}

fn ok(out: &Output, what: &str) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{what} failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

#[test]
fn installs_and_works_in_a_fresh_bookworm() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: not root (chroot)");
        return;
    }
    let (Some(deb), Some(fixture)) = (package(), common::fixture("deb-chroot")) else { return };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir(&root).unwrap();
    ok(
        &Command::new("tar").arg("-xf").arg(fixture.join("bookworm.tar")).arg("-C").arg(&root).output().unwrap(),
        "unpacking the chroot",
    );
    let name = deb.file_name().unwrap().to_string_lossy().into_owned();
    std::fs::copy(&deb, root.join("tmp").join(&name)).unwrap();

    // As a user would. Its dependencies (libc) are in the chroot already: no download.
    ok(&in_chroot(&root, &format!("cd /tmp && apt install -y ./{name}")), "apt install ./tamis_*.deb");

    let version = ok(&in_chroot(&root, "tamis --version"), "tamis --version");
    assert!(version.starts_with("tamis "), "{version}");

    let page = ok(&in_chroot(&root, "MANWIDTH=200 man tamis-normalize | cat"), "man tamis-normalize");
    assert!(page.contains("tamis normalize") && page.contains("--profile"), "{page}");
    let page = ok(&in_chroot(&root, "MANWIDTH=200 man dh_tamis | cat"), "man dh_tamis");
    assert!(page.contains("dh_strip_nondeterminism"), "{page}");

    let help = ok(&in_chroot(&root, "dh_tamis --help"), "dh_tamis --help");
    assert!(help.contains("--exclude"), "{help}");

    // bash-completion loads /usr/share/bash-completion/completions/tamis on first use of `tamis`.
    let completed = ok(
        &in_chroot(
            &root,
            "source /usr/share/bash-completion/bash_completion; \
             _completion_loader tamis; complete -p tamis; \
             COMP_WORDS=(tamis nor); COMP_CWORD=1; COMP_LINE='tamis nor'; COMP_POINT=9; \
             _tamis tamis nor tamis; printf 'reply:%s\\n' \"${COMPREPLY[@]}\"",
        ),
        "completion",
    );
    assert!(completed.contains("-F _tamis tamis"), "{completed}");
    assert!(completed.contains("reply:normalize\n"), "{completed}");

    // The debhelper add-on is where dh looks for it, and the package says what it provides.
    assert!(root.join("usr/share/perl5/Debian/Debhelper/Sequence/tamis.pm").is_file());
    let provides = ok(&in_chroot(&root, "dpkg-query -W -f='${Provides}' tamis"), "dpkg-query");
    assert!(provides.contains("dh-sequence-tamis"), "{provides}");
    assert!(root.join("usr/share/tamis/live-build/hooks/9990-tamis.hook.binary").is_file());
}
