//! Each difference between the two installations in one class: the package manager's own, one
//! that tamis removes (and which stage), or one that remains: the package's.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use tamis_manifest::{Cause, Comparison, Group};
use tamis_pipeline::Outcome;

/// Files apt and dpkg themselves write differently on every installation, whatever the
/// package: by exact path, or by prefix when the path ends in `/`. They are listed in every
/// report under their own heading, never hidden, and never make a package nondeterministic.
pub const PACKAGE_MANAGER: &[(&str, &str)] = &[
    ("/var/log/apt/", "apt's logs: the times and the terminal output of this installation"),
    ("/var/log/dpkg.log", "dpkg's log: the time of every step"),
    ("/var/log/alternatives.log", "update-alternatives' log: the time of every step"),
    ("/var/cache/apt/pkgcache.bin", "apt's binary cache of the package lists (rebuilt at will)"),
    ("/var/cache/apt/srcpkgcache.bin", "apt's binary cache of the package lists (rebuilt at will)"),
    ("/var/lib/dpkg/status-old", "dpkg's copy of its previous database"),
    ("/var/lib/dpkg/diversions-old", "dpkg's copy of its previous database"),
    ("/var/lib/dpkg/statoverride-old", "dpkg's copy of its previous database"),
    ("/var/cache/debconf/config.dat-old", "debconf's copy of its previous database"),
    ("/var/cache/debconf/templates.dat-old", "debconf's copy of its previous database"),
    ("/var/cache/debconf/passwords.dat-old", "debconf's copy of its previous database"),
    (
        "/var/cache/ldconfig/aux-cache",
        "ldconfig's auxiliary cache (inode numbers, times), written by libc-bin's trigger for any library",
    ),
];

/// Why apt or dpkg write `path` differently each time, if they do.
pub fn package_manager_reason(path: &str) -> Option<&'static str> {
    PACKAGE_MANAGER
        .iter()
        .find(|(p, _)| if p.ends_with('/') { path.starts_with(p) } else { path == *p })
        .map(|(_, why)| *why)
}

/// The class of a difference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "class", rename_all = "kebab-case")]
pub enum Class {
    /// Written differently by apt or dpkg on every installation (see [`PACKAGE_MANAGER`]).
    PackageManager {
        /// Why.
        reason: &'static str,
    },
    /// Gone after tamis' pipeline ran on both installations.
    TamisRemoves {
        /// The stages that remove it: the cause's stage when it is recognised, else every stage
        /// that changed the entry in either installation.
        stages: Vec<String>,
    },
    /// Still there after tamis' pipeline: the package's own nondeterminism.
    Remains,
    /// A modification time alone, in a check where nothing that counts differed: tamis'
    /// pipeline was not run (the verdict is deterministic whatever it would do).
    NotNormalized,
}

/// One entry that differs between the two installations.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// The path inside the chroot.
    pub path: String,
    /// How it differs.
    pub group: Group,
    /// The fields that differ (empty when on one side only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<&'static str>,
    /// The cause recognised from the path and bytes, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<Cause>,
    /// What was seen.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detail: String,
    /// Its class.
    #[serde(flatten)]
    pub class: Class,
}

impl Finding {
    /// Whether it makes the installation nondeterministic: not the package manager's, and not
    /// a modification time alone (the time of installation, on every entry written; images
    /// clamp them, and the shifted clock changes them all).
    pub fn counts(&self) -> bool {
        !matches!(self.class, Class::PackageManager { .. }) && self.group != Group::MtimeOnly
    }
}

/// Whether anything that counts differs in `before` (the two installations): something other
/// than a modification time alone, outside the package manager's own files. Only then can
/// tamis' pipeline change what the check says.
pub(crate) fn anything_counts(before: &Comparison) -> bool {
    before.differences.iter().any(|d| d.group != Group::MtimeOnly && package_manager_reason(&d.path).is_none())
}

/// Classifies the differences of `before` when tamis' pipeline was not run (nothing counts, see
/// [`anything_counts`]): the package manager's own files as theirs, the rest (modification
/// times alone) as [`Class::NotNormalized`].
pub(crate) fn without_pipeline(before: &Comparison) -> Vec<Finding> {
    before
        .differences
        .iter()
        .map(|d| {
            let (cause, detail) = match &d.explanation {
                Some(e) => (Some(e.cause).filter(|c| *c != Cause::MtimeOnly), e.detail.clone()),
                None => (None, String::new()),
            };
            let class =
                package_manager_reason(&d.path).map_or(Class::NotNormalized, |reason| Class::PackageManager { reason });
            Finding { path: d.path.clone(), group: d.group, fields: d.fields.clone(), cause, detail, class }
        })
        .collect()
}

