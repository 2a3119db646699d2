//! `tamis postinst-check`: install packages twice under different conditions, say what differs,
//! what tamis removes and what remains the package's. The work is in `tamis-postinst-check`;
//! this reads the host's configuration, sets up the namespace and the signal handler, prints.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::Args;
use tamis_manifest::Group;
use tamis_postinst_check::{BaseSpec, Class, HostTools, Job, Options, Report, Variation, Verdict};

use crate::args::{EpochArgs, LimitArgs, OutputArgs, QuietArgs};

const EXIT_CODES: &str = exit_help!("0", "1", "2", "3", "129, 130, 143"; "\
0: deterministic, nothing differs but modification times and apt's and dpkg's own files; 1: not
deterministic (what differs is listed, with what tamis removes and what remains); 3: the
installation failed (a package not found, unmet dependencies, a maintainer script that failed,
the time limit): the report says which, with the end of the log. With --jobs: 0 when every job
got its result line (whatever its verdict), 2 otherwise.

The epoch both installations are normalized to is --epoch, else SOURCE_DATE_EPOCH, else when
the base's package set last changed (the mtime of its /var/lib/dpkg/status).

Needs root. Runs in a mount namespace of its own: no mount outlives it. Copies are removed at
the end, on error and on Ctrl-C. The host's files are never written.");

/// Set by the signal handler: the check's own errors then are the interruption's doing, and
/// the handler decides the exit status.
static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Set in the environment of the copy of tamis that runs inside its own mount namespace.
const IN_NAMESPACE: &str = "TAMIS_POSTINST_CHECK_IN_NAMESPACE";

/// Arguments of `tamis postinst-check`.
#[derive(Debug, Args)]
#[command(after_help = EXIT_CODES)]
pub struct PostinstCheckArgs {
    /// Use this chroot as the base (read only; it should have apt's package lists).
    #[arg(long, value_name = "DIR")]
    chroot: Option<PathBuf>,
    /// Make the base with mmdebstrap for this suite, from the host's apt sources (cached per day).
    #[arg(long, default_value = "bookworm", value_name = "SUITE")]
    suite: String,
    /// mmdebstrap's variant for the base.
    #[arg(long, default_value = "apt", value_name = "VARIANT")]
    variant: String,
    /// What the second installation varies (default: clock, hostname, umask, timezone, locale,
    /// environment, build-path, cpus, readdir). readdir: the order of the directory entries the
    /// installation makes (b's overlay writes to a tmpfs); readdir-all, not by default: every
    /// directory's, the base's too, reversed by disorderfs (FUSE, needs /dev/fuse; slower).
    #[arg(long, value_delimiter = ',', value_name = "VARIATION,..")]
    variations: Vec<String>,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    quiet: QuietArgs,
    /// Keep the two installed chroots (made by copying then, not by overlay, so the default
    /// directory order is not varied: add readdir-all) and say where. When something that
    /// counts differed, tamis' pipeline has run on them: they are the trees after tamis.
    #[arg(long)]
    keep: bool,
    /// Where bases, downloaded packages and the copies live.
    #[arg(long, default_value = "/var/cache/tamis/postinst-check", value_name = "DIR")]
    cache: PathBuf,
    #[command(flatten)]
    epoch: EpochArgs,
    /// Run the job in FILE (JSON: {"packages": [..], "base": {"kind": "suite", "suite": ..,
    /// "variant": ..} or {"kind": "chroot", "path": ..}, "variations": [..]}), the "job" object
    /// of a report, instead of the job the other options describe.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["chroot", "variations", "packages"])]
    job: Option<PathBuf>,
    /// When not deterministic, find which variation brings each difference: one more check with
    /// nothing varied (what differs by chance), then one per variation alone.
    #[arg(long)]
    attribute: bool,
    #[command(flatten)]
    limit: LimitArgs,
    /// The longest one installation may take, in seconds: then it is killed, with every process
    /// it started, and the verdict is install-failed (timed-out).
    #[arg(long, default_value_t = 900, value_name = "SECONDS")]
    timeout: u64,
    /// Run every job of FILE ('-': standard input), one per line: package names (installed
    /// together, with the base and variations of the other options) or a JSON job; write one
    /// JSON result per line to standard output. One process, one base for the whole run.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["job", "packages", "merge"])]
    jobs: Option<PathBuf>,
    /// Merge result files (of --jobs) into one list in a deterministic order (written with
    /// --json) and print the counts table and the remaining differences.
    #[arg(long, num_args = 1.., value_name = "RESULTS.jsonl", conflicts_with_all = ["job", "packages"])]
    merge: Vec<PathBuf>,
    /// Package names (resolved by apt in the base) or .deb files, installed together.
    #[arg(required_unless_present_any = ["job", "jobs", "merge"], value_name = "PACKAGE.deb|NAME")]
    packages: Vec<String>,
}

/// `tamis postinst-check`.
pub fn run(args: &PostinstCheckArgs) -> Result<ExitCode> {
    if !args.merge.is_empty() {
        return merge(args);
    }
    // A bad --epoch or SOURCE_DATE_EPOCH is refused before anything is set up.
    let epoch = args.epoch.given()?;
    #[allow(clippy::disallowed_methods, reason = "the binary is where configuration is read")]
    if std::env::var_os(IN_NAMESPACE).is_none() {
        return reexec_in_namespace();
    }
    let tools = HostTools::find();
    let variations = Variation::list(&args.variations)?;
    let base = match &args.chroot {
        Some(dir) => BaseSpec::Chroot { path: std::path::absolute(dir)? },
        None => BaseSpec::Suite { suite: args.suite.clone(), variant: args.variant.clone() },
    };
    let job = match &args.job {
        Some(file) => {
            let text = std::fs::read(file).with_context(|| format!("{}: cannot read the job", file.display()))?;
            serde_json::from_slice(&text).with_context(|| format!("{}: not a job", file.display()))?
        }
        None => Job { packages: args.packages.clone(), base, variations },
    };
    let options = Options {
        cache: std::path::absolute(&args.cache)?,
        day: tamis_postinst_check::day_of(crate::now().secs),
        sources: tamis_postinst_check::host_sources(std::path::Path::new("/etc/apt")),
        keep: args.keep,
        epoch,
        host_cpus: std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
        faketime: tools.faketime,
        disorderfs: tools.disorderfs,
        timeout: std::time::Duration::from_secs(args.timeout),
    };
    std::fs::create_dir_all(&options.cache)
        .with_context(|| format!("{}: cannot make the cache directory", options.cache.display()))?;
    install_signal_handler()?;
    if let Some(file) = &args.jobs {
        return batch(args, file, &job, &options);
    }
    let started = std::time::Instant::now();
    // Not eprintln!: a closed stderr must not stop the check half-way (it would still clean up).
    let log = |line: &str| {
        if !args.quiet.quiet {
            let _ = writeln!(std::io::stderr().lock(), "postinst-check: {line}");
        }
    };
    let checked = tamis_postinst_check::check(&job, &options, &log).and_then(|mut report| {
        if args.attribute && report.verdict == Verdict::NotDeterministic {
            tamis_postinst_check::attribute(&mut report, &options, &log)?;
        }
        Ok(report)
    });
    // Killed installations fail, or end as an install-failed report: either is the
    // interruption's doing, not a result; the handler is cleaning up and exits 128 + signal.
    if INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst) {
        wait_for_the_signal_handler();
    }
    let report = checked?;
    let seconds = started.elapsed().as_secs_f64();
    if !args.quiet.quiet {
        note_text!(summary(&report, args.limit.limit, seconds));
    }
    args.output.write(&report)?;
    Ok(ExitCode::from(match report.verdict {
        Verdict::Deterministic => 0,
        Verdict::NotDeterministic => 1,
        Verdict::InstallFailed => 3,
    }))
}

