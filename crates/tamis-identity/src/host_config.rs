//! The `host-config` stage.

use std::path::Path;

use serde::Deserialize;
use tamis_core::{Context, Edits, FileKind, Normalizer, Report, Result, Root};

/// What to do with `/etc/hosts`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum HostsPolicy {
    /// Debian's default contents, with the profile's host name for `127.0.1.1`.
    #[default]
    Template,
    /// Leave it as the build wrote it.
    Keep,
}

/// What to do with `/etc/resolv.conf` when it is a file (a link, as systemd-resolved makes it,
/// is always kept).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ResolvConfPolicy {
    /// Emptied: the network configuration of the booted machine writes it.
    #[default]
    Empty,
    /// Removed.
    Remove,
    /// Left as the build wrote it (the build host's name servers).
    Keep,
}

/// Options of the `host-config` stage.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct HostConfigOptions {
    /// The host name written to `/etc/hostname`, `/etc/hosts` and `/etc/mailname`: labels of
    /// letters, digits and hyphens (RFC 1123), checked when a profile is read ([`check_hostname`]).
    #[serde(deserialize_with = "hostname")]
    pub hostname: String,
    /// `/etc/hosts`.
    pub hosts: HostsPolicy,
    /// `/etc/resolv.conf`.
    pub resolv_conf: ResolvConfPolicy,
}

impl HostConfigOptions {
    /// The host name to write.
    #[must_use]
    pub fn with_hostname(mut self, hostname: impl Into<String>) -> Self {
        self.hostname = hostname.into();
        self
    }

    /// What to do with `/etc/hosts`.
    #[must_use]
    pub fn with_hosts(mut self, hosts: HostsPolicy) -> Self {
        self.hosts = hosts;
        self
    }

    /// What to do with `/etc/resolv.conf`.
    #[must_use]
    pub fn with_resolv_conf(mut self, resolv_conf: ResolvConfPolicy) -> Self {
        self.resolv_conf = resolv_conf;
        self
    }
}

impl Default for HostConfigOptions {
    fn default() -> Self {
        Self { hostname: "debian".to_owned(), hosts: HostsPolicy::default(), resolv_conf: ResolvConfPolicy::default() }
    }
}

/// A name that cannot be a host name, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HostnameError {
    /// Empty, or longer than 64 bytes.
    #[error("host name {0:?}: must be 1 to 64 characters long")]
    Length(String),
    /// A label that is not 1 to 63 letters, digits or inner hyphens.
    #[error(
        "host name {0:?}: each dot-separated label must be 1 to 63 letters, digits or hyphens, not starting or ending with a hyphen (RFC 1123)"
    )]
    Label(String),
}

/// Why `name` cannot be a host name, if it cannot: RFC 1123 labels (1 to 63 letters, digits
/// and hyphens, no hyphen first or last) separated by dots, 64 bytes at most (Linux's
/// `HOST_NAME_MAX`). A `/`, a space or a newline written to `/etc/hostname` would give the
/// booted system a name that is no name, or more lines than the file has.
pub fn check_hostname(name: &str) -> std::result::Result<(), HostnameError> {
    if name.is_empty() || name.len() > 64 {
        return Err(HostnameError::Length(name.to_owned()));
    }
    for label in name.split('.') {
        let ok = (1..=63).contains(&label.len())
            && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(HostnameError::Label(name.to_owned()));
        }
    }
    Ok(())
}

fn hostname<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<String, D::Error> {
    let name = String::deserialize(d)?;
    check_hostname(&name).map_err(serde::de::Error::custom)?;
    Ok(name)
}

/// The `host-config` stage. See the [crate documentation](crate).
#[derive(Debug, Clone, Default)]
pub struct HostConfig {
    options: HostConfigOptions,
}

impl HostConfig {
    /// The stage's name.
    pub const NAME: &'static str = "host-config";
    /// One line for `tamis stages`.
    pub const SUMMARY: &'static str = "set host name, /etc/hosts and mailname from the profile; empty resolv.conf; reset adjtime; drop udev persistent rules";

    /// A stage with these options.
    pub fn new(options: HostConfigOptions) -> Self {
        Self { options }
    }

