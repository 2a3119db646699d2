//! Does installing a Debian package leave the same files every time?
//!
//! Build-reproducibility tools (reprotest) vary the *build* of a package; this varies its
//! *installation*: the maintainer scripts, the triggers, the caches they regenerate. [`check`]
//! takes a base chroot (given, or made by mmdebstrap and cached: [`Base`]), makes two
//! independent copies of it (overlay mounts, else `cp -a --reflink=auto`), installs the
//! packages into each with apt under different conditions ([`Variation`]: clock, host name,
//! umask, time zone, locale, environment, build path, CPU count, directory order), then compares the two trees
//! with `tamis-manifest` and explains each difference. When something that counts differs, it
//! then runs tamis' pipeline (the `debian-image` profile, epoch = the base's last package
//! change) on both and compares again:
//! a difference that is gone is one tamis removes (the stage is named); one that is still there
//! is the package's own ([`Class`]). What apt and dpkg write differently on every installation
//! (their logs, their binary caches) is listed as the package manager's, not hidden.
//!
//! Needs root (mounts, chroot, namespaces), and the host's `unshare`, `mount`, `chroot`,
//! `taskset` (util-linux), `mmdebstrap` to make a base, libfaketime for the clock. Call it from
//! a private mount namespace (the binary re-executes itself under `unshare --mount`): then no
//! mount of the check outlives it even if it is killed. What it creates on the host is undone
//! at the end, on error, and by [`cleanup_all`] from a signal handler. The host's own files are
//! never written: everything happens in the copies, the cache directory and namespaces.
//!
//! An installation that fails (no such package, unmet dependencies, a failing maintainer
//! script, past [`Options::timeout`]) is a report with [`Verdict::InstallFailed`] and a
//! [`Failure`], never an error. Sides `a` and `b` install at once; with overlays, the
//! comparisons read only what the installations wrote (the upper directories), and apt's caches
//! of the base are a layer built once (`CACHE/layers`), not rebuilt by every installation.
//!
//! A [`Job`] (packages, base, variations) is plain data, written into every report: [`batch`]
//! reads job lines and merges result lines; [`check_on`] runs a job on a base prepared once
//! (see `docs/postinst-check.md`).
//!
//! ```
//! // Bases made for one check are kept by day, the day of the epoch they were made for.
//! assert_eq!(tamis_postinst_check::day_of(1_700_000_000), "2023-11-14");
//! ```

mod base;
pub mod batch;
mod classify;
mod layer;
mod sandbox;
mod variation;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tamis_core::{Context, Epoch, Mode, Root};
use tamis_manifest::{Comparison, input::DirectoryInput};
use tamis_pipeline::{Outcome, Pipeline, Profile, Selection};

pub use base::{Base, BaseSpec, VARIANTS};
pub use classify::{Class, Finding, PACKAGE_MANAGER, classify, package_manager_reason};
use sandbox::Ended;
pub use sandbox::{Cleanup, CopyMode, cleanup_all};
pub use variation::{CLOCK_SHIFT, Conditions, HostTools, NOT_VARIED, Side, UnknownVariation, Variation};

/// The format name and version written in every report.
pub const REPORT_FORMAT: &str = "tamis-postinst-check/1";

/// What went wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A command failed.
    #[error("cannot {what}: {detail}")]
    Command {
        /// What it was for.
        what: String,
        /// Its status and the end of its output.
        detail: String,
    },
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The reason.
        source: std::io::Error,
    },
    /// Bad input: a package name, a suite, a chroot that is not one.
    #[error("{0}")]
    Invalid(String),
    /// A tree could not be opened or read.
    #[error(transparent)]
    Tree(#[from] tamis_core::Error),
    /// A tree could not be compared.
    #[error(transparent)]
    Manifest(#[from] tamis_manifest::Error),
    /// tamis' pipeline failed.
    #[error(transparent)]
    Pipeline(#[from] tamis_pipeline::Error),
}

impl Error {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io { path: path.to_owned(), source }
    }
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One check: what a batch engine runs, one per package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// Package names (`man-db`, `man-db=2.11.2-2`, `man-db/bookworm-backports`) or `.deb` files,
    /// installed together in one apt call.
    pub packages: Vec<String>,
    /// The base chroot.
    pub base: BaseSpec,
    /// What `b` varies.
    pub variations: Vec<Variation>,
}

/// How to run a [`Job`] on this host.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where bases, downloaded `.deb`s and the copies live.
    pub cache: PathBuf,
    /// Today (UTC, `YYYY-MM-DD`): the key of a made base.
    pub day: String,
    /// The host's apt sources files, for mmdebstrap.
    pub sources: Vec<PathBuf>,
    /// Keep the two installed copies (made by copying, not overlay) and say where.
    pub keep: bool,
    /// The epoch tamis normalizes to (default: the base's `/var/lib/dpkg/status` mtime).
    pub epoch: Option<Epoch>,
    /// The CPUs this process may run on.
    pub host_cpus: usize,
    /// libfaketime on the host, for the shifted clock.
    pub faketime: Option<PathBuf>,
    /// Whether disorderfs can mount here, for [`Variation::ReaddirAll`].
    pub disorderfs: bool,
    /// The longest an installation may take: then it is killed, with every process it started,
    /// and the verdict is [`Verdict::InstallFailed`] ([`FailureReason::TimedOut`]).
    pub timeout: std::time::Duration,
}

/// One side's installation: its conditions, what it saw, what got installed.
#[derive(Debug, Clone, Serialize)]
pub struct Installation {
    /// The conditions it ran under.
    pub conditions: Conditions,
    /// What a probe inside the chroot saw under those conditions: `date`, `hostname`, `nproc`,
    /// `umask`, `pwd`, `locale`, `tz-offset`, `readdir-etc` (the first entries of the base's
    /// `/etc`, as `ls -U` lists them), `readdir-new-dir` (a directory the probe makes, fills
    /// and removes, as `ls -U` lists it), so the report shows that each variation took effect.
    pub observed: BTreeMap<String, String>,
    /// How the copy was made.
    pub copy: CopyMode,
    /// apt's output, for a failure or `--keep` (file under the run directory).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<PathBuf>,
}