/// `--jobs FILE`: every job line, one result line each on standard output; the base of each
/// kind prepared once.
fn batch(args: &PostinstCheckArgs, file: &std::path::Path, template: &Job, options: &Options) -> Result<ExitCode> {
    use std::io::BufRead as _;
    let text = if file.as_os_str() == "-" {
        let mut text = String::new();
        for line in std::io::stdin().lock().lines() {
            text.push_str(&line.context("cannot read the jobs from standard input")?);
            text.push('\n');
        }
        text
    } else {
        std::fs::read_to_string(file).with_context(|| format!("{}: cannot read the jobs", file.display()))?
    };
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty() && !l.trim().starts_with('#')).collect();
    let mut bases: std::collections::BTreeMap<String, tamis_postinst_check::Base> = std::collections::BTreeMap::new();
    let mut ok = true;
    for (i, line) in lines.iter().enumerate() {
        let log = |msg: &str| {
            let _ =
                writeln!(std::io::stderr().lock(), "postinst-check [{}/{}] {}: {msg}", i + 1, lines.len(), line.trim());
        };
        let result = match tamis_postinst_check::batch::parse_job_line(line, template) {
            None => continue,
            Some(Err(e)) => tamis_postinst_check::batch::error_line(line, None, &e.to_string()),
            Some(Ok(job)) => match run_job(&job, &mut bases, options, args.attribute, &log) {
                Ok(report) => serde_json::to_value(&report)?,
                Err(_) if INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst) => wait_for_the_signal_handler(),
                Err(e) => {
                    log(&format!("error: {e}"));
                    tamis_postinst_check::batch::error_line(line, Some(&job), &e.to_string())
                }
            },
        };
        // A job whose installation the interruption killed has no result of its own.
        if INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst) {
            wait_for_the_signal_handler();
        }
        log(result["verdict"].as_str().unwrap_or("?"));
        let mut out = serde_json::to_vec(&result)?;
        out.push(b'\n');
        let mut stdout = std::io::stdout().lock();
        if stdout.write_all(&out).and_then(|()| stdout.flush()).is_err() {
            ok = false;
            break;
        }
    }
    Ok(ExitCode::from(if ok { 0 } else { 2 }))
}

