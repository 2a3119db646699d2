//! The conditions two installations differ in, and what each side gets.
//!
//! Side `a` is the reference and always gets the same conditions; side `b` differs from it in
//! each variation asked for, one value per variation (reprotest's approach for package builds,
//! applied to installation).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// One condition varied between the two installations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Variation {
    /// The clock: `b` runs under libfaketime, shifted by [`CLOCK_SHIFT`].
    Clock,
    /// The host name: each side runs in its own UTS namespace with its own name.
    Hostname,
    /// The umask: 0022 against 0002.
    Umask,
    /// The time zone (`TZ`), far apart: 12 h west against 14 h east of UTC.
    Timezone,
    /// The locale (`LANG`, `LC_ALL`): `C.UTF-8` against `fr_CH.UTF-8`.
    Locale,
    /// The environment: `b` has a variable more.
    Environment,
    /// The build path: the copies' directories have different names, and apt runs from a
    /// different working directory inside the chroot.
    BuildPath,
    /// The number of CPUs: `b` is bound to one CPU (`taskset`, which `nproc` and
    /// `sched_getaffinity` see).
    Cpus,
    /// The order of the directory entries the installation makes: `b`'s overlay upper
    /// directory (what the installation writes) is on a tmpfs of its own, which lists entries
    /// in the order they were made (newest first); `a`'s is on the cache's file system, which
    /// lists them in its own order (ext4: by a hash of the name). Directories only the base
    /// has list alike on both sides: [`ReaddirAll`](Self::ReaddirAll) varies those too.
    Readdir,
    /// The order of every directory's entries, the base's too: `b` sees its chroot through
    /// disorderfs (FUSE), which lists every directory in reverse order (and adds one to
    /// `st_blocks`: its defaults). Thorough but slow (FUSE on every file operation of dpkg):
    /// not in the default list.
    ReaddirAll,
}

/// How far `b`'s clock is shifted: 398 days, so that year, month, day of the month and day of
/// the week all differ.
pub const CLOCK_SHIFT: &str = "+398d";

impl Variation {
    /// Every variation, in report order.
    pub const ALL: [Self; 10] = [
        Self::Clock,
        Self::Hostname,
        Self::Umask,
        Self::Timezone,
        Self::Locale,
        Self::Environment,
        Self::BuildPath,
        Self::Cpus,
        Self::Readdir,
        Self::ReaddirAll,
    ];

    /// The name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Clock => "clock",
            Self::Hostname => "hostname",
            Self::Umask => "umask",
            Self::Timezone => "timezone",
            Self::Locale => "locale",
            Self::Environment => "environment",
            Self::BuildPath => "build-path",
            Self::Cpus => "cpus",
            Self::Readdir => "readdir",
            Self::ReaddirAll => "readdir-all",
        }
    }

    /// The variation of that name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.name() == name)
    }

    /// What a check varies when it is not told: every variation but
    /// [`ReaddirAll`](Self::ReaddirAll) (disorderfs, asked for by name).
    pub fn defaults() -> Vec<Self> {
        Self::ALL.into_iter().filter(|v| *v != Self::ReaddirAll).collect()
    }

    /// The variations `names` name, in report order, each once; none named: [`defaults`](Self::defaults).
    ///
    /// # Errors
    /// A name that is no variation's.
    pub fn list(names: &[String]) -> Result<Vec<Self>, UnknownVariation> {
        if names.is_empty() {
            return Ok(Self::defaults());
        }
        let mut list = names
            .iter()
            .map(|name| Self::from_name(name).ok_or_else(|| UnknownVariation(name.clone())))
            .collect::<Result<Vec<_>, _>>()?;
        list.sort();
        list.dedup();
        Ok(list)
    }
}

/// A name that is no [`Variation`]'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown variation {0:?} (known: clock, hostname, umask, timezone, locale, environment, build-path, cpus, readdir, readdir-all)"
)]
pub struct UnknownVariation(pub String);

/// The tools of the host a check may use to vary conditions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostTools {
    /// libfaketime, where Debian's `faketime` package puts it (the clock variation needs it).
    pub faketime: Option<PathBuf>,
    /// Whether disorderfs can mount: installed, and `/dev/fuse` present (some containers
    /// lack it). The [`Variation::ReaddirAll`] variation needs it.
    pub disorderfs: bool,
}

impl HostTools {
    /// What this host has.
    pub fn find() -> Self {
        let triplet = format!("{}-linux-gnu", std::env::consts::ARCH);
        let faketime =
            [format!("/usr/lib/{triplet}/faketime/libfaketime.so.1"), "/usr/lib/faketime/libfaketime.so.1".to_owned()]
                .into_iter()
                .map(PathBuf::from)
                .find(|p| p.is_file());
        let disorderfs = Path::new("/usr/bin/disorderfs").exists() && Path::new("/dev/fuse").exists();
        Self { faketime, disorderfs }
    }
}

/// Conditions not varied, and why; listed in every report.
pub const NOT_VARIED: &[(&str, &str)] = &[
    ("user", "maintainer scripts run as root by definition"),
    ("kernel", "both installations run on the same kernel (uname)"),
];

/// One side of the check: the reference `a` or the varied `b`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// The reference.
    A,
    /// The varied one.
    B,
}