/// Whether the installations left the same files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Nothing differs but modification times and the package manager's own files.
    Deterministic,
    /// Something else differs.
    NotDeterministic,
    /// An installation failed (see the report's `failure`): nothing was compared.
    InstallFailed,
}

/// What [`check`] found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// [`REPORT_FORMAT`].
    pub format: &'static str,
    /// The job.
    pub job: Job,
    /// The base used.
    pub base: Base,
    /// Packages the installation added or changed, `name=version`, sorted (side `a`).
    pub installed: Vec<String>,
    /// The two installations.
    pub a: Installation,
    /// The varied one.
    pub b: Installation,
    /// What was not varied, and why: a variation asked for that this host could not make, the
    /// variations not asked for, and [`NOT_VARIED`].
    pub not_varied: Vec<(String, String)>,
    /// The verdict.
    pub verdict: Verdict,
    /// The epoch tamis' pipeline normalized both to.
    pub epoch: Epoch,
    /// Whether the two are identical after tamis' pipeline; `None` when it was not run: nothing
    /// that counts differed (only modification times and the package manager's own files), so
    /// the verdict was deterministic whatever the pipeline would have done.
    pub identical_after_tamis: Option<bool>,
    /// Findings per class (`package-manager`, `tamis-removes`, `remains`), mtime-only ones
    /// counted apart (`mtime-only`).
    pub counts: BTreeMap<&'static str, usize>,
    /// Every difference, in the canonical order.
    pub findings: Vec<Finding>,
    /// Seconds spent per step (`base`, `copies`, `install`, `install-a`, `install-b`, `compare`,
    /// when it runs `pipeline` and `compare-after`, then `teardown`): for people sizing a batch, not part of the verdict.
    pub seconds: BTreeMap<&'static str, f64>,
    /// The run directory, when kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kept: Option<PathBuf>,
    /// With [`attribute`]: for each difference that counts, the variations that bring it alone
    /// (`none`: it differs with no variation at all, e.g. randomness; empty: only in
    /// combination).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub caused_by: BTreeMap<String, Vec<String>>,
    /// Why the installation failed, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
}

/// Fills `report.caused_by`: one more check with no variation, then one per variation of the
/// job, each alone; every difference that counts in `report` gets the runs it shows up in.
pub fn attribute(report: &mut Report, options: &Options, log: &dyn Fn(&str)) -> Result<()> {
    let wanted: Vec<String> = report.findings.iter().filter(|f| f.counts()).map(|f| f.path.clone()).collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let mut caused_by: BTreeMap<String, Vec<String>> = wanted.iter().map(|p| (p.clone(), Vec::new())).collect();
    let runs = std::iter::once(None).chain(report.job.variations.iter().copied().map(Some));
    for variation in runs {
        let name = variation.map_or("none", Variation::name);
        log(&format!("attributing: a check with {name} varied"));
        let job = Job { variations: variation.into_iter().collect(), ..report.job.clone() };
        let options = Options { keep: false, ..options.clone() };
        let quiet = |_: &str| {};
        let single = check(&job, &options, &quiet)?;
        for f in single.findings.iter().filter(|f| f.counts()) {
            if let Some(list) = caused_by.get_mut(&f.path) {
                list.push(name.to_owned());
            }
        }
    }
    // What differs with nothing varied differs by chance: the single variations say nothing more.
    for list in caused_by.values_mut() {
        if list.first().is_some_and(|n| n == "none") {
            list.truncate(1);
        }
    }
    report.caused_by = caused_by;
    Ok(())
}

/// Where the base of `job` is, and what it is: given, or from the cache, made if missing.
pub fn prepare_base(job: &Job, options: &Options, log: &dyn Fn(&str)) -> Result<Base> {
    match &job.base {
        BaseSpec::Chroot { path } => Base::given(path),
        BaseSpec::Suite { suite, variant } => {
            Base::cached_or_made(&options.cache, suite, variant, &options.day, &options.sources, log)
        }
    }
}

/// A package argument: a name apt resolves, or a `.deb` file.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Package {
    Name(String),
    File(PathBuf),
}

impl Package {
    fn parse(arg: &str) -> Result<Self> {
        if Path::new(arg).extension().is_some_and(|e| e == "deb") {
            let path = PathBuf::from(arg);
            return if path.is_file() {
                Ok(Self::File(path))
            } else {
                Err(Error::Invalid(format!("{arg}: no such .deb file")))
            };
        }
        // Debian policy: [a-z0-9][a-z0-9+.-]+, then =VERSION or /RELEASE as apt accepts them.
        let (name, rest) = arg.find(['=', '/']).map_or((arg, ""), |i| arg.split_at(i));
        let name_ok = name.len() >= 2
            && name.bytes().next().is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+.-".contains(&b));
        let rest_ok = rest.bytes().skip(1).all(|b| b.is_ascii_alphanumeric() || b"+.-~:".contains(&b));
        if name_ok && rest_ok && rest.len() != 1 {
            Ok(Self::Name(arg.to_owned()))
        } else {
            Err(Error::Invalid(format!("{arg:?} is neither a package name nor a .deb file")))
        }
    }
}

/// Runs `job`: two installations, compared, normalized, compared again, classified.
/// `log` receives one line per step, for people.
pub fn check(job: &Job, options: &Options, log: &dyn Fn(&str)) -> Result<Report> {
    let started = std::time::Instant::now();
    let base = prepare_base(job, options, log)?;
    let took = (started.elapsed().as_secs_f64() * 10.0).round() / 10.0;
    let mut report = check_on(job, &base, options, log)?;
    report.seconds.insert("base", took);
    Ok(report)
}

/// One side's copy, ready to install into.
struct Prepared {
    root: PathBuf,
    /// The overlay's upper directory (what the installation writes), when the copy is one.
    upper: PathBuf,
    debs: PathBuf,
    conditions: Conditions,
    copy: CopyMode,
    log_path: PathBuf,
    /// A variation asked for that this side could not make, and why.
    unvaried: Option<(String, String)>,
}