/// Classifies the differences of `before` (the two installations) given `after` (the same two
/// after tamis' pipeline) and what the pipeline did on each side.
pub fn classify(before: &Comparison, after: &Comparison, outcomes: [&Outcome; 2]) -> Vec<Finding> {
    let remaining: BTreeSet<&str> = after.differences.iter().map(|d| d.path.as_str()).collect();
    let mut touched: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for outcome in outcomes {
        for report in &outcome.stages {
            for change in &report.changes {
                touched.entry(tamis_core::display_path(&change.path)).or_default().insert(report.stage.clone());
            }
        }
    }
    let mut findings: Vec<Finding> = before
        .differences
        .iter()
        .map(|d| {
            let (cause, stage, detail) = match &d.explanation {
                Some(e) => (Some(e.cause).filter(|c| *c != Cause::MtimeOnly), e.stage, e.detail.clone()),
                None => (None, None, String::new()),
            };
            let class = if let Some(reason) = package_manager_reason(&d.path) {
                Class::PackageManager { reason }
            } else if remaining.contains(d.path.as_str()) {
                Class::Remains
            } else {
                let stages = match stage {
                    Some(s) => vec![s.to_owned()],
                    None => touched.get(&d.path).map(|s| s.iter().cloned().collect()).unwrap_or_default(),
                };
                Class::TamisRemoves { stages }
            };
            Finding { path: d.path.clone(), group: d.group, fields: d.fields.clone(), cause, detail, class }
        })
        .collect();
    // What differs only after the pipeline (it should not happen): the pipeline's own doing,
    // reported as remaining so that it is seen.
    let before_paths: BTreeSet<&str> = before.differences.iter().map(|d| d.path.as_str()).collect();
    for d in after.differences.iter().filter(|d| !before_paths.contains(d.path.as_str())) {
        findings.push(Finding {
            path: d.path.clone(),
            group: d.group,
            fields: d.fields.clone(),
            cause: d.explanation.as_ref().map(|e| e.cause),
            detail: "differs only after tamis' pipeline".to_owned(),
            class: Class::Remains,
        });
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;
    use tamis_core::{Action, Change, Epoch, Mode, Report};
    use tamis_manifest::{EntryDifference, Explanation, explain};

    fn comparison(diffs: Vec<EntryDifference>) -> Comparison {
        Comparison { entries: [0, 0], counts: BTreeMap::new(), differences: diffs, problems: Vec::new() }
    }

    fn diff(path: &str, group: Group, explanation: Option<Explanation>) -> EntryDifference {
        EntryDifference { path: path.to_owned(), group, fields: vec!["sha256"], explanation, inside: None }
    }

    fn outcome(stage: &str, changed: &[&str]) -> Outcome {
        let mut report = Report::new(stage, Mode::Apply);
        for p in changed {
            report.changes.push(Change {
                path: p.trim_start_matches('/').into(),
                action: Action::Remove,
                reason: String::new(),
                before: None,
                after: None,
            });
        }
        Outcome { profile: "t".into(), epoch: Epoch::from_secs(0).unwrap(), mode: Mode::Apply, stages: vec![report] }
    }

    #[test]
    fn each_difference_gets_its_class_and_stage() {
        let keys = explain::explain_path("/etc/ssh/ssh_host_rsa_key");
        let before = comparison(vec![
            diff("/etc/ssh/ssh_host_rsa_key", Group::Content, keys),
            diff("/usr/lib/x/generated.bin", Group::Content, None),
            diff("/usr/share/y/cache", Group::Content, None),
            diff("/var/log/dpkg.log", Group::Content, explain::explain_path("/var/log/dpkg.log")),
            diff("/usr", Group::MtimeOnly, None),
        ]);
        let after = comparison(vec![
            diff("/usr/share/y/cache", Group::Content, None),
            diff("/usr/share/z", Group::OnlyInFirst, None),
        ]);
        let (a, b) = (outcome("logs", &["/usr/lib/x/generated.bin"]), outcome("backups", &[]));
        let findings = classify(&before, &after, [&a, &b]);
        let class = |p: &str| findings.iter().find(|f| f.path == p).unwrap().class.clone();
        let stages = |v: &[&str]| Class::TamisRemoves { stages: v.iter().map(|s| (*s).to_owned()).collect() };
        // The cause's stage, when the cause is recognised.
        assert_eq!(class("/etc/ssh/ssh_host_rsa_key"), stages(&["host-keys"]));
        // Else the stages whose reports touched the path.
        assert_eq!(class("/usr/lib/x/generated.bin"), stages(&["logs"]));
        assert_eq!(class("/usr/share/y/cache"), Class::Remains);
        assert!(matches!(class("/var/log/dpkg.log"), Class::PackageManager { .. }));
        assert_eq!(class("/usr/share/z"), Class::Remains);
        let counting: Vec<&str> = findings.iter().filter(|f| f.counts()).map(|f| f.path.as_str()).collect();
        assert_eq!(
            counting,
            ["/etc/ssh/ssh_host_rsa_key", "/usr/lib/x/generated.bin", "/usr/share/y/cache", "/usr/share/z"]
        );
    }

    #[test]
    fn without_the_pipeline_modification_times_are_not_normalized_and_nothing_counts() {
        let before = comparison(vec![
            diff("/var/log/dpkg.log", Group::Content, None),
            diff("/usr/share/doc/x", Group::MtimeOnly, None),
        ]);
        assert!(!anything_counts(&before));
        let findings = without_pipeline(&before);
        assert!(matches!(findings[0].class, Class::PackageManager { .. }));
        assert_eq!(findings[1].class, Class::NotNormalized);
        assert!(!findings.iter().any(Finding::counts));
        let content = comparison(vec![diff("/etc/x", Group::Content, None)]);
        assert!(anything_counts(&content));
        assert!(anything_counts(&comparison(vec![diff("/etc/y", Group::OnlyInSecond, None)])));
    }

    #[test]
    fn package_manager_files_by_path_and_prefix() {
        assert!(package_manager_reason("/var/log/apt/term.log").is_some());
        assert!(package_manager_reason("/var/log/dpkg.log").is_some());
        assert!(package_manager_reason("/var/log/dpkg.log.1").is_none());
        assert!(package_manager_reason("/var/lib/dpkg/status").is_none());
        assert!(package_manager_reason("/var/cache/fontconfig/x.cache-8").is_none());
    }
}
