//! The identity stages on trees holding what real builds leave: keys made by the real
//! ssh-keygen, a machine-id and its D-Bus copy, the build host's name and resolver.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use tamis_core::{Context, Epoch, Mode, Normalizer, Report, Root};
use tamis_identity::{
    HostConfig, HostConfigOptions, HostKeys, HostKeysOptions, HostsPolicy, MachineId, MachineIdOptions,
    ResolvConfPolicy,
};

fn run(stage: &dyn Normalizer, root: &Path, mode: Mode) -> Report {
    let cx = Context::new(Epoch::from_secs(1_700_000_000).unwrap(), mode);
    stage.run(&Root::open(root).unwrap(), &cx).unwrap()
}

fn write(root: &Path, rel: &str, contents: &str) {
    let path = root.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, contents).unwrap();
}

#[test]
fn machine_id_is_emptied_and_dbus_reads_through_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "etc/machine-id", "0123456789abcdef0123456789abcdef\n");
    fs::set_permissions(root.join("etc/machine-id"), fs::Permissions::from_mode(0o444)).unwrap();
    write(root, "var/lib/dbus/machine-id", "0123456789abcdef0123456789abcdef\n");
    write(root, "var/lib/systemd/random-seed", "entropy");

    let check = run(&MachineId::default(), root, Mode::Check);
    assert_eq!(check.changes.len(), 3);
    assert_eq!(fs::metadata(root.join("etc/machine-id")).unwrap().len(), 33, "check changes nothing");

    let report = run(&MachineId::new(MachineIdOptions::default()), root, Mode::Apply);
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    let id = fs::metadata(root.join("etc/machine-id")).unwrap();
    assert_eq!((id.len(), id.mode() & 0o777), (0, 0o444), "emptied, not deleted, mode kept");
    assert_eq!(fs::read_link(root.join("var/lib/dbus/machine-id")).unwrap(), Path::new("/etc/machine-id"));
    assert!(!root.join("var/lib/systemd/random-seed").exists());
    assert!(run(&MachineId::default(), root, Mode::Check).is_clean(), "idempotent");
}

#[test]
fn ssh_host_keys_made_by_ssh_keygen_are_removed_and_regenerated_at_first_boot() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::create_dir_all(root.join("etc/ssh")).unwrap();
    fs::create_dir_all(root.join("etc/systemd/system")).unwrap();
    fs::create_dir_all(root.join("usr/bin")).unwrap();
    fs::write(root.join("usr/bin/ssh-keygen"), "").unwrap();
    fs::write(root.join("etc/ssh/sshd_config"), "Port 22\n").unwrap();
    let out = Command::new("ssh-keygen").args(["-A", "-f"]).arg(root).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(root.join("etc/ssh/ssh_host_ed25519_key").exists());

    let report = run(&HostKeys::new(HostKeysOptions::default().with_regenerate(true)), root, Mode::Apply);
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    let tree = Root::open(root.join("etc/ssh")).unwrap().walk().unwrap();
    let left: Vec<String> = tree.entries().iter().skip(1).map(|e| e.path.display().to_string()).collect();
    assert_eq!(left, ["sshd_config"], "only the configuration stays");
    let unit = fs::read_to_string(root.join("etc/systemd/system/tamis-regenerate-host-keys.service")).unwrap();
    assert!(unit.contains("ssh-keygen -A") && unit.contains("Before=ssh.service"), "{unit}");
    let wants = root.join("etc/systemd/system/sysinit.target.wants/tamis-regenerate-host-keys.service");
    assert_eq!(fs::read_link(wants).unwrap(), Path::new("/etc/systemd/system/tamis-regenerate-host-keys.service"));
    if Path::new("/usr/bin/systemd-analyze").exists() {
        let out = Command::new("systemd-analyze")
            .arg("verify")
            .arg(root.join("etc/systemd/system/tamis-regenerate-host-keys.service"))
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(!said.contains("tamis-regenerate-host-keys.service:"), "systemd-analyze verify: {said}");
    }
    assert!(run(&HostKeys::new(HostKeysOptions::default().with_regenerate(true)), root, Mode::Check).is_clean());
}