/// One job of a batch, on the base `bases` holds for its kind (prepared on first use).
fn run_job(
    job: &Job,
    bases: &mut std::collections::BTreeMap<String, tamis_postinst_check::Base>,
    options: &Options,
    attribute: bool,
    log: &dyn Fn(&str),
) -> tamis_postinst_check::Result<Report> {
    let key = serde_json::to_string(&job.base).unwrap_or_default();
    let base = if let Some(base) = bases.get(&key) {
        base.clone()
    } else {
        let base = tamis_postinst_check::prepare_base(job, options, log)?;
        bases.insert(key, base.clone());
        base
    };
    let mut report = tamis_postinst_check::check_on(job, &base, options, log)?;
    if attribute && report.verdict == Verdict::NotDeterministic {
        tamis_postinst_check::attribute(&mut report, options, log)?;
    }
    Ok(report)
}

/// `--merge FILES`: one list of results, the table.
fn merge(args: &PostinstCheckArgs) -> Result<ExitCode> {
    let mut texts = Vec::new();
    for path in &args.merge {
        let text = std::fs::read_to_string(path).with_context(|| format!("{}: cannot read", path.display()))?;
        texts.push((path.display().to_string(), text));
    }
    let merged = tamis_postinst_check::batch::merge(&texts)?;
    args.output.write_lines(&merged)?;
    if args.output.to_stdout() {
        return Ok(ExitCode::SUCCESS);
    }
    // The table is what was asked for: standard output.
    std::io::stdout()
        .lock()
        .write_all(tamis_postinst_check::batch::table(&merged).as_bytes())
        .context("cannot write to standard output")?;
    Ok(ExitCode::SUCCESS)
}