impl Side {
    /// `a` or `b`.
    pub fn name(self) -> &'static str {
        match self {
            Self::A => "a",
            Self::B => "b",
        }
    }
}

/// What one installation runs under.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Conditions {
    /// The libfaketime offset (`FAKETIME`), if the clock is shifted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clock_shift: Option<String>,
    /// The host name in the side's UTS namespace.
    pub hostname: String,
    /// The umask.
    pub umask: String,
    /// `TZ`.
    pub tz: String,
    /// `LANG` and `LC_ALL`.
    pub locale: String,
    /// Variables added to the environment.
    pub extra_env: Vec<(String, String)>,
    /// The name of the copy's directory on the host.
    pub dir_name: String,
    /// The working directory of apt inside the chroot.
    pub cwd: String,
    /// Bound to this many CPUs (`None`: all of the host's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpus: Option<usize>,
    /// The overlay's upper directory on a tmpfs of the side's own (new directory entries in
    /// another order than on the cache's file system). Set for `b` when the directory order is
    /// varied, and cleared again when this host cannot (see the report's `not_varied`).
    pub tmpfs_upper: bool,
    /// Seen through disorderfs (every directory's entries in reverse order).
    pub disorderfs: bool,
}

impl Conditions {
    /// The conditions of `side` under `variations`. `host_cpus` is the number of CPUs the
    /// process may run on: with one only, the CPU count cannot vary and `b` keeps it.
    pub fn of(side: Side, variations: &[Variation], host_cpus: usize) -> Self {
        let varied = |v: Variation| side == Side::B && variations.contains(&v);
        let pick = |v: Variation, a: &str, b: &str| if varied(v) { b.to_owned() } else { a.to_owned() };
        Self {
            clock_shift: varied(Variation::Clock).then(|| CLOCK_SHIFT.to_owned()),
            hostname: pick(Variation::Hostname, "tamis-check-a", "tamis-check-other-host"),
            umask: pick(Variation::Umask, "0022", "0002"),
            tz: pick(Variation::Timezone, "GMT+12", "GMT-14"),
            locale: pick(Variation::Locale, "C.UTF-8", "fr_CH.UTF-8"),
            extra_env: if varied(Variation::Environment) {
                vec![("TAMIS_CAPTURE_ENVIRONMENT".to_owned(), "i_capture_the_environment".to_owned())]
            } else {
                Vec::new()
            },
            // Two copies cannot share a directory: without the variation they differ by a letter.
            dir_name: match side {
                Side::A => "a".to_owned(),
                Side::B => pick(Variation::BuildPath, "b", "b-other-build-path"),
            },
            cwd: pick(Variation::BuildPath, "/", "/tmp"),
            cpus: (varied(Variation::Cpus) && host_cpus > 1).then_some(1),
            tmpfs_upper: varied(Variation::Readdir),
            disorderfs: varied(Variation::ReaddirAll),
        }
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn the_default_list_varies_the_directory_order_without_disorderfs_and_names_are_checked() {
        let defaults = Variation::list(&[]).unwrap();
        assert_eq!(defaults.len(), Variation::ALL.len() - 1);
        assert!(defaults.contains(&Variation::Readdir));
        assert!(!defaults.contains(&Variation::ReaddirAll));
        let names = ["umask", "readdir-all", "clock", "umask"].map(String::from);
        assert_eq!(Variation::list(&names).unwrap(), [Variation::Clock, Variation::Umask, Variation::ReaddirAll]);
        let error = Variation::list(&["moon".to_owned()]).unwrap_err();
        assert_eq!(error, UnknownVariation("moon".into()));
        let known = Variation::ALL.map(Variation::name).join(", ");
        assert!(error.to_string().ends_with(&format!("(known: {known})")), "{error}");
    }
    use super::*;

    #[test]
    fn only_b_varies_and_only_in_what_is_asked() {
        let a = Conditions::of(Side::A, &Variation::ALL, 4);
        let b = Conditions::of(Side::B, &Variation::ALL, 4);
        let b_none = Conditions::of(Side::B, &[], 4);
        assert_eq!(a, Conditions::of(Side::A, &[], 4));
        assert_eq!(Conditions { dir_name: a.dir_name.clone(), ..b_none.clone() }, a);
        assert_ne!(a.hostname, b.hostname);
        assert_ne!(a.umask, b.umask);
        assert_ne!(a.tz, b.tz);
        assert_ne!(a.dir_name, b.dir_name);
        assert_ne!(a.dir_name, b_none.dir_name);
        assert_eq!(b.cpus, Some(1));
        assert!(b.tmpfs_upper && b.disorderfs && !a.tmpfs_upper && !a.disorderfs);
        let cheap = Conditions::of(Side::B, &Variation::defaults(), 4);
        assert!(cheap.tmpfs_upper && !cheap.disorderfs);
        assert_eq!(Conditions::of(Side::B, &Variation::ALL, 1).cpus, None);
        let umask_only = Conditions::of(Side::B, &[Variation::Umask], 4);
        assert_eq!(umask_only.hostname, a.hostname);
        assert_ne!(umask_only.umask, a.umask);
        for v in Variation::ALL {
            assert_eq!(Variation::from_name(v.name()), Some(v));
        }
    }
}