/// Runs `job` on `base` (from [`prepare_base`]): what a batch calls for each job, the base
/// prepared once. An installation that fails is a report ([`Verdict::InstallFailed`]), not an
/// error; an error is a job that cannot run at all (a bad package name, a host problem).
pub fn check_on(job: &Job, base: &Base, options: &Options, log: &dyn Fn(&str)) -> Result<Report> {
    let (packages, clock) = validate(job, options)?;
    let mut laps = Laps::default();
    let epoch = match options.epoch {
        Some(e) => e,
        None => Epoch::from_secs(base.status_mtime)
            .ok_or_else(|| Error::Invalid("the base's dpkg status predates 1970".into()))?,
    };

    let cleanup = Cleanup::new();
    let runs = options.cache.join("runs");
    std::fs::create_dir_all(&runs).map_err(|e| Error::io(&runs, e))?;
    remove_stale_runs(&runs, log);
    let run_dir = unique_dir(&runs, &cleanup)?;
    let _alive = lock_run(&run_dir)?;
    let inputs = run_dir.join("inputs");
    make_dir(&inputs, 0o755)?;
    // apt locks its archive directory for the whole installation: each side has its own,
    // seeded from the shared cache by hard links, and gives new downloads back at the end.
    let shared = options.cache.join("debs");
    std::fs::create_dir_all(&shared).map_err(|e| Error::io(&shared, e))?;
    let argv = apt_command(&packages, &inputs, options.faketime.as_deref().filter(|_| clock))?;

    let prepared = prepare_sides(job, base, options, &run_dir, &cleanup, log)?;
    laps.lap("copies");
    let installs = install_both(&prepared, &argv, &inputs, options.timeout);
    laps.lap("install");
    let mut ended = Vec::new();
    let mut per_side = Vec::new();
    let mut observed = Vec::new();
    for (side, result) in ["install-a", "install-b"].into_iter().zip(installs) {
        let done = result?;
        per_side.push((side, done.seconds));
        ended.push(done.ended);
        observed.push(done.observed);
    }
    for p in &prepared {
        link_debs(&p.debs, &shared)?;
    }
    let installation = |p: &Prepared, observed: &mut BTreeMap<String, String>| Installation {
        conditions: p.conditions.clone(),
        observed: std::mem::take(observed),
        copy: p.copy,
        log: options.keep.then(|| p.log_path.clone()),
    };
    let failure = failure(&prepared, &ended);
    let alike = order_alike(&prepared[1].conditions, &observed[0], &observed[1]);
    let kept = options.keep.then(|| run_dir.clone());
    let mut report = Report {
        format: REPORT_FORMAT,
        job: job.clone(),
        base: base.clone(),
        installed: Vec::new(),
        a: installation(&prepared[0], &mut observed[0]),
        b: installation(&prepared[1], &mut observed[1]),
        not_varied: prepared
            .iter()
            .filter_map(|p| p.unvaried.clone())
            .chain(alike)
            .chain(not_varied(&job.variations))
            .collect(),
        verdict: Verdict::InstallFailed,
        epoch,
        identical_after_tamis: None,
        counts: count(&[]),
        findings: Vec::new(),
        seconds: BTreeMap::new(),
        kept,
        caused_by: BTreeMap::new(),
        failure,
    };
    if report.failure.is_some() {
        log("the installation failed");
        finish(&run_dir, options.keep, cleanup);
        laps.lap("teardown");
        report.seconds = laps.with(per_side);
        return Ok(report);
    }
    report.installed = installed(&base.root, &prepared[0].root)?;

    log("comparing the two installations");
    let [ia, ib] = changed_inputs(&prepared)?;
    let before = Comparison::of(ia.as_ref(), ib.as_ref(), true)?;
    laps.lap("compare");
    let findings = if classify::anything_counts(&before) {
        log(&format!("running tamis' pipeline (profile debian-image, epoch {}) on both", epoch.secs()));
        let (findings, identical) = normalized(&prepared, epoch, &before, &mut laps)?;
        report.identical_after_tamis = Some(identical);
        findings
    } else {
        // Only modification times and apt's and dpkg's own files differ: deterministic whatever
        // tamis' pipeline would do, so it is not run (on both whole trees it costs as much as
        // a small installation).
        classify::without_pipeline(&before)
    };

    report.counts = count(&findings);
    report.verdict =
        if findings.iter().any(Finding::counts) { Verdict::NotDeterministic } else { Verdict::Deterministic };
    report.findings = findings;
    finish(&run_dir, options.keep, cleanup);
    laps.lap("teardown");
    report.seconds = laps.with(per_side);
    Ok(report)
}

/// Seconds per step of a check, rounded to tenths.
struct Laps {
    seconds: BTreeMap<&'static str, f64>,
    step: std::time::Instant,
}

impl Default for Laps {
    fn default() -> Self {
        Self { seconds: BTreeMap::new(), step: std::time::Instant::now() }
    }
}

impl Laps {
    /// The step `name` ended now.
    fn lap(&mut self, name: &'static str) {
        self.seconds.insert(name, (self.step.elapsed().as_secs_f64() * 10.0).round() / 10.0);
        self.step = std::time::Instant::now();
    }