/// Runs this same command again inside a private mount namespace (`unshare --mount`, which
/// makes every mount private): the overlays it mounts disappear with it, whatever happens.
fn reexec_in_namespace() -> Result<ExitCode> {
    use std::os::unix::process::CommandExt as _;
    // Probe first: once exec'd, unshare's own failure would exit 1, which means "not
    // deterministic" here.
    let probe = std::process::Command::new("unshare")
        .args(["--mount", "--propagation", "private", "--", "true"])
        .output()
        .context("cannot run unshare (util-linux)")?;
    anyhow::ensure!(
        probe.status.success(),
        "cannot make a mount namespace (root needed): {}",
        String::from_utf8_lossy(&probe.stderr).trim()
    );
    let exe = std::env::current_exe().context("cannot find the tamis executable")?;
    let error = std::process::Command::new("unshare")
        .args(["--mount", "--propagation", "private", "--"])
        .arg(exe)
        .args(std::env::args_os().skip(1))
        .env(IN_NAMESPACE, "1")
        .exec();
    Err(error).context("cannot run unshare (util-linux) for a mount namespace of its own (root needed)")
}

/// Waits for the signal handler, which cleans up and exits: never returns.
fn wait_for_the_signal_handler() -> ! {
    loop {
        std::thread::park();
    }
}

/// On SIGINT, SIGTERM or SIGHUP: undo every mount and copy, then exit 130 (or 128 + signal).
fn install_signal_handler() -> Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    std::thread::spawn(move || {
        if let Some(signal) = signals.forever().next() {
            INTERRUPTED.store(true, std::sync::atomic::Ordering::SeqCst);
            let _ = writeln!(std::io::stderr().lock(), "postinst-check: interrupted, removing the copies");
            tamis_postinst_check::cleanup_all();
            tamis_core::temp::interrupt();
            std::process::exit(128 + signal);
        }
    });
    Ok(())
}

fn summary(r: &Report, list: usize, seconds: f64) -> String {
    let mut out = String::new();
    let verdict = match r.verdict {
        Verdict::Deterministic => "deterministic",
        Verdict::NotDeterministic => "NOT deterministic",
        Verdict::InstallFailed => "install failed",
    };
    let _ = writeln!(out, "{}: {verdict} ({seconds:.0} s)", r.job.packages.join(" "));
    let base = match &r.base.spec {
        BaseSpec::Chroot { path } => format!("chroot {}", path.display()),
        BaseSpec::Suite { suite, variant } => {
            format!("{suite}, variant {variant}, made {}", r.base.day.as_deref().unwrap_or("?"))
        }
    };
    let digest: String = r.base.digest.chars().take(16).collect();
    let _ = writeln!(out, "  base: {base} (manifest {digest}…); copies by {:?}", r.a.copy);
    if let Some(f) = &r.failure {
        let _ = writeln!(out, "  install failed on {}: {} ({})", f.sides.join(" and "), f.reason.name(), f.status);
        for line in f.log_tail.lines() {
            let _ = writeln!(out, "    | {line}");
        }
        return out;
    }
    let _ = writeln!(out, "  installed: {}", r.installed.join(" "));
    let _ = writeln!(out, "  varied (a → b):");
    varied(&mut out, r);
    let names: Vec<&str> = r.not_varied.iter().map(|(n, _)| n.as_str()).collect();
    let _ = writeln!(out, "  not varied: {}", names.join(", "));
    let width = r.findings.iter().map(|f| f.path.len()).max().unwrap_or(0).min(60);
    let section = |out: &mut String, title: &str, keep: &dyn Fn(&tamis_postinst_check::Finding) -> bool| {
        let items: Vec<_> = r.findings.iter().filter(|f| f.group != Group::MtimeOnly && keep(f)).collect();
        if items.is_empty() {
            return;
        }
        let _ = writeln!(out, "  {title} ({}):", items.len());
        for f in items.iter().take(list) {
            let what = match (&f.class, f.cause) {
                (Class::PackageManager { reason }, _) => (*reason).to_owned(),
                (Class::TamisRemoves { stages }, _) => {
                    let stages = if stages.is_empty() { "?".to_owned() } else { stages.join(", ") };
                    if f.detail.is_empty() {
                        format!("stage {stages}")
                    } else {
                        format!("stage {stages}: {}", f.detail)
                    }
                }
                (Class::Remains, Some(cause)) => format!("{cause:?}: {}", f.detail),
                (Class::Remains, None) if !f.fields.is_empty() => f.fields.join(", "),
                (Class::Remains, None) => f.detail.clone(),
                (Class::NotNormalized, _) => "tamis' pipeline not run".to_owned(),
            };
            let mut line = format!("    {:width$}  [{}] {what}", f.path, f.group.name());
            if let Some(causes) = r.caused_by.get(&f.path) {
                let causes = match causes.as_slice() {
                    [] => "only with several varied".to_owned(),
                    [none] if none == "none" => "differs with nothing varied".to_owned(),
                    some => format!("varied alone: {}", some.join(", ")),
                };
                let _ = write!(line, " ({causes})");
            }
            let _ = writeln!(out, "{}", line.trim_end());
        }
        if items.len() > list {
            let _ = writeln!(out, "    ... and {} more (--json lists all)", items.len() - list);
        }
    };
    section(&mut out, "remains after tamis: the package's nondeterminism", &|f| matches!(f.class, Class::Remains));
    section(&mut out, "removed by tamis", &|f| matches!(f.class, Class::TamisRemoves { .. }));
    section(&mut out, "apt's and dpkg's own (not the package's)", &|f| matches!(f.class, Class::PackageManager { .. }));
    let mtimes = r.findings.iter().filter(|f| f.group == Group::MtimeOnly).count();
    if mtimes > 0 {
        let _ = writeln!(
            out,
            "  modification times only: {mtimes} entries (the time of installation; stage mtime clamps them)"
        );
    }
    let after = match r.identical_after_tamis {
        Some(true) => "identical",
        Some(false) => "still different",
        None => "not run (nothing but modification times and apt's and dpkg's own files differ)",
    };
    let _ = writeln!(out, "  after tamis' pipeline (epoch {}): {after}", r.epoch.secs());
    let steps: Vec<String> = r.seconds.iter().map(|(k, v)| format!("{k} {v:.1}")).collect();
    let _ = writeln!(out, "  seconds: {}", steps.join(", "));
    if let Some(dir) = &r.kept {
        let _ = writeln!(out, "  kept: {}", dir.display());
    }
    out
}