    fn hosts(&self) -> String {
        format!(
            "127.0.0.1\tlocalhost\n127.0.1.1\t{}\n\n\
             # The following lines are desirable for IPv6 capable hosts\n\
             ::1     localhost ip6-localhost ip6-loopback\n\
             ff02::1 ip6-allnodes\n\
             ff02::2 ip6-allrouters\n",
            self.options.hostname
        )
    }
}

/// `/etc/adjtime` with no drift and no last adjustment; the third line (UTC or LOCAL) is what
/// the system needs and is kept.
fn reset_adjtime(old: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(old).ok()?;
    let clock = text.lines().nth(2).map(str::trim).filter(|l| *l == "UTC" || *l == "LOCAL")?;
    Some(format!("0.0 0 0.0\n0\n{clock}\n").into_bytes())
}

/// Rewrites a regular file, or reports what is there instead.
fn set_file(edits: &mut Edits<'_>, rel: &Path, contents: &[u8], reason: &str) {
    match edits.root().try_lstat(rel) {
        Ok(Some(meta)) if meta.kind == FileKind::File => {
            edits.rewrite(rel, contents, reason);
        }
        Ok(Some(meta)) => {
            let shown = tamis_core::display_path(rel);
            edits.problem(rel, format!("{shown}: is a {}, not a file; left as it is", meta.kind.noun()));
        }
        Ok(None) => {}
        Err(e) => edits.error(rel, &e),
    }
}

impl Normalizer for HostConfig {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn run(&self, root: &Root, cx: &Context<'_>) -> Result<Report> {
        let mut edits = Edits::new(root, cx, Self::NAME);
        let name = &self.options.hostname;
        edits.examined(6);
        if let Err(why) = check_hostname(name) {
            // Options built in code, not read from a profile: nothing written with that name.
            edits.problem(
                Path::new("etc/hostname"),
                format!("{why}; /etc/hostname, /etc/mailname and /etc/hosts left as they are"),
            );
        } else {
            let line = format!("{name}\n");
            set_file(&mut edits, Path::new("etc/hostname"), line.as_bytes(), "host name of the build host");
            set_file(&mut edits, Path::new("etc/mailname"), line.as_bytes(), "mail name of the build host");
            if self.options.hosts == HostsPolicy::Template {
                set_file(&mut edits, Path::new("etc/hosts"), self.hosts().as_bytes(), "copied from the build host");
            }
        }
        let resolv = Path::new("etc/resolv.conf");
        let resolv_is_file = matches!(root.try_lstat(resolv), Ok(Some(ref m)) if m.kind == FileKind::File);
        match self.options.resolv_conf {
            ResolvConfPolicy::Empty if resolv_is_file => {
                edits.truncate(resolv, "name servers of the build host");
            }
            ResolvConfPolicy::Remove if resolv_is_file => {
                edits.remove(resolv, "name servers of the build host");
            }
            _ => {}
        }
        let adjtime = Path::new("etc/adjtime");
        if let Ok(Some(meta)) = root.try_lstat(adjtime)
            && meta.kind == FileKind::File
        {
            match root.read(adjtime).map(|old| reset_adjtime(&old)) {
                Ok(Some(new)) => {
                    edits.rewrite(adjtime, &new, "clock drift and adjustment time of the build host");
                }
                Ok(None) => {
                    edits.problem(adjtime, "/etc/adjtime: not in the three-line format of hwclock; left as it is");
                }
                Err(e) => edits.error(adjtime, &e),
            }
        }
        let rules = Path::new("etc/udev/rules.d");
        if root.is_dir(rules) {
            for entry in root.walk_under(rules)?.entries() {
                let file = entry.path.file_name().unwrap_or_default().to_string_lossy();
                if entry.path.parent() == Some(rules) && file.starts_with("70-persistent-") && file.ends_with(".rules")
                {
                    edits.examined(1);
                    edits.remove(&entry.path, "device names of the build host's hardware");
                }
            }
        }
        Ok(edits.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adjtime_keeps_the_clock_mode_only() {
        let old = b"-0.001234 1700000000 0.000000\n1700000000\nLOCAL\n";
        assert_eq!(reset_adjtime(old).unwrap(), b"0.0 0 0.0\n0\nLOCAL\n");
        assert_eq!(reset_adjtime(b"0.0 0 0.0\n0\nUTC\n").unwrap(), b"0.0 0 0.0\n0\nUTC\n");
        assert!(reset_adjtime(b"garbage").is_none());
    }
}