    /// All of them, with `steps` (timed elsewhere) too.
    fn with(mut self, steps: impl IntoIterator<Item = (&'static str, f64)>) -> BTreeMap<&'static str, f64> {
        self.seconds.extend(steps);
        self.seconds
    }
}

/// tamis' pipeline on both sides, then the comparison again (each step timed in `laps`): the
/// findings of `before` classified, and whether the two are identical now.
fn normalized(
    prepared: &[Prepared],
    epoch: Epoch,
    before: &Comparison,
    laps: &mut Laps,
) -> Result<(Vec<Finding>, bool)> {
    let profile = Profile::builtin("debian-image").ok_or_else(|| Error::Invalid("no debian-image profile".into()))?;
    let pipeline = Pipeline::new(&profile, &Selection::default())?;
    let cx = Context::new(epoch, Mode::Apply);
    let (oa, ob) = pipeline_both(prepared, &pipeline, &cx)?;
    laps.lap("pipeline");
    let [ia, ib] = changed_inputs(prepared)?;
    let after = Comparison::of(ia.as_ref(), ib.as_ref(), true)?;
    laps.lap("compare-after");
    Ok((classify(before, &after, [&oa, &ob]), after.identical()))
}

/// The packages of `job`, and whether the clock is varied; an error when this host cannot run it.
fn validate(job: &Job, options: &Options) -> Result<(Vec<Package>, bool)> {
    if job.packages.is_empty() {
        return Err(Error::Invalid("no package to install".into()));
    }
    let packages = job.packages.iter().map(|p| Package::parse(p)).collect::<Result<Vec<_>>>()?;
    let clock = job.variations.contains(&Variation::Clock);
    if clock && options.faketime.is_none() {
        return Err(Error::Invalid("the clock variation needs libfaketime (apt-get install faketime)".into()));
    }
    if job.variations.contains(&Variation::ReaddirAll) && !options.disorderfs {
        return Err(Error::Invalid(
            "the readdir-all variation needs disorderfs (apt-get install disorderfs) and /dev/fuse".into(),
        ));
    }
    Ok((packages, clock))
}

/// The two copies, each with an apt archive of its own seeded from the shared one.
fn prepare_sides(
    job: &Job,
    base: &Base,
    options: &Options,
    run_dir: &Path,
    cleanup: &Cleanup,
    log: &dyn Fn(&str),
) -> Result<Vec<Prepared>> {
    let shared = options.cache.join("debs");
    let prefer = if options.keep { CopyMode::Copy } else { CopyMode::Overlay };
    // apt's caches of the base, built once: copies by overlay mount them between the base and
    // their upper directory (a copy made by cp builds them itself, as apt always does).
    let layer = if prefer == CopyMode::Overlay { layer::apt_caches(&options.cache, base, log)? } else { None };
    let mut prepared = Vec::new();
    for side in [Side::A, Side::B] {
        let mut conditions = Conditions::of(side, &job.variations, options.host_cpus);
        let dir = run_dir.join(&conditions.dir_name);
        make_dir(&dir, 0o755)?;
        let debs = run_dir.join(format!("archives-{}", side.name()));
        std::fs::create_dir_all(debs.join("partial")).map_err(|e| Error::io(&debs, e))?;
        link_debs(&shared, &debs)?;
        log(&format!("{}: copying the base, installing {}", side.name(), job.packages.join(" ")));
        let mut unvaried = None;
        let mut made = None;
        if conditions.tmpfs_upper {
            match tmpfs_overlay(base, layer.as_deref(), &dir, prefer, run_dir, cleanup)? {
                Ok(root) => made = Some((root, CopyMode::Overlay, dir.join("tmpfs/upper"))),
                Err(why) => {
                    conditions.tmpfs_upper = false;
                    unvaried = Some((Variation::Readdir.name().to_owned(), why.to_owned()));
                }
            }
        }
        let (root, copy, upper) = if let Some(made) = made {
            made
        } else {
            let (root, copy) = sandbox::make_copy(&base.root, layer.as_deref(), &dir, prefer, cleanup)?;
            (root, copy, dir.join("upper"))
        };
        if conditions.disorderfs {
            make_dir(&dir.join("disordered"), 0o755)?;
        }
        let log_path = run_dir.join(format!("{}.log", side.name()));
        prepared.push(Prepared { root, upper, debs, conditions, copy, log_path, unvaried });
    }
    Ok(prepared)
}

/// Side `b`'s overlay with its upper and work directories on a tmpfs of its own
/// (`dir/tmpfs`), for the directory order: what the installation makes there lists in the order
/// it was made, and on side `a` (the cache's file system: ext4 lists by a hash of the name) in
/// another. The root, or why the order cannot vary this way here (nothing left mounted then).
fn tmpfs_overlay(
    base: &Base,
    layer: Option<&Path>,
    dir: &Path,
    prefer: CopyMode,
    run_dir: &Path,
    cleanup: &Cleanup,
) -> Result<Result<PathBuf, &'static str>> {
    if prefer != CopyMode::Overlay {
        return Ok(Err("the copies are made by cp (--keep), on one file system: use readdir-all"));
    }
    if sandbox::on_tmpfs(run_dir) {
        return Ok(Err("the cache is on a tmpfs: both sides would list in the same order"));
    }
    let tmpfs = dir.join("tmpfs");
    if !sandbox::tmpfs(&tmpfs, cleanup)? {
        return Ok(Err("this host refused to mount a tmpfs"));
    }
    if let Some(root) = sandbox::overlay(&base.root, layer, dir, &tmpfs, cleanup)? {
        Ok(Ok(root))
    } else {
        sandbox::drop_tmpfs(&tmpfs);
        Ok(Err("overlayfs refused a tmpfs as its upper directory here"))
    }
}

/// `readdir` not varied after all: `b`'s upper directory was on a tmpfs, yet both sides listed
/// the probe's new directory in the same order (a cache on a file system that, like tmpfs,
/// lists entries in the order they were made). Nothing when the probe did not run.
fn order_alike(
    b: &Conditions,
    seen_a: &BTreeMap<String, String>,
    seen_b: &BTreeMap<String, String>,
) -> Option<(String, String)> {
    const KEY: &str = "readdir-new-dir";
    let (listed_a, listed_b) = (seen_a.get(KEY)?, seen_b.get(KEY)?);
    (b.tmpfs_upper && !b.disorderfs && !listed_a.is_empty() && listed_a == listed_b).then(|| {
        (
            Variation::Readdir.name().to_owned(),
            "both sides listed a new directory in the same order (the cache's file system lists entries as \
             the tmpfs does): use readdir-all"
                .to_owned(),
        )
    })
}

/// How one side's installation went.
struct Installed {
    ended: Ended,
    seconds: f64,
    /// What the probe saw.
    observed: BTreeMap<String, String>,
}

/// The two installations at once: they share nothing but the read-only base and inputs.
/// Each result: how it ended, how long it took (seconds), what the probe saw.
fn install_both(
    prepared: &[Prepared],
    argv: &[String],
    inputs: &Path,
    timeout: std::time::Duration,
) -> Vec<Result<Installed>> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = prepared
            .iter()
            .map(|p| {
                scope.spawn(move || {
                    let t = std::time::Instant::now();
                    let mounts = sandbox::Mounts { inputs, debs: &p.debs };
                    let (ended, observed) = install(&p.root, &p.conditions, &mounts, argv, &p.log_path, timeout)?;
                    Ok(Installed { ended, seconds: (t.elapsed().as_secs_f64() * 10.0).round() / 10.0, observed })
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(Error::Invalid("an installation thread panicked".into()))))
            .collect()
    })
}