/// One line per variation: the values of a and b, as seen inside the chroot.
fn varied(out: &mut String, r: &Report) {
    for v in &r.job.variations {
        let (ca, cb) = (&r.a.conditions, &r.b.conditions);
        let seen = |key: &str| {
            let (x, y) = (r.a.observed.get(key), r.b.observed.get(key));
            format!("{} → {}", x.map_or("?", String::as_str), y.map_or("?", String::as_str))
        };
        let text = match v {
            Variation::Clock => {
                format!("clock {} (date in the chroot: {})", cb.clock_shift.as_deref().unwrap_or("-"), seen("date"))
            }
            Variation::Hostname => format!("hostname {}", seen("hostname")),
            Variation::Umask => format!("umask {}", seen("umask")),
            Variation::Timezone => format!("TZ {} → {} (offset {})", ca.tz, cb.tz, seen("tz-offset")),
            Variation::Locale => format!("locale {} → {}", ca.locale, cb.locale),
            Variation::Environment => {
                format!(
                    "environment: b adds {}",
                    cb.extra_env.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>().join(" ")
                )
            }
            Variation::BuildPath => {
                format!("build path: copy {} → {}, working directory {}", ca.dir_name, cb.dir_name, seen("pwd"))
            }
            Variation::Cpus => format!("CPUs (nproc) {}", seen("nproc")),
            Variation::Readdir if !cb.tmpfs_upper => {
                let why = r.not_varied.iter().find(|(n, _)| n == v.name()).map_or("", |(_, why)| why.as_str());
                format!("directory order: not varied here ({why})")
            }
            Variation::Readdir => {
                format!("directory order of new entries (b writes to a tmpfs; ls -U): {}", seen("readdir-new-dir"))
            }
            Variation::ReaddirAll => {
                format!("every directory's order (disorderfs; ls -U /etc): {}", seen("readdir-etc"))
            }
            _ => v.name().to_owned(),
        };
        let _ = writeln!(out, "    {text}");
    }
}
