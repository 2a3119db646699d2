//! The `backups` stage.

use std::path::Path;

use serde::Deserialize;
use tamis_core::{Context, Edits, FileKind, Normalizer, Report, Result, Root};

/// Options of the `backups` stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct BackupsOptions {
    /// Remove `/etc/passwd-`, `/etc/group-`, `/etc/shadow-`, `/etc/gshadow-`, `/etc/subuid-`,
    /// `/etc/subgid-` (the shadow tools' copies before their last change). When kept, the
    /// `shadow` stage normalizes `/etc/shadow-` too.
    pub account_backups: bool,
}

impl BackupsOptions {
    /// Remove (or keep) the account tools' backups (`/etc/passwd-`, …).
    #[must_use]
    pub fn with_account_backups(mut self, account_backups: bool) -> Self {
        self.account_backups = account_backups;
        self
    }
}

impl Default for BackupsOptions {
    fn default() -> Self {
        Self { account_backups: true }
    }
}

/// The `backups` stage. See the [crate documentation](crate).
#[derive(Debug, Clone, Copy, Default)]
pub struct Backups {
    options: BackupsOptions,
}

/// Fixed paths of backups made while packages were installed.
pub const FIXED: &[&str] = &[
    "var/lib/dpkg/status-old",
    "var/lib/dpkg/available-old",
    "var/lib/dpkg/diversions-old",
    "var/lib/dpkg/statoverride-old",
    "var/cache/debconf/config.dat-old",
    "var/cache/debconf/templates.dat-old",
    "var/cache/debconf/passwords.dat-old",
    // apt's binary caches of the package lists: rebuilt by the next apt command.
    "var/cache/apt/pkgcache.bin",
    "var/cache/apt/srcpkgcache.bin",
];

/// The previous copies the account tools keep (`/etc/passwd-`, …).
pub const ACCOUNTS: &[&str] =
    &["etc/passwd-", "etc/group-", "etc/shadow-", "etc/gshadow-", "etc/subuid-", "etc/subgid-"];

/// Suffixes dpkg and ucf give to the *old* version of a configuration file they replaced.
/// (`.dpkg-dist`/`.ucf-dist`, the packaged version an administrator has not merged yet, are
/// configuration, and are kept.)
pub const OLD_CONFFILE: &[&str] = &[".dpkg-old", ".dpkg-bak", ".ucf-old"];

impl Backups {
    /// The stage's name.
    pub const NAME: &'static str = "backups";
    /// One line for `tamis stages`.
    pub const SUMMARY: &'static str =
        "remove dpkg/debconf -old databases, /etc/passwd- and siblings, ucf copies, *.dpkg-old, apt's pkgcache";

    /// A stage with these options.
    pub fn new(options: BackupsOptions) -> Self {
        Self { options }
    }
}

impl Normalizer for Backups {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn run(&self, root: &Root, cx: &Context<'_>) -> Result<Report> {
        let mut edits = Edits::new(root, cx, Self::NAME);
        for path in FIXED {
            edits.examined(1);
            edits.remove(Path::new(path), "backup or cache written while packages were installed");
        }
        if self.options.account_backups {
            for path in ACCOUNTS {
                edits.examined(1);
                edits.remove(Path::new(path), "copy of an account database before the build's last change");
            }
        }
        // ucf keeps numbered copies of its hash file and registry: hashfile.0, registry.0, …
        let ucf = Path::new("var/lib/ucf");
        if root.is_dir(ucf) {
            for entry in root.walk_under(ucf)?.entries() {
                let name = entry.path.file_name().unwrap_or_default().to_string_lossy();
                let numbered = ["hashfile.", "registry."].iter().any(|prefix| {
                    name.strip_prefix(prefix).is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                });
                if numbered && entry.path.parent() == Some(ucf) && entry.meta.kind == FileKind::File {
                    edits.examined(1);
                    edits.remove(&entry.path, "ucf's copy of its database before the build's last change");
                }
            }
        }
        let etc = Path::new("etc");
        if root.is_dir(etc) {
            for entry in root.walk_under(etc)?.entries() {
                let name = entry.path.file_name().unwrap_or_default().to_string_lossy();
                if entry.meta.kind == FileKind::File && OLD_CONFFILE.iter().any(|s| name.ends_with(s)) {
                    edits.examined(1);
                    edits.remove(&entry.path, "old version of a configuration file replaced during the build");
                }
            }
        }
        Ok(edits.finish())
    }
}