/// tamis' pipeline on both sides at once.
fn pipeline_both(prepared: &[Prepared], pipeline: &Pipeline, cx: &Context<'_>) -> Result<(Outcome, Outcome)> {
    let outcomes: Vec<Result<Outcome>> = std::thread::scope(|scope| {
        let handles: Vec<_> =
            prepared.iter().map(|p| scope.spawn(move || Ok(pipeline.run(&Root::open(&p.root)?, cx)?))).collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(Error::Invalid("a pipeline panicked".into()))))
            .collect()
    });
    let mut outcomes = outcomes.into_iter();
    let (Some(oa), Some(ob)) = (outcomes.next(), outcomes.next()) else { unreachable!("two sides") };
    let (oa, ob) = (oa?, ob?);
    Ok((oa, ob))
}

/// The inputs of a comparison of the two sides: only what the installations wrote when both
/// copies are overlays, else the whole trees.
fn changed_inputs(prepared: &[Prepared]) -> Result<[Box<dyn tamis_manifest::input::Input>; 2]> {
    let both_overlays = prepared.iter().all(|p| p.copy == CopyMode::Overlay);
    let changed = if both_overlays { Some(changed_paths(prepared)?) } else { None };
    let one = |p: &Prepared| -> Result<Box<dyn tamis_manifest::input::Input>> {
        let root = Root::open(&p.root)?;
        Ok(match &changed {
            Some(paths) => Box::new(DirectoryInput::only(root, paths.clone())),
            None => Box::new(DirectoryInput::new(root)),
        })
    };
    Ok([one(&prepared[0])?, one(&prepared[1])?])
}

/// Removes the run (or, with `keep`, only unmounts it and leaves it for people).
fn finish(run_dir: &Path, keep: bool, cleanup: Cleanup) {
    if keep {
        // Without a lock file, later checks do not take the kept run for a stale one.
        let _ = std::fs::remove_file(run_dir.join("lock"));
        cleanup.keep();
    } else {
        cleanup.finish();
    }
}

/// Why an installation failed, from how it ended and the end of its log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum FailureReason {
    /// apt knows no such package (or it has no installation candidate).
    NotFound,
    /// Its dependencies cannot be satisfied in the base.
    Unsatisfiable,
    /// A `.deb` could not be downloaded.
    DownloadFailed,
    /// A maintainer script (or a trigger) exited with an error.
    ScriptFailed,
    /// It ran past the time limit: killed, with every process it started.
    TimedOut,
    /// Anything else: the log's tail says what.
    Failed,
}

impl FailureReason {
    /// Every reason, in the order of a table.
    pub const ALL: [Self; 6] =
        [Self::NotFound, Self::Unsatisfiable, Self::DownloadFailed, Self::ScriptFailed, Self::TimedOut, Self::Failed];

    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::NotFound => "not-found",
            Self::Unsatisfiable => "unsatisfiable",
            Self::DownloadFailed => "download-failed",
            Self::ScriptFailed => "script-failed",
            Self::TimedOut => "timed-out",
            Self::Failed => "failed",
        }
    }

    /// What apt's and dpkg's output says (the first match, in this order).
    fn of_log(text: &str) -> Self {
        const SIGNS: &[(&str, FailureReason)] = &[
            ("Unable to locate package", FailureReason::NotFound),
            ("has no installation candidate", FailureReason::NotFound),
            ("Couldn't find any package by", FailureReason::NotFound),
            ("unmet dependencies", FailureReason::Unsatisfiable),
            ("Unable to correct problems", FailureReason::Unsatisfiable),
            ("Unable to satisfy dependencies", FailureReason::Unsatisfiable),
            ("Failed to fetch", FailureReason::DownloadFailed),
            ("Unable to fetch some archives", FailureReason::DownloadFailed),
            ("script subprocess returned error exit status", FailureReason::ScriptFailed),
            ("subprocess returned error exit status", FailureReason::ScriptFailed),
        ];
        SIGNS.iter().find(|(sign, _)| text.contains(sign)).map_or(Self::Failed, |(_, r)| *r)
    }
}

/// An installation that did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// Why.
    pub reason: FailureReason,
    /// The sides that failed (`a`, `b`): one alone is itself nondeterminism.
    pub sides: Vec<String>,
    /// How the first failed side ended (`exit status: 100`, `killed after 900 s`).
    pub status: String,
    /// The last lines of its output (apt's and dpkg's, the maintainer scripts').
    pub log_tail: String,
}

/// The lines of a failed installation's log a report keeps.
const TAIL_LINES: usize = 40;

fn failure(prepared: &[Prepared], ended: &[Ended]) -> Option<Failure> {
    let failed: Vec<usize> = (0..ended.len())
        .filter(|&i| match ended[i] {
            Ended::Exited(status) => !status.success(),
            Ended::TimedOut => true,
        })
        .collect();
    let first = *failed.first()?;
    let log_tail = sandbox::tail_of(&prepared[first].log_path, TAIL_LINES);
    let (reason, status) = match ended[first] {
        Ended::TimedOut => (FailureReason::TimedOut, "killed at the time limit".to_owned()),
        Ended::Exited(status) => {
            (FailureReason::of_log(&sandbox::tail_of(&prepared[first].log_path, 200)), status.to_string())
        }
    };
    let sides = failed.iter().map(|&i| if i == 0 { "a" } else { "b" }.to_owned()).collect();
    Some(Failure { reason, sides, status, log_tail })
}

