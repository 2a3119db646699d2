//! The base chroot both installations start from: given, or made by mmdebstrap and cached.
//!
//! A made base is cached under `CACHE/bases/SUITE-VARIANT-DAY/` (`root/` and `base.json`):
//! one per suite, variant and day (UTC), so that every check of one day installs against the
//! same package lists, and the next day's checks see the archive's updates. It keeps apt's
//! lists (`--skip=cleanup/apt/lists`), so an installation needs no `apt-get update`, and both
//! sides resolve the same versions; it has a `policy-rc.d` that forbids starting services.
//! Old days are never removed by the check (a running check may still use them as an
//! overlay's lower layer): delete `CACHE/bases/*` to prune.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};
use tamis_core::Root;
use tamis_manifest::Manifest;

use crate::sandbox::{Cleanup, run};
use crate::{Error, Result};

/// Where the base comes from: what a job names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum BaseSpec {
    /// An existing chroot, used read-only.
    Chroot {
        /// Its directory.
        path: PathBuf,
    },
    /// Made by mmdebstrap from the host's apt sources.
    Suite {
        /// The suite (`bookworm`).
        suite: String,
        /// mmdebstrap's variant (`apt`, `minbase`, …).
        variant: String,
    },
}

/// The variants mmdebstrap knows that give a system apt can install into.
pub const VARIANTS: &[&str] = &["apt", "essential", "required", "minbase", "buildd", "important", "standard"];

/// The policy-rc.d written into a made base: maintainer scripts may not start services.
pub(crate) const POLICY_RC_D: &str = "#!/bin/sh\n# tamis postinst-check: start no service in the chroot.\nexit 101\n";

/// The base actually used: where it is and what it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Base {
    /// What was asked for.
    pub spec: BaseSpec,
    /// The chroot's directory.
    pub root: PathBuf,
    /// The day (UTC, `YYYY-MM-DD`) a made base was made, its cache key with suite and variant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub day: Option<String>,
    /// The manifest digest of the base (`tamis manifest`): the snapshot the check ran against.
    pub digest: String,
    /// The modification time of its `/var/lib/dpkg/status`: when its package set last changed,
    /// the epoch tamis normalizes both installations to.
    pub status_mtime: i64,
}

impl Base {
    /// Describes a given chroot.
    pub fn given(path: &Path) -> Result<Self> {
        let root = Root::open(path)?;
        let status = root
            .lstat(Path::new("var/lib/dpkg/status"))
            .map_err(|_| Error::Invalid(format!("{}: not a Debian chroot (no var/lib/dpkg/status)", path.display())))?;
        let digest = Manifest::of_tree(&root)?.digest();
        Ok(Self {
            spec: BaseSpec::Chroot { path: path.to_owned() },
            root: path.to_owned(),
            day: None,
            digest,
            status_mtime: status.mtime.secs,
        })
    }

