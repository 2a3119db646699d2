//! The `host-keys` stage.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use tamis_core::{Action, Context, Edits, FileKind, Normalizer, Report, Result, Root};

/// Options of the `host-keys` stage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct HostKeysOptions {
    /// Install a systemd unit that creates new SSH host keys and a new snakeoil pair at first
    /// boot (when they are missing), before the SSH server starts.
    #[serde(default)]
    pub regenerate: bool,
}

impl HostKeysOptions {
    /// Install (or not) the first-boot unit that makes new keys.
    #[must_use]
    pub fn with_regenerate(mut self, regenerate: bool) -> Self {
        self.regenerate = regenerate;
        self
    }
}

/// The `host-keys` stage. See the [crate documentation](crate).
#[derive(Debug, Clone, Copy, Default)]
pub struct HostKeys {
    options: HostKeysOptions,
}

/// Other secrets generated at build time: the ssl-cert package's snakeoil pair, and GnuPG's
/// trust database (it records its creation time).
pub const SECRETS: &[&str] =
    &["etc/ssl/certs/ssl-cert-snakeoil.pem", "etc/ssl/private/ssl-cert-snakeoil.key", "root/.gnupg/trustdb.gpg"];

const UNIT_NAME: &str = "tamis-regenerate-host-keys.service";

/// The first-boot unit. Its conditions make it run only while a key is missing, and it is
/// ordered before the SSH server, whose start fails without host keys.
const UNIT: &str = "\
[Unit]
Description=Create the SSH host keys and snakeoil certificate removed from the image
Documentation=man:ssh-keygen(1) man:make-ssl-cert(8)
DefaultDependencies=no
After=local-fs.target
Before=ssh.service sysinit.target
ConditionPathExists=|!/etc/ssh/ssh_host_ed25519_key
ConditionPathExists=|!/etc/ssh/ssh_host_rsa_key
ConditionPathExists=|!/etc/ssh/ssh_host_ecdsa_key

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -c 'if [ -x /usr/bin/ssh-keygen ]; then /usr/bin/ssh-keygen -A; fi'
ExecStart=/bin/sh -c 'if [ -x /usr/sbin/make-ssl-cert ]; then /usr/sbin/make-ssl-cert generate-default-snakeoil; fi'

[Install]
WantedBy=sysinit.target
";

impl HostKeys {
    /// The stage's name.
    pub const NAME: &'static str = "host-keys";
    /// One line for `tamis stages`.
    pub const SUMMARY: &'static str =
        "remove SSH host keys, the snakeoil pair and root's GnuPG trustdb generated at build time";

    /// A stage with these options.
    pub fn new(options: HostKeysOptions) -> Self {
        Self { options }
    }

    fn install_unit(edits: &mut Edits<'_>) {
        let unit = PathBuf::from("etc/systemd/system").join(UNIT_NAME);
        let wants = PathBuf::from("etc/systemd/system/sysinit.target.wants").join(UNIT_NAME);
        match edits.root().try_lstat(&unit) {
            Ok(None) => {
                let reason = "regenerates the removed keys at first boot";
                edits
                    .apply(&unit, Action::Create, reason, None, |root| root.create_file(&unit, UNIT.as_bytes(), 0o644));
            }
            Ok(Some(_)) => {
                edits.rewrite(&unit, UNIT.as_bytes(), "the first-boot key unit as this tamis writes it");
            }
            Err(e) => edits.error(&unit, &e),
        }
        match edits.root().try_lstat(&wants) {
            Ok(Some(_)) => {
                edits.symlink(
                    &wants,
                    &Path::new("/etc/systemd/system").join(UNIT_NAME),
                    "enables the first-boot key unit",
                );
            }
            Ok(None) => {
                let target = Path::new("/etc/systemd/system").join(UNIT_NAME);
                edits.apply(&wants, Action::Create, "enables the first-boot key unit", None, |root| {
                    root.create_dir(Path::new("etc/systemd/system/sysinit.target.wants"), 0o755)?;
                    root.create_symlink(&wants, &target)
                });
            }
            Err(e) => edits.error(&wants, &e),
        }
    }
}

impl Normalizer for HostKeys {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn run(&self, root: &Root, cx: &Context<'_>) -> Result<Report> {
        let mut edits = Edits::new(root, cx, Self::NAME);
        let ssh = Path::new("etc/ssh");
        let has_ssh = root.is_dir(ssh);
        if has_ssh {
            let tree = root.walk_under(ssh)?;
            for entry in tree.entries() {
                let in_ssh = entry.path.parent() == Some(ssh);
                let name = entry.path.file_name().unwrap_or_default().to_string_lossy();
                if in_ssh && name.starts_with("ssh_host_") && entry.meta.kind != FileKind::Dir {
                    edits.examined(1);
                    edits.remove(
                        &entry.path,
                        "host key generated at build time, shared by every machine booted from the image",
                    );
                }
            }
        }
        // make-ssl-cert also links the certificate under its subject hash.
        let certs = Path::new("etc/ssl/certs");
        if root.is_dir(certs) {
            for entry in root.walk_under(certs)?.entries() {
                let snakeoil = entry.meta.kind == FileKind::Symlink
                    && entry.path.parent() == Some(certs)
                    && root
                        .read_link(&entry.path)
                        .is_ok_and(|t| t.file_name() == Some("ssl-cert-snakeoil.pem".as_ref()));
                if snakeoil {
                    edits.examined(1);
                    edits.remove(&entry.path, "hash link to the snakeoil certificate generated at build time");
                }
            }
        }
        for secret in SECRETS {
            edits.examined(1);
            edits.remove(
                Path::new(secret),
                "secret generated at build time, shared by every machine booted from the image",
            );
        }
        // The unit is for images whose keys something regenerates: OpenSSH or ssl-cert.
        let generators = ["usr/bin/ssh-keygen", "usr/sbin/make-ssl-cert"];
        let has_generator = generators.iter().any(|g| matches!(root.try_lstat(Path::new(g)), Ok(Some(_))));
        if self.options.regenerate && has_generator {
            let units = Path::new("etc/systemd/system");
            if root.is_dir(units) {
                Self::install_unit(&mut edits);
            } else {
                edits.problem(units, "/etc/systemd/system: missing, so no first-boot unit can regenerate the keys");
            }
        }
        Ok(edits.finish())
    }
}