/// The entries either installation wrote: everything in the two overlays' upper directories,
/// and the whole of each directory made opaque there (a directory removed and made again
/// hides what the base had in it). What no upper directory holds is the base's, on both sides.
fn changed_paths(prepared: &[Prepared]) -> Result<std::sync::Arc<Vec<PathBuf>>> {
    let mut paths = std::collections::BTreeSet::new();
    let mut opaque = Vec::new();
    for p in prepared {
        let upper = Root::open(&p.upper)?;
        for entry in upper.walk()?.entries() {
            if entry.meta.kind == tamis_core::FileKind::Dir
                && upper
                    .xattrs(&entry.path)
                    .is_ok_and(|x| x.iter().any(|(n, v)| n == b"trusted.overlay.opaque" && v == b"y"))
            {
                opaque.push(entry.path.clone());
            }
            paths.insert(entry.path.clone());
        }
    }
    for dir in opaque {
        for p in prepared {
            let root = Root::open(&p.root)?;
            if root.try_lstat(&dir)?.is_some_and(|m| m.kind == tamis_core::FileKind::Dir) {
                paths.extend(root.walk_under(&dir)?.entries().iter().map(|e| e.path.clone()));
            }
        }
    }
    Ok(std::sync::Arc::new(paths.into_iter().collect()))
}

/// The apt command line, with each `.deb` copied into `inputs` (the chroot's `/mnt`), and
/// libfaketime there too when the clock is shifted.
fn apt_command(packages: &[Package], inputs: &Path, faketime: Option<&Path>) -> Result<Vec<String>> {
    let mut argv: Vec<String> = [
        "apt-get",
        "install",
        "--yes",
        "--no-install-recommends",
        "-o",
        "Dpkg::Use-Pty=0",
        // No fsync before each rename: the same files, written faster (a copy is thrown away
        // after the check; a crash loses it whole anyway).
        "-o",
        "Dpkg::Options::=--force-unsafe-io",
        // apt deletes pkgcache.bin before dpkg runs and writes it again afterwards (37 MB for
        // bookworm, per side, to hash and delete): kept in memory instead, built from the
        // layer's srcpkgcache.bin (see layer.rs). apt's own file, never the package's.
        "-o",
        "Dir::Cache::pkgcache=",
    ]
    .map(str::to_owned)
    .to_vec();
    for (i, p) in packages.iter().enumerate() {
        match p {
            Package::Name(n) => argv.push(n.clone()),
            Package::File(f) => {
                let name = format!("{i}-{}", f.file_name().map(|n| n.to_string_lossy()).unwrap_or_default());
                let dest = inputs.join(&name);
                std::fs::copy(f, &dest).map_err(|e| Error::io(f, e))?;
                set_mode(&dest, 0o644)?;
                argv.push(format!("/mnt/{name}"));
            }
        }
    }
    if let Some(lib) = faketime {
        let dest = inputs.join("libfaketime.so.1");
        std::fs::copy(lib, &dest).map_err(|e| Error::io(lib, e))?;
        set_mode(&dest, 0o644)?;
    }
    Ok(argv)
}

/// Runs apt in `root` under `conditions` for at most `limit`, its output saved to `log_path`;
/// the base's `policy-rc.d` is put in for the time of the installation if the copy has none.
/// The probe runs first in the same namespaces and shell (one set-up per side, not two): what
/// it saw is returned and taken out of the log.
fn install(
    root: &Path,
    conditions: &Conditions,
    mounts: &sandbox::Mounts<'_>,
    argv: &[String],
    log_path: &Path,
    limit: std::time::Duration,
) -> Result<(Ended, BTreeMap<String, String>)> {
    let added_policy = ensure_policy_rc_d(root)?;
    let mut full = vec!["/bin/sh", "-c", PROBE, "sh"];
    full.extend(argv.iter().map(String::as_str));
    let ended = sandbox::run_limited(&mut sandbox::install_command(root, conditions, mounts, &full), log_path, limit)?;
    if added_policy && matches!(ended, Ended::Exited(s) if s.success()) {
        let p = root.join("usr/sbin/policy-rc.d");
        std::fs::remove_file(&p).map_err(|e| Error::io(&p, e))?;
    }
    let mut observed = take_probe(log_path)?;
    observed.insert("locale".into(), conditions.locale.clone());
    Ok((ended, observed))
}

/// What the conditions look like from inside the chroot, printed between two marker lines
/// before the installation's own output; then the installation (`"$@"`).
///
/// The directory order, twice: the first entries of the base's `/etc` (what `readdir-all`
/// varies), and a directory the probe makes in `/tmp`, fills in the order a to h and removes
/// (what `readdir` varies: entries the installation makes). `/tmp` gets its modification time
/// back (without libfaketime: the real one), so the probe leaves no difference behind.
const PROBE: &str = "{ echo tamis-probe-begin; date '+%Y-%m-%d %H:%M:%S'; hostname; nproc; umask; pwd; \
                     date +%z; ls -U /etc | head -n 3 | tr '\\n' ' '; echo
  d=/tmp/tamis-readdir-probe
  if t=$(env -u LD_PRELOAD stat -c %.9Y /tmp) && mkdir \"$d\"; then
    (cd \"$d\" && touch a b c d e f g h && ls -U | tr '\\n' ' ')
    rm -rf \"$d\"
    env -u LD_PRELOAD touch -m -d \"@$t\" /tmp
  fi
  echo; echo tamis-probe-end; } 2>/dev/null
exec \"$@\"";