    /// The cached base of `suite`, `variant` and `day` under `cache`, made with mmdebstrap from
    /// `sources` (apt sources files, given to mmdebstrap as its mirror) when missing.
    pub fn cached_or_made(
        cache: &Path,
        suite: &str,
        variant: &str,
        day: &str,
        sources: &[PathBuf],
        log: &dyn Fn(&str),
    ) -> Result<Self> {
        let plain = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
        if !plain(suite) || !plain(day) {
            return Err(Error::Invalid(format!("suite {suite:?} or day {day:?} is not a plain name")));
        }
        if !VARIANTS.contains(&variant) {
            return Err(Error::Invalid(format!("variant {variant:?}: one of {}", VARIANTS.join(", "))));
        }
        let bases = cache.join("bases");
        let dir = bases.join(format!("{suite}-{variant}-{day}"));
        let stamp = dir.join("base.json");
        if let Ok(text) = std::fs::read(&stamp) {
            let base: Self = serde_json::from_slice(&text)
                .map_err(|e| Error::Invalid(format!("{}: {e} (delete the directory)", stamp.display())))?;
            return Ok(base);
        }
        if sources.is_empty() {
            return Err(Error::Invalid("no apt sources configured on this host (/etc/apt/sources.list*)".into()));
        }
        // mmdebstrap takes a sources file verbatim: the suite argument does not change it.
        if !sources.iter().any(|f| std::fs::read_to_string(f).is_ok_and(|text| suites(&text).contains(&suite))) {
            return Err(Error::Invalid(format!(
                "suite {suite} is not in the host's apt sources ({}); make a base yourself and give --chroot",
                sources.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
            )));
        }
        std::fs::create_dir_all(&bases).map_err(|e| Error::io(&bases, e))?;
        let cleanup = Cleanup::new();
        let work = bases.join(format!(".{suite}-{variant}-{day}.new-{}", std::process::id()));
        cleanup.dir(&work);
        std::fs::create_dir(&work).map_err(|e| Error::io(&work, e))?;
        let root = work.join("root");
        log(&format!("making the base chroot ({suite}, variant {variant}) with mmdebstrap"));
        let hook = format!(
            "printf '%s' '{}' > \"$1/usr/sbin/policy-rc.d\" && chmod 755 \"$1/usr/sbin/policy-rc.d\"",
            POLICY_RC_D.replace('\'', "")
        );
        run(
            // Own PID and mount namespaces, killed with the check (see sandbox::install_command):
            // mmdebstrap's mounts in the new chroot are never visible here.
            Command::new("setpriv")
                .args(["--pdeathsig", "KILL", "--", "unshare", "--mount", "--propagation", "private"])
                .args(["--pid", "--fork", "--kill-child", "--mount-proc", "--", "mmdebstrap"])
                .args(["--mode=root", &format!("--variant={variant}"), "--skip=cleanup/apt/lists"])
                .arg(format!("--customize-hook={hook}"))
                .arg(suite)
                .arg(&root)
                .args(sources)
                .env_remove("SOURCE_DATE_EPOCH"),
            "make the base chroot with mmdebstrap",
        )?;
        let mut base = Self::given(&root)?;
        base.spec = BaseSpec::Suite { suite: suite.to_owned(), variant: variant.to_owned() };
        base.day = Some(day.to_owned());
        base.root = dir.join("root");
        let json = serde_json::to_vec_pretty(&base).map_err(|e| Error::Invalid(e.to_string()))?;
        std::fs::write(work.join("base.json"), json).map_err(|e| Error::io(&work, e))?;
        match std::fs::rename(&work, &dir) {
            Ok(()) => {}
            // Made meanwhile by another check: use that one (ours is removed by the cleanup).
            Err(_) if dir.join("base.json").exists() => {
                return Self::cached_or_made(cache, suite, variant, day, &[], log);
            }
            Err(e) => return Err(Error::io(&dir, e)),
        }
        Ok(base)
    }
}

/// The suites an apt sources file names: `Suites:` fields (deb822) and the suite of each
/// one-line `deb` entry.
fn suites(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("Suites:") {
            out.extend(rest.split_whitespace());
        } else if let Some(rest) = line.strip_prefix("deb ") {
            // deb [options] URI SUITE COMPONENTS…
            let rest = match rest.trim_start().strip_prefix('[') {
                Some(r) => r.split_once(']').map_or("", |(_, after)| after),
                None => rest,
            };
            out.extend(rest.split_whitespace().nth(1));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suites_of_both_formats() {
        let deb822 = "Types: deb\nURIs: http://mirror.invalid/debian\nSuites: bookworm bookworm-updates\n\
                      Components: main\n";
        assert_eq!(suites(deb822), ["bookworm", "bookworm-updates"]);
        let list = "# comment\ndeb [arch=amd64 signed-by=/k.gpg] http://mirror.invalid/debian trixie main\n\
                    deb http://mirror.invalid/debian-security bookworm-security main\ndeb-src x y z\n";
        assert_eq!(suites(list), ["trixie", "bookworm-security"]);
    }
}
