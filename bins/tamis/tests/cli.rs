//! The command line as a build script uses it: exit codes, the epoch rules, the JSON report.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

const EPOCH: &str = "1700000000";

fn tamis(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tamis"));
    cmd.args(args).env_remove("SOURCE_DATE_EPOCH");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn code(out: &Output) -> i32 {
    out.status.code().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A tree whose entries are all newer than the epoch (they were just made).
fn fresh_tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("etc/default")).unwrap();
    fs::write(dir.path().join("etc/default/locale"), b"LANG=C.UTF-8\n").unwrap();
    std::os::unix::fs::symlink("/nonexistent", dir.path().join("etc/dangling")).unwrap();
    dir
}

fn path(dir: &Path) -> &str {
    dir.to_str().unwrap()
}

#[test]
fn check_fails_before_and_passes_after() {
    let dir = fresh_tree();
    let before = tamis(&["mtime", "--epoch", EPOCH, "--check", path(dir.path())], &[]);
    assert_eq!(code(&before), 1, "{}", stderr(&before));
    assert!(stderr(&before).contains("/etc/default/locale"), "{}", stderr(&before));
    assert!(stderr(&before).contains("5 changes needed"), "{}", stderr(&before));

    let apply = tamis(&["mtime", path(dir.path())], &[("SOURCE_DATE_EPOCH", EPOCH)]);
    assert_eq!(code(&apply), 0, "{}", stderr(&apply));

    let after = tamis(&["mtime", "--epoch", EPOCH, "--check", path(dir.path())], &[]);
    assert_eq!(code(&after), 0, "{}", stderr(&after));
    assert!(stderr(&after).contains("nothing would change"), "{}", stderr(&after));
}