/// The probe's lines of the log at `log_path`, by key, removed from the log (which keeps the
/// installation's output only). Nothing when the probe did not run.
fn take_probe(log_path: &Path) -> Result<BTreeMap<String, String>> {
    const KEYS: [&str; 8] =
        ["date", "hostname", "nproc", "umask", "pwd", "tz-offset", "readdir-etc", "readdir-new-dir"];
    let text = std::fs::read(log_path).map_err(|e| Error::io(log_path, e))?;
    let lines: Vec<&[u8]> = text.split_inclusive(|b| *b == b'\n').collect();
    let at = |marker: &[u8]| lines.iter().position(|l| l.trim_ascii_end() == marker);
    let (Some(begin), Some(end)) = (at(b"tamis-probe-begin"), at(b"tamis-probe-end")) else {
        return Ok(BTreeMap::new());
    };
    if end < begin {
        return Ok(BTreeMap::new());
    }
    let observed = KEYS
        .iter()
        .zip(&lines[begin + 1..end])
        .map(|(k, v)| ((*k).to_owned(), String::from_utf8_lossy(v).trim().to_owned()))
        .collect();
    let rest: Vec<u8> = lines[..begin].iter().chain(&lines[end + 1..]).flat_map(|l| l.iter().copied()).collect();
    std::fs::write(log_path, rest).map_err(|e| Error::io(log_path, e))?;
    Ok(observed)
}

/// Findings per class, mtime-only ones apart.
fn count(findings: &[Finding]) -> BTreeMap<&'static str, usize> {
    let mut counts: BTreeMap<&'static str, usize> =
        ["package-manager", "tamis-removes", "remains", "mtime-only"].into_iter().map(|k| (k, 0)).collect();
    for f in findings {
        let key = match f.class {
            Class::PackageManager { .. } => "package-manager",
            Class::NotNormalized => "mtime-only",
            _ if f.group == tamis_manifest::Group::MtimeOnly => "mtime-only",
            Class::TamisRemoves { .. } => "tamis-removes",
            Class::Remains => "remains",
        };
        *counts.entry(key).or_default() += 1;
    }
    counts
}

/// Hard-links (or copies) every `.deb` of `from` that `to` lacks into `to`; never a partial
/// file under a `.deb` name.
fn link_debs(from: &Path, to: &Path) -> Result<()> {
    let tree = Root::open(from)?.walk()?;
    for entry in tree.entries() {
        let name = entry.path.to_string_lossy();
        if entry.path.components().count() != 1
            || !name.ends_with(".deb")
            || entry.meta.kind != tamis_core::FileKind::File
        {
            continue;
        }
        let (src, dest) = (from.join(&entry.path), to.join(&entry.path));
        if dest.symlink_metadata().is_ok() || std::fs::hard_link(&src, &dest).is_ok() {
            continue;
        }
        let part = to.join(format!("{name}.part"));
        std::fs::copy(&src, &part).map_err(|e| Error::io(&src, e))?;
        std::fs::rename(&part, &dest).map_err(|e| Error::io(&dest, e))?;
    }
    Ok(())
}

fn not_varied(variations: &[Variation]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Variation::ALL
        .iter()
        .filter(|v| !variations.contains(v))
        .map(|v| (v.name().to_owned(), "not asked for".to_owned()))
        .collect();
    out.extend(NOT_VARIED.iter().map(|(n, why)| ((*n).to_owned(), (*why).to_owned())));
    out
}

fn make_dir(dir: &Path, mode: u32) -> Result<()> {
    std::fs::create_dir(dir).map_err(|e| Error::io(dir, e))?;
    set_mode(dir, mode)
}

fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(|e| Error::io(path, e))
}

/// Removes the run directories of checks that no longer run (killed with SIGKILL, the machine
/// stopped): those whose `lock` no process holds. A lock rather than a process id, so that
/// checks in other PID namespaces (containers sharing the cache) are seen running.
fn remove_stale_runs(runs: &Path, log: &dyn Fn(&str)) {
    #[allow(clippy::disallowed_methods, reason = "the order does not matter: every stale entry goes")]
    let Ok(entries) = std::fs::read_dir(runs) else { return };
    for entry in entries.flatten() {
        // No lock file: being made right now (or killed in that instant): left alone.
        let Ok(lock) = std::fs::File::open(entry.path().join("lock")) else { continue };
        if rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_ok() {
            log(&format!("removing {}, left by a check that no longer runs", entry.file_name().to_string_lossy()));
            let cleanup = Cleanup::new();
            cleanup.dir(&entry.path());
        }
    }
}

/// Holds `dir/lock` for as long as the returned file lives: the run is alive.
fn lock_run(dir: &Path) -> Result<std::fs::File> {
    let path = dir.join("lock");
    let file = std::fs::File::create(&path).map_err(|e| Error::io(&path, e))?;
    rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive).map_err(|e| Error::io(&path, e.into()))?;
    Ok(file)
}

/// A new directory under `parent`, registered with `cleanup` before it exists.
fn unique_dir(parent: &Path, cleanup: &Cleanup) -> Result<PathBuf> {
    for n in 0..1000 {
        let dir = parent.join(format!("run-{}-{n}", std::process::id()));
        cleanup.dir(&dir);
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error::io(&dir, e)),
        }
    }
    Err(Error::Invalid(format!("{}: cannot make a run directory", parent.display())))
}

/// Writes the base's `policy-rc.d` into a copy that has none; true if it did.
fn ensure_policy_rc_d(root: &Path) -> Result<bool> {
    let p = root.join("usr/sbin/policy-rc.d");
    if p.symlink_metadata().is_ok() {
        return Ok(false);
    }
    std::fs::write(&p, base::POLICY_RC_D).map_err(|e| Error::io(&p, e))?;
    set_mode(&p, 0o755)?;
    Ok(true)
}

/// `name=version` of every package whose status entry `after` has and `before` has not.
fn installed(before: &Path, after: &Path) -> Result<Vec<String>> {
    let read = |root: &Path| -> Result<Vec<String>> {
        let p = root.join("var/lib/dpkg/status");
        let text = std::fs::read_to_string(&p).map_err(|e| Error::io(&p, e))?;
        Ok(parse_status(&text))
    };
    let old = read(before)?;
    let mut new: Vec<String> = read(after)?.into_iter().filter(|p| !old.contains(p)).collect();
    new.sort();
    Ok(new)
}