#[test]
fn build_host_configuration_is_replaced_by_the_profiles() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "etc/hostname", "buildd-42\n");
    write(root, "etc/mailname", "buildd-42.example\n");
    write(root, "etc/hosts", "127.0.0.1 localhost\n10.1.2.3 internal-mirror\n");
    write(root, "etc/resolv.conf", "nameserver 10.0.0.1\n");
    write(root, "etc/adjtime", "0.012 1790000000 0.000000\n1790000000\nUTC\n");
    write(root, "etc/udev/rules.d/70-persistent-net.rules", "SUBSYSTEM==\"net\"\n");
    write(root, "etc/udev/rules.d/99-local.rules", "# mine\n");

    let options = HostConfigOptions::default()
        .with_hostname("tails")
        .with_hosts(HostsPolicy::Template)
        .with_resolv_conf(ResolvConfPolicy::Empty);
    let report = run(&HostConfig::new(options.clone()), root, Mode::Apply);
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(fs::read_to_string(root.join("etc/hostname")).unwrap(), "tails\n");
    assert_eq!(fs::read_to_string(root.join("etc/mailname")).unwrap(), "tails\n");
    let hosts = fs::read_to_string(root.join("etc/hosts")).unwrap();
    assert!(hosts.contains("127.0.1.1\ttails\n") && !hosts.contains("internal-mirror"), "{hosts}");
    assert_eq!(fs::read_to_string(root.join("etc/resolv.conf")).unwrap(), "");
    assert_eq!(fs::read_to_string(root.join("etc/adjtime")).unwrap(), "0.0 0 0.0\n0\nUTC\n");
    assert!(!root.join("etc/udev/rules.d/70-persistent-net.rules").exists());
    assert!(root.join("etc/udev/rules.d/99-local.rules").exists());
    assert!(run(&HostConfig::new(options), root, Mode::Check).is_clean());

    // A resolver managed through a link (systemd-resolved) is left alone.
    fs::remove_file(root.join("etc/resolv.conf")).unwrap();
    std::os::unix::fs::symlink("../run/systemd/resolve/stub-resolv.conf", root.join("etc/resolv.conf")).unwrap();
    assert!(
        run(&HostConfig::default(), root, Mode::Apply).changes.iter().all(|c| c.path != Path::new("etc/resolv.conf"))
    );
}

#[test]
fn a_host_name_that_is_no_host_name_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "etc/hostname", "buildd-42\n");
    write(root, "etc/mailname", "buildd-42\n");
    write(root, "etc/hosts", "127.0.0.1 localhost\n");
    for bad in ["a/b", "two\nlines", "", "-lead", "trail-", "has space", "a..b", &"x".repeat(65)] {
        let options = HostConfigOptions::default().with_hostname(bad);
        let report = run(&HostConfig::new(options), root, Mode::Apply);
        assert_eq!(report.problems.len(), 1, "{bad:?}: {:?}", report.problems);
        assert!(report.problems[0].reason.contains("RFC 1123") || report.problems[0].reason.contains("1 to 64"));
        assert_eq!(fs::read_to_string(root.join("etc/hostname")).unwrap(), "buildd-42\n", "{bad:?}");
        assert_eq!(fs::read_to_string(root.join("etc/mailname")).unwrap(), "buildd-42\n", "{bad:?}");
        assert_eq!(fs::read_to_string(root.join("etc/hosts")).unwrap(), "127.0.0.1 localhost\n", "{bad:?}");
    }
    for good in ["debian", "tails-7", "host1.example.org", "A1"] {
        assert_eq!(tamis_identity::check_hostname(good), Ok(()), "{good}");
    }
}