/// A report that could not be written at the end is refused before the run: otherwise the tree
/// is changed and what was changed is lost.
#[test]
fn a_report_that_cannot_be_written_is_refused_before_anything_changes() {
    let dir = fresh_tree();
    let reports = tempfile::tempdir().unwrap();
    let locale = dir.path().join("etc/default/locale");
    let mtime = || fs::metadata(&locale).unwrap().modified().unwrap();
    let before = mtime();
    let missing = reports.path().join("missing/report.json");
    let a_directory = reports.path().to_owned();
    let ends_with_slash = format!("{}/", missing.parent().unwrap().display());
    for (report, why) in [
        (path(&missing), "No such file or directory"),
        (path(&a_directory), "is a directory, not a regular file"),
        ("/dev/null", "is a character device, not a regular file"),
        (ends_with_slash.as_str(), "names a directory"),
    ] {
        for command in ["mtime", "normalize"] {
            let out = tamis(&[command, "--epoch", EPOCH, "--json", report, path(dir.path())], &[]);
            assert_eq!(code(&out), 2, "{command} --json {report}: {}", stderr(&out));
            assert!(stderr(&out).contains(why), "{command} --json {report}: {}", stderr(&out));
            assert_eq!(mtime(), before, "{command} --json {report} changed the tree");
        }
    }
    assert!(!missing.parent().unwrap().exists());
    let written = Command::new("ls").arg("-A").arg(reports.path()).output().unwrap().stdout;
    assert!(written.is_empty(), "written: {}", String::from_utf8_lossy(&written));
    let out =
        tamis(&["mtime", "--epoch", EPOCH, "--json", path(&reports.path().join("r.json")), path(dir.path())], &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_ne!(mtime(), before);
    assert!(reports.path().join("r.json").is_file());
}

#[test]
fn normalize_runs_the_profile_and_writes_json() {
    let dir = fresh_tree();
    let report = dir.path().join("report.json");
    let tree = dir.path().join("etc");
    let out = tamis(&["normalize", "--epoch", EPOCH, "--json", path(&report), path(&tree)], &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&fs::read(&report).unwrap()).unwrap();
    assert_eq!(json["profile"], "debian-image");
    assert_eq!(json["mode"], "apply");
    assert_eq!(json["epoch"], 1_700_000_000);
    let last = json["stages"].as_array().unwrap().last().unwrap();
    assert_eq!(last["stage"], "mtime", "the clamp ends the profile");
    let paths: Vec<&str> = last["changes"].as_array().unwrap().iter().map(|c| c["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["/", "/dangling", "/default", "/default/locale"]);

    let stdout = tamis(&["normalize", "--check", "--json", "-", "--epoch", EPOCH, path(&tree)], &[]);
    assert_eq!(code(&stdout), 0);
    let json: serde_json::Value = serde_json::from_slice(&stdout.stdout).unwrap();
    assert_eq!(json["mode"], "check");
}

#[test]
fn epoch_mistakes_are_errors_that_say_what_to_fix() {
    let dir = fresh_tree();
    let missing = tamis(&["mtime", path(dir.path())], &[]);
    assert_eq!(code(&missing), 2);
    assert!(stderr(&missing).contains("SOURCE_DATE_EPOCH"), "{}", stderr(&missing));

    let malformed = tamis(&["mtime", path(dir.path())], &[("SOURCE_DATE_EPOCH", "2023-11-14")]);
    assert_eq!(code(&malformed), 2);
    assert!(stderr(&malformed).contains("SOURCE_DATE_EPOCH is \"2023-11-14\""), "{}", stderr(&malformed));

    let future = tamis(&["mtime", "--epoch", "4000000000", path(dir.path())], &[]);
    assert_eq!(code(&future), 2);
    assert!(stderr(&future).contains("--allow-future-epoch"), "{}", stderr(&future));
    let allowed = tamis(&["mtime", "--epoch", "4000000000", "--allow-future-epoch", path(dir.path())], &[]);
    assert_eq!(code(&allowed), 0, "{}", stderr(&allowed));

    // An epoch later than what gzip, cpio and squashfs can hold (ext4 itself would store year
    // 2446 for this one) is refused, even when the future is allowed, and nothing is changed.
    let before = fs::symlink_metadata(dir.path().join("etc/default/locale")).unwrap();
    for (args, env) in [
        (vec!["mtime", "--set", "--epoch", "253402300800", "--allow-future-epoch"], vec![]),
        (vec!["mtime", "--set", "--allow-future-epoch"], vec![("SOURCE_DATE_EPOCH", "4294967296")]),
    ] {
        let mut args = args;
        args.push(path(dir.path()));
        let late = tamis(&args, &env);
        assert_eq!(code(&late), 2, "{}", stderr(&late));
        assert!(stderr(&late).contains("later than 4294967295 (2106-02-07T06:28:15Z)"), "{}", stderr(&late));
    }
    let after = fs::symlink_metadata(dir.path().join("etc/default/locale")).unwrap();
    assert_eq!(
        std::os::unix::fs::MetadataExt::mtime(&before),
        std::os::unix::fs::MetadataExt::mtime(&after),
        "the tree was changed"
    );

    // The option wins over the environment.
    let both =
        tamis(&["mtime", "--check", "--source-date-epoch", EPOCH, path(dir.path())], &[("SOURCE_DATE_EPOCH", "x")]);
    assert_eq!(code(&both), 1, "{}", stderr(&both));
}

#[test]
fn stage_selection_mistakes_are_errors() {
    let dir = fresh_tree();
    let out = tamis(&["normalize", "--epoch", EPOCH, "--only", "nosuch", path(dir.path())], &[]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("not in profile debian-image"), "{}", stderr(&out));
    let out = tamis(&["normalize", "--epoch", EPOCH, "--profile", "/nonexistent.toml", path(dir.path())], &[]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("/nonexistent.toml: cannot read profile"), "{}", stderr(&out));
    let out = tamis(&["mtime", "--epoch", EPOCH, "/nonexistent-root"], &[]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("/nonexistent-root"), "{}", stderr(&out));
}

/// Unmounts on drop, so a failing assertion does not leave a mount behind.
struct Mounted(std::path::PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn entries_it_cannot_handle_are_reported_and_the_run_goes_on() {
    let dir = fresh_tree();
    let blocked = dir.path().join("proc");
    fs::create_dir(&blocked).unwrap();
    // As root, a file system mounted in the tree (a chroot's /proc) is not entered; otherwise
    // a directory that cannot be listed stands for the same kind of obstacle.
    let as_root = rustix::process::geteuid().is_root();
    let _mounted = if as_root {
        let ok = Command::new("mount").args(["-t", "tmpfs", "tamis-test", path(&blocked)]).status().unwrap();
        assert!(ok.success(), "mount failed");
        fs::write(blocked.join("inside"), b"x").unwrap();
        Some(Mounted(blocked.clone()))
    } else {
        fs::set_permissions(&blocked, std::os::unix::fs::PermissionsExt::from_mode(0o000)).unwrap();
        None
    };
    let out = tamis(&["mtime", "--epoch", EPOCH, path(dir.path())], &[]);
    // --quiet still says, in one line, that entries were left alone and where they are listed.
    let quiet = tamis(&["mtime", "-q", "--epoch", EPOCH, path(dir.path())], &[]);
    let report = dir.path().join("report.json");
    let quiet_json = tamis(&["mtime", "-q", "--json", path(&report), "--epoch", EPOCH, path(dir.path())], &[]);
    if !as_root {
        fs::set_permissions(&blocked, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    }
    assert_eq!((code(&quiet), code(&quiet_json)), (3, 3), "{}{}", stderr(&quiet), stderr(&quiet_json));
    assert_eq!(stderr(&quiet).lines().count(), 1, "{}", stderr(&quiet));
    assert!(stderr(&quiet).contains("1 problem (entries left alone); run without --quiet"), "{}", stderr(&quiet));
    assert!(stderr(&quiet_json).contains(&format!("1 problem (entries left alone); listed in {}", report.display())));
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    let expected = if as_root { "/proc: another file system is mounted here" } else { "/proc: cannot list directory" };
    assert!(stderr(&out).contains(expected), "{}", stderr(&out));
    // The rest of the tree was done.
    let locale = fs::symlink_metadata(dir.path().join("etc/default/locale")).unwrap();
    assert_eq!(std::os::unix::fs::MetadataExt::mtime(&locale), 1_700_000_000);
    if as_root {
        let inside = fs::metadata(blocked.join("inside")).unwrap();
        assert_ne!(std::os::unix::fs::MetadataExt::mtime(&inside), 1_700_000_000, "entered a mount");
    }
}

/// Bytes, mtime and inode of every entry under `dir`, to tell whether anything there changed.
#[allow(clippy::disallowed_methods, reason = "a snapshot of a directory outside the tree, sorted below")]
fn fingerprints(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>, i64, u64)> {
    use std::os::unix::fs::MetadataExt as _;
    let mut seen = Vec::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(at) = todo.pop() {
        let meta = fs::symlink_metadata(&at).unwrap();
        let bytes = if meta.is_file() { fs::read(&at).unwrap() } else { Vec::new() };
        if meta.is_dir() {
            todo.extend(fs::read_dir(&at).unwrap().map(|e| e.unwrap().path()));
        }
        seen.push((at, bytes, meta.mtime(), meta.ino()));
    }
    seen.sort();
    seen
}

/// A chroot being built has the host's files mounted into it: `/etc/resolv.conf` bind-mounted
/// from the host, an apt cache directory bind-mounted from the same file system (same device
/// number), a file of a tmpfs over `/etc/hostname`. They are not the image's: left alone, said.
#[test]
fn files_and_directories_mounted_into_the_tree_are_left_alone() {
    if !rustix::process::geteuid().is_root() {
        tamis_test_support::skip("mounting needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (tree, host) = (dir.path().join("tree"), dir.path().join("host"));
    for d in ["etc", "var/log", "var/cache/apt/archives"] {
        fs::create_dir_all(tree.join(d)).unwrap();
    }
    fs::create_dir_all(host.join("archives")).unwrap();
    fs::create_dir_all(host.join("tmpfs")).unwrap();
    for (name, contents) in [("etc/resolv.conf", &b""[..]), ("var/log/dpkg.log", b""), ("etc/hostname", b"")] {
        fs::write(tree.join(name), contents).unwrap();
    }
    fs::write(host.join("resolv.conf"), b"nameserver 10.0.0.1\n").unwrap();
    fs::write(host.join("dpkg.log"), b"2026-12-14 install foo\n").unwrap();
    fs::write(host.join("archives/cached.gz"), gzip_with_name()).unwrap();
    let bind = |from: &Path, to: &Path| {
        let ok = Command::new("mount").args(["--bind", path(from), path(to)]).status().unwrap();
        assert!(ok.success(), "mount --bind {} {}", from.display(), to.display());
        Mounted(to.to_owned())
    };
    let ok = Command::new("mount").args(["-t", "tmpfs", "tamis-test", path(&host.join("tmpfs"))]).status().unwrap();
    assert!(ok.success(), "mount failed");
    let tmpfs = Mounted(host.join("tmpfs"));
    fs::write(host.join("tmpfs/hostname"), b"buildd\n").unwrap();
    // Dropped in reverse order: the bind mounts first, then the tmpfs.
    let mounts = [
        bind(&host.join("resolv.conf"), &tree.join("etc/resolv.conf")),
        bind(&host.join("dpkg.log"), &tree.join("var/log/dpkg.log")),
        bind(&host.join("archives"), &tree.join("var/cache/apt/archives")),
        bind(&host.join("tmpfs/hostname"), &tree.join("etc/hostname")),
    ];
    let before = fingerprints(&host);

    let out = tamis(&["normalize", "--epoch", EPOCH, path(&tree)], &[]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    for name in ["/etc/resolv.conf", "/var/log/dpkg.log", "/var/cache/apt/archives", "/etc/hostname"] {
        assert!(
            stderr(&out).contains(&format!("{name}: another file system is mounted here")),
            "{name}: {}",
            stderr(&out)
        );
    }
    // manifest and diff name each such entry once, and diff says in which input.
    // Written beside the tree, never to /dev/null: an output that is a device node is refused
    // now, and a tamis without that refusal renamed the manifest over the host's /dev/null.
    let listing = dir.path().join("manifest.jsonl");
    let manifest = tamis(&["manifest", "-o", path(&listing), path(&tree)], &[]);
    let diff = tamis(&["diff", path(&tree), path(&tree)], &[]);
    assert_eq!((code(&manifest), code(&diff)), (3, 3), "{}{}", stderr(&manifest), stderr(&diff));
    let said = stderr(&manifest);
    assert!(said.contains("tamis: /etc/resolv.conf: another file system is mounted here"), "{said}");
    let said = stderr(&diff);
    let line = format!("tamis: cannot read in {}: /etc/resolv.conf: another file system", tree.display());
    assert!(said.contains(&line), "{said}");
    assert_eq!(fingerprints(&host), before, "a file mounted into the tree was changed");
    drop(mounts);
    drop(tmpfs);
}

/// On an overlay (a live system's root, a container's), a file reports the device of the layer
/// holding it, not the overlay's: it is still the tree's own, walked and changed.
#[test]
fn a_tree_on_an_overlay_is_walked_whole() {
    if !rustix::process::geteuid().is_root() {
        tamis_test_support::skip("mounting needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let [lower, upper, work, merged] = ["lower", "upper", "work", "merged"].map(|d| dir.path().join(d));
    for d in [&lower, &upper, &work, &merged] {
        fs::create_dir_all(d).unwrap();
    }
    // The lower layer on a file system of its own, as a live system's squashfs is.
    let ok = Command::new("mount").args(["-t", "tmpfs", "tamis-test", path(&lower)]).status().unwrap();
    assert!(ok.success(), "mount failed");
    let _lower = Mounted(lower.clone());
    fs::create_dir_all(lower.join("etc")).unwrap();
    fs::write(lower.join("etc/lower"), b"from the lower layer\n").unwrap();
    let options = format!("lowerdir={},upperdir={},workdir={}", path(&lower), path(&upper), path(&work));
    let ok = Command::new("mount").args(["-t", "overlay", "overlay", "-o", &options, path(&merged)]).status().unwrap();
    if !ok.success() {
        tamis_test_support::skip("overlayfs cannot be mounted here");
        return;
    }
    let _mounted = Mounted(merged.clone());
    fs::write(merged.join("etc/upper"), b"written on the overlay\n").unwrap();

    let out = tamis(&["mtime", "--epoch", EPOCH, path(&merged)], &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    for name in ["etc/lower", "etc/upper"] {
        let meta = fs::symlink_metadata(merged.join(name)).unwrap();
        assert_eq!(std::os::unix::fs::MetadataExt::mtime(&meta), 1_700_000_000, "{name}");
    }
}

#[test]
fn stages_and_demo_work() {
    let out = tamis(&["stages"], &[]);
    assert_eq!(code(&out), 0);
    assert!(String::from_utf8_lossy(&out.stdout).lines().any(|l| l.starts_with("mtime ")));
    let out = tamis(&["stages", "--json", "-"], &[]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = json.as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    for stage in
        ["machine-id", "host-keys", "host-config", "logs", "backups", "shadow", "fontconfig", "pyc", "formats", "mtime"]
    {
        assert!(names.contains(&stage), "{stage} missing from {names:?}");
    }

    let out = tamis(&["demo"], &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("after:  0 of 21 entries differ"), "{text}");
    assert!(text.contains("identical"), "{text}");
}

/// A gzip member holding nothing, with mtime 2026-12-14, the name "tmp.x" and OS 0, as a
/// build leaves it.
fn gzip_with_name() -> Vec<u8> {
    let mut gz = vec![0x1f, 0x8b, 8, 0x08, 0x00, 0x20, 0x23, 0x6b, 0, 0];
    gz.extend_from_slice(b"tmp.x\0");
    gz.extend_from_slice(&[3, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    gz
}

#[test]
fn strip_files_and_directories() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("doc")).unwrap();
    fs::write(dir.path().join("doc/changelog.gz"), gzip_with_name()).unwrap();
    fs::write(dir.path().join("initrd.img-6.1.0-28-amd64"), gzip_with_name()).unwrap();
    let initrd = dir.path().join("initrd.img-6.1.0-28-amd64");

    let check = tamis(&["strip", "--epoch", EPOCH, "--check", path(&initrd)], &[]);
    assert_eq!(code(&check), 1, "{}", stderr(&check));
    assert_eq!(fs::read(&initrd).unwrap(), gzip_with_name(), "--check changes nothing");

    // A file named alone, relative to the working directory.
    let one = Command::new(env!("CARGO_BIN_EXE_tamis"))
        .args(["strip", "--epoch", EPOCH, "initrd.img-6.1.0-28-amd64"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(code(&one), 0, "{}", stderr(&one));
    let fixed = fs::read(&initrd).unwrap();
    assert_eq!(&fixed[..10], &[0x1f, 0x8b, 8, 0, 0x00, 0xf1, 0x53, 0x65, 0, 3], "epoch, no name, Unix");

    let report = dir.path().join("report.json");
    let tree = tamis(
        &["strip", "--type", "zip,ar", "--json", path(&report), path(&dir.path().join("doc"))],
        &[("SOURCE_DATE_EPOCH", EPOCH)],
    );
    assert_eq!(code(&tree), 0, "{}", stderr(&tree));
    assert_eq!(fs::read(dir.path().join("doc/changelog.gz")).unwrap(), gzip_with_name(), "gzip not selected");

    let all =
        tamis(&["strip", "--epoch", EPOCH, "--json", path(&report), path(&dir.path().join("doc")), path(&initrd)], &[]);
    assert_eq!(code(&all), 0, "{}", stderr(&all));
    let json: serde_json::Value = serde_json::from_slice(&fs::read(&report).unwrap()).unwrap();
    assert_eq!(json["profile"], "formats");
    assert_eq!(json["stages"][0]["changes"][0]["path"], "/changelog.gz");
    assert_eq!(json["stages"][1]["changes"].as_array().unwrap().len(), 0, "already normal");

    let again = tamis(&["strip", "--epoch", EPOCH, "--check", path(dir.path())], &[]);
    assert_eq!(code(&again), 0, "{}", stderr(&again));
}

#[test]
fn strip_reports_corrupt_files_and_bad_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("cut.gz");
    fs::write(&cut, &gzip_with_name()[..12]).unwrap();
    let out = tamis(&["strip", "--epoch", EPOCH, path(&cut)], &[]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stderr(&out).contains("/cut.gz: gzip: truncated: gzip file name"), "{}", stderr(&out));
    assert_eq!(fs::read(&cut).unwrap(), &gzip_with_name()[..12], "left byte for byte");

    let missing = tamis(&["strip", "--epoch", EPOCH, path(&dir.path().join("nothing.gz"))], &[]);
    assert_eq!(code(&missing), 2, "{}", stderr(&missing));
    let unknown = tamis(&["strip", "--epoch", EPOCH, "--type", "bflt", path(dir.path())], &[]);
    assert_eq!(code(&unknown), 2, "{}", stderr(&unknown));
    assert!(stderr(&unknown).contains("known formats: gzip, zip, ar, png, gettext"), "{}", stderr(&unknown));
}

#[test]
fn the_readme_test_command_works_where_there_is_no_sudo() {
    // Root-only machines (containers, CI images) have no sudo: the README's test command must
    // not start with it, and the script must run as root without it. `--help` stops the script
    // before it installs or runs anything.
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let readme = fs::read_to_string(repo.join("README.md")).unwrap();
    let line = readme.lines().find(|l| l.contains("scripts/test.sh")).expect("no test command in the README");
    let command = line.split('#').next().unwrap().trim();
    // A PATH with what the script needs and no sudo.
    let bin = tempfile::tempdir().unwrap();
    for tool in ["bash", "sh", "env", "sed", "readlink", "dirname", "id"] {
        let found = ["/usr/bin", "/bin"].iter().map(|d| Path::new(d).join(tool)).find(|p| p.exists()).unwrap();
        std::os::unix::fs::symlink(found, bin.path().join(tool)).unwrap();
    }
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("{command} --help"))
        .current_dir(&repo)
        .env("PATH", bin.path())
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{command:?}: {}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("as root"), "{}", String::from_utf8_lossy(&out.stdout));
    // CI runs the same command.
    let ci = fs::read_to_string(repo.join(".ci/run")).unwrap();
    assert!(ci.lines().any(|l| l.trim() == command), ".ci/run does not run {command:?}");
}

/// Runs tamis; a run still going after a minute is killed and the test fails (it blocked).
fn tamis_or_blocked(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tamis"))
        .args(args)
        .env_remove("SOURCE_DATE_EPOCH")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    for _ in 0..600 {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    child.kill().unwrap();
    panic!("tamis {args:?} blocked");
}

#[test]
fn a_fifo_or_a_device_given_as_an_input_is_refused_at_once() {
    let dir = fresh_tree();
    let fifo = dir.path().join("fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let tree = dir.path().join("etc");
    let runs: [&[&str]; 5] = [
        &["diff", path(&fifo), path(&tree)],
        &["manifest", path(&fifo)],
        &["squashfs", "--list", path(&fifo)],
        &["normalize", "--epoch", EPOCH, "--check", "--profile", path(&fifo), path(&tree)],
        &["normalize", "--epoch", EPOCH, "--check", "--profile", "/dev/zero", path(&tree)],
    ];
    for args in runs {
        let out = tamis_or_blocked(args);
        let err = stderr(&out);
        assert_eq!(code(&out), 2, "{args:?}: {err}");
        assert!(err.contains("not a regular file"), "{args:?}: {err}");
    }
}

#[test]
fn a_profile_error_is_printed_once_and_names_the_file() {
    let dir = fresh_tree();
    let cases = [
        ("syntax.toml", "description = \n", "string values must be quoted"),
        ("shape.toml", "[[stage]]\nname = 'mtime'\n", "missing field `description`"),
        ("stage.toml", "description = 'x'\n[[stage]]\nname = 'mtimes'\n", "unknown stage \"mtimes\""),
        ("option.toml", "description = 'x'\n[[stage]]\nname = 'mtime'\npolicy = 'sometimes'\n", "sometimes"),
    ];
    for (name, text, reason) in cases {
        let file = dir.path().join(name);
        fs::write(&file, text).unwrap();
        let out = tamis(&["normalize", "--epoch", EPOCH, "--check", "--profile", path(&file), path(dir.path())], &[]);
        let err = stderr(&out);
        assert_eq!(code(&out), 2, "{name}: {err}");
        assert_eq!(err.matches(reason).count(), 1, "{name}: printed other than once: {err}");
        assert!(err.contains(&format!("profile {}: ", file.display())), "{name}: the file is not named: {err}");
    }
}

/// Makes a directory of `tree` that the user running tamis cannot list, and returns the command
/// prefix that makes it so: as root, tamis runs as `nobody` (root reads everything).
fn unreadable_dir(tree: &Path) -> Vec<String> {
    use std::os::unix::fs::PermissionsExt as _;
    let locked = tree.join("locked");
    fs::create_dir_all(locked.join("inside")).unwrap();
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o000)).unwrap();
    if rustix::process::geteuid().is_root() {
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"].map(String::from).to_vec()
    } else {
        Vec::new()
    }
}

fn run_as(prefix: &[String], args: &[&str]) -> Output {
    let mut all: Vec<&str> = prefix.iter().map(String::as_str).collect();
    let exe = env!("CARGO_BIN_EXE_tamis");
    all.push(exe);
    all.extend_from_slice(args);
    let mut cmd = Command::new(all[0]);
    cmd.args(&all[1..]).env_remove("SOURCE_DATE_EPOCH");
    cmd.output().unwrap()
}

#[test]
fn an_unreadable_entry_exits_3_in_diff_as_in_manifest_and_normalize() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    // `nobody` must reach the trees.
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    for tree in [&a, &b] {
        fs::create_dir_all(tree.join("etc")).unwrap();
        fs::write(tree.join("etc/hostname"), b"debian\n").unwrap();
    }
    let prefix = unreadable_dir(&a);
    unreadable_dir(&b);
    let old = ["mtime", "--set", "--epoch", EPOCH, "-q"];
    for tree in [&a, &b] {
        let out = tamis(&[&old[..], &[path(tree)]].concat(), &[]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
    }
    // The same tree: every entry it could read is equal, one could not be read.
    let diff = run_as(&prefix, &["diff", path(&a), path(&b)]);
    assert_eq!(code(&diff), 3, "diff: {}", stderr(&diff));
    assert!(stderr(&diff).contains("locked"), "the entry is named: {}", stderr(&diff));
    let manifest = run_as(&prefix, &["manifest", path(&a)]);
    assert_eq!(code(&manifest), 3, "manifest: {}", stderr(&manifest));
    let normalize = run_as(&prefix, &["normalize", "--only", "mtime", "--check", "--epoch", EPOCH, path(&a)]);
    assert_eq!(code(&normalize), 3, "normalize: {}", stderr(&normalize));
    // A difference as well: the answer is known, 1.
    fs::write(b.join("etc/hostname"), b"other\n").unwrap();
    let diff = run_as(&prefix, &["diff", path(&a), path(&b)]);
    assert_eq!(code(&diff), 1, "diff: {}", stderr(&diff));
}

#[test]
fn json_file_is_one_form_for_every_command_and_dash_is_stdout() {
    let dir = fresh_tree();
    let report = dir.path().join("out.json");
    let other = tempfile::tempdir().unwrap();
    for args in [
        vec!["stages", "--json", path(&report)],
        vec!["diff", "--json", path(&report), path(dir.path()), path(other.path())],
    ] {
        let _ = fs::remove_file(&report);
        let out = tamis(&args, &[]);
        assert!(code(&out) < 2, "{args:?}: {}", stderr(&out));
        let json: serde_json::Value = serde_json::from_slice(&fs::read(&report).unwrap()).unwrap();
        assert!(json.is_array() || json.is_object(), "{args:?}");
        // The summary for people still goes to standard output.
        assert!(!out.stdout.is_empty(), "{args:?}");
    }
    let out = tamis(&["stages", "--json", "-"], &[]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(json.as_array().is_some_and(|a| a.iter().any(|s| s["name"] == "mtime")));
    // The old flag form no longer parses silently: it would take the next argument as FILE.
    let out = tamis(&["diff", "--json", "--explain", path(dir.path()), path(other.path())], &[]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
}

#[test]
fn a_level_for_xz_is_refused_alike_by_the_command_and_a_profile() {
    let dir = fresh_tree();
    let out_dir = tempfile::tempdir().unwrap();
    let image = out_dir.path().join("image.squashfs");
    let said = "a compression level is for gzip (1-9) and zstd (1-22), not xz";
    let out =
        tamis(&["squashfs", "--comp", "xz", "--level", "5", "--epoch", EPOCH, path(dir.path()), path(&image)], &[]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains(said), "{}", stderr(&out));
    let profile = out_dir.path().join("profile.toml");
    let toml = format!("description = 'x'\n[[stage]]\nname = 'squashfs'\noutput = {image:?}\ncomp = 'xz'\nlevel = 5\n");
    fs::write(&profile, toml).unwrap();
    let out = tamis(&["normalize", "--epoch", EPOCH, "--profile", path(&profile), path(dir.path())], &[]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains(said), "{}", stderr(&out));
    assert!(!image.exists());
}

#[test]
fn squashfs_check_writes_nothing_and_exits_1_when_the_image_would_change() {
    let dir = fresh_tree();
    let out_dir = tempfile::tempdir().unwrap();
    let image = out_dir.path().join("image.squashfs");
    let args = |check: bool| {
        let mut a = vec!["squashfs", "--epoch", EPOCH, "-q"];
        if check {
            a.push("--check");
        }
        a.extend([path(dir.path()), path(&image)]);
        tamis(&a, &[])
    };
    let out = args(true);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    #[allow(clippy::disallowed_methods, reason = "what the directory holds, in any order")]
    let names: Vec<_> = fs::read_dir(out_dir.path()).unwrap().collect();
    assert!(names.is_empty(), "--check wrote {names:?}");
    assert_eq!(code(&args(false)), 0);
    let written = fs::metadata(&image).unwrap().modified().unwrap();
    assert_eq!(code(&args(true)), 0);
    // A second write of the same image leaves the file as it is.
    assert_eq!(code(&args(false)), 0);
    assert_eq!(fs::metadata(&image).unwrap().modified().unwrap(), written);
}

#[test]
fn postinst_check_takes_the_epoch_from_source_date_epoch_too() {
    let cache = tempfile::tempdir().unwrap();
    let out =
        tamis(&["postinst-check", "--cache", path(cache.path()), "hello"], &[("SOURCE_DATE_EPOCH", "not-a-number")]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("SOURCE_DATE_EPOCH"), "{}", stderr(&out));
    let out = tamis(&["postinst-check", "--source-date-epoch", "x", "--cache", path(cache.path()), "hello"], &[]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("--epoch"), "{}", stderr(&out));
}

#[test]
fn an_absurd_thread_count_is_refused_at_once() {
    // Before, the pool was started with that many threads: `-j 100000` ran for minutes
    // creating them, a larger count for ever.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    fs::create_dir(&root).unwrap();
    fs::write(root.join("f"), b"x").unwrap();
    let out_file = dir.path().join("out.sqfs");
    for n in ["100000", "18446744073709551615"] {
        let out = tamis(&["squashfs", "--epoch", EPOCH, "-j", n, path(&root), out_file.to_str().unwrap()], &[]);
        assert_eq!(code(&out), 2, "-j {n}: {}", stderr(&out));
        assert!(stderr(&out).contains("--threads must be at most"), "-j {n}: {}", stderr(&out));
        assert!(!out_file.exists(), "-j {n}: an image was written");
    }
}