/// `name=version` of each installed package in a dpkg status file.
fn parse_status(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for stanza in text.split("\n\n") {
        let field = |name: &str| {
            stanza.lines().find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(':')).map(str::trim))
        };
        if let (Some(p), Some(v), Some(s)) = (field("Package"), field("Version"), field("Status"))
            && s.ends_with(" installed")
        {
            out.push(format!("{p}={v}"));
        }
    }
    out
}

/// The date (UTC, `YYYY-MM-DD`) of `secs` since 1970: the day key of a made base.
pub fn day_of(secs: i64) -> String {
    let (y, m, d) = tamis_core::civil_from_days(secs.div_euclid(86_400));
    format!("{y:04}-{m:02}-{d:02}")
}

/// The host's apt sources files under `etc_apt` (`/etc/apt`): `sources.list`, then
/// `sources.list.d/*.list` and `*.sources` in name order; empty ones left out.
pub fn host_sources(etc_apt: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let main = etc_apt.join("sources.list");
    if main.metadata().is_ok_and(|m| m.len() > 0) {
        out.push(main);
    }
    let Ok(root) = Root::open(etc_apt) else { return out };
    let Ok(tree) = root.walk_under(Path::new("sources.list.d")) else { return out };
    for entry in tree.entries() {
        let in_dir = entry.path.parent() == Some(Path::new("sources.list.d"));
        let name = entry.path.to_string_lossy();
        let kind_ok = name.ends_with(".list") || name.ends_with(".sources");
        if in_dir && kind_ok && entry.meta.kind == tamis_core::FileKind::File && entry.meta.size > 0 {
            out.push(etc_apt.join(&entry.path));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_arguments() {
        assert_eq!(Package::parse("man-db").unwrap(), Package::Name("man-db".into()));
        assert!(Package::parse("python3-six=1.16.0-4").is_ok());
        assert!(Package::parse("openssh-server/bookworm-backports").is_ok());
        assert!(Package::parse("-o").is_err());
        assert!(Package::parse("a b").is_err());
        assert!(Package::parse("Foo").is_err());
        assert!(Package::parse("x=").is_err());
        assert!(Package::parse("/nonexistent/x.deb").is_err());
    }

    #[test]
    fn failure_reasons_from_apt_and_dpkg_output() {
        let of = FailureReason::of_log;
        assert_eq!(of("E: Unable to locate package nosuch"), FailureReason::NotFound);
        assert_eq!(of("E: Package 'mail-transport-agent' has no installation candidate"), FailureReason::NotFound);
        assert_eq!(
            of("The following packages have unmet dependencies:\n x : Depends: y but it is not installable\n\
                E: Unable to correct problems, you have held broken packages."),
            FailureReason::Unsatisfiable
        );
        assert_eq!(
            of("E: Failed to fetch http://deb.invalid/pool/x.deb  404  Not Found"),
            FailureReason::DownloadFailed
        );
        assert_eq!(
            of("dpkg: error processing package x (--configure):\n installed x package post-installation script \
                subprocess returned error exit status 1"),
            FailureReason::ScriptFailed
        );
        assert_eq!(of("Segmentation fault"), FailureReason::Failed);
    }

    #[test]
    fn the_probe_is_read_and_taken_out_of_the_installation_log() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("a.log");
        let mut text =
            b"tamis-probe-begin\n2027-01-02 03:04:05\nhost-b\n1\n0002\n/tmp\n+1400\nx y z \nh g f e d c b a \n"
                .to_vec();
        text.extend_from_slice(b"tamis-probe-end\nReading package lists...\n\xff not UTF-8\n");
        std::fs::write(&log, &text).unwrap();
        let seen = take_probe(&log).unwrap();
        assert_eq!(seen["date"], "2027-01-02 03:04:05");
        assert_eq!((seen["umask"].as_str(), seen["pwd"].as_str()), ("0002", "/tmp"));
        assert_eq!((seen["tz-offset"].as_str(), seen["readdir-etc"].as_str()), ("+1400", "x y z"));
        assert_eq!(seen["readdir-new-dir"], "h g f e d c b a");
        // The log keeps the installation's output, byte for byte.
        assert_eq!(std::fs::read(&log).unwrap(), b"Reading package lists...\n\xff not UTF-8\n");
        // No probe (the installation did not start): nothing seen, the log untouched.
        std::fs::write(&log, b"E: no\n").unwrap();
        assert!(take_probe(&log).unwrap().is_empty());
        assert_eq!(std::fs::read(&log).unwrap(), b"E: no\n");
    }

    #[test]
    fn a_directory_order_that_came_out_alike_is_reported_as_not_varied() {
        let b = Conditions::of(Side::B, &Variation::defaults(), 2);
        let seen = |order: &str| BTreeMap::from([("readdir-new-dir".to_owned(), order.to_owned())]);
        assert_eq!(order_alike(&b, &seen("b h f c g e a d"), &seen("h g f e d c b a")), None);
        let (name, why) = order_alike(&b, &seen("a b c d e f g h"), &seen("a b c d e f g h")).unwrap();
        assert_eq!(name, "readdir");
        assert!(why.contains("readdir-all"), "{why}");
        // Not asked for, or the probe did not run: nothing to say.
        let none = Conditions::of(Side::B, &[Variation::Umask], 2);
        assert_eq!(order_alike(&none, &seen("a b"), &seen("a b")), None);
        assert_eq!(order_alike(&b, &seen(""), &seen("")), None);
        assert_eq!(order_alike(&b, &BTreeMap::new(), &BTreeMap::new()), None);
    }

    #[test]
    fn status_and_day() {
        let status = "Package: a\nStatus: install ok installed\nVersion: 1\n\nPackage: b\nStatus: deinstall ok \
                      config-files\nVersion: 2\n";
        assert_eq!(parse_status(status), vec!["a=1".to_owned()]);
        assert_eq!(day_of(0), "1970-01-01");
        assert_eq!(day_of(1_700_000_000), "2023-11-14");
    }
}
