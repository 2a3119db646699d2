//! Batches: job lines in, result lines out, and result files merged into one table.
//!
//! A job line is a package name (or several, installed together, separated by spaces), a `.deb`
//! file, or a [`Job`] as one JSON object; empty lines and lines starting with `#` are skipped.
//! A result line is a [`Report`](crate::Report) as one JSON object, or, for a job that could not
//! run at all, an object whose `verdict` is `error`. [`merge`] puts result lines of any number
//! of files in one deterministic order, and [`table`] counts them.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;

use crate::{Error, FailureReason, Job, REPORT_FORMAT, Result};

/// The job a line asks for, `None` for a blank or comment line. A line of names takes the
/// base and variations of `template`.
pub fn parse_job_line(line: &str, template: &Job) -> Option<Result<Job>> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    if line.starts_with('{') {
        return Some(serde_json::from_str(line).map_err(|e| Error::Invalid(format!("not a job: {e}"))));
    }
    Some(Ok(Job { packages: line.split_whitespace().map(str::to_owned).collect(), ..template.clone() }))
}

/// The result line of a job that could not run: its line, the job if it was one, the error.
pub fn error_line(line: &str, job: Option<&Job>, error: &str) -> Value {
    serde_json::json!({
        "format": REPORT_FORMAT,
        "line": line.trim(),
        "job": job,
        "verdict": "error",
        "error": error,
    })
}

/// The key a result is sorted and deduplicated by: its job (its line when it had none).
fn key(result: &Value) -> String {
    match result.get("job").filter(|j| !j.is_null()) {
        Some(job) => {
            let packages: Vec<&str> =
                job["packages"].as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
            format!("{}\u{0}{job}", packages.join(" "))
        }
        None => format!("{}\u{0}", result["line"].as_str().unwrap_or_default()),
    }
}

/// The results of every line of `texts` (result files), one per job, in the order of their
/// jobs (package names first): the same whatever the order of the files. A job found twice (a
/// resumed run) keeps one result: a check over an error, else the last in that order. A line
/// that is not JSON is an error naming the file and line.
pub fn merge(texts: &[(String, String)]) -> Result<Vec<Value>> {
    let mut all: Vec<(String, u8, String, Value)> = Vec::new();
    for (name, text) in texts {
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let value: Value = serde_json::from_str(line)
                .map_err(|e| Error::Invalid(format!("{name}:{}: not a result line: {e}", i + 1)))?;
            let rank = u8::from(value["verdict"] != "error");
            all.push((key(&value), rank, value.to_string(), value));
        }
    }
    all.sort_by(|x, y| (&x.0, x.1, &x.2).cmp(&(&y.0, y.1, &y.2)));
    let mut out: Vec<(String, Value)> = Vec::new();
    for (k, _, _, value) in all {
        match out.last_mut() {
            Some(last) if last.0 == k => last.1 = value,
            _ => out.push((k, value)),
        }
    }
    Ok(out.into_iter().map(|(_, v)| v).collect())
}

/// What one result says, for the table.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    /// Already in the base at that version: nothing was installed, nothing was checked.
    NothingInstalled,
    /// Nothing differs that counts, tamis has nothing to remove.
    Deterministic,
    /// Differences that count, all removed by tamis' pipeline: the stages.
    MadeDeterministic(Vec<String>),
    /// Differences remain after tamis.
    Remains,
    /// The installation failed: why.
    InstallFailed(String),
    /// The job could not run.
    Error,
}

/// The outcome of one result line.
pub fn outcome(result: &Value) -> Outcome {
    let count = |k: &str| result["counts"][k].as_u64().unwrap_or(0);
    let nothing = result["installed"].as_array().is_some_and(Vec::is_empty);
    match result["verdict"].as_str() {
        Some("deterministic") if nothing => Outcome::NothingInstalled,
        Some("deterministic") if count("tamis-removes") == 0 => Outcome::Deterministic,
        Some("deterministic" | "not-deterministic") if count("remains") == 0 => {
            let mut stages: Vec<String> = findings(result, "tamis-removes")
                .flat_map(|f| f["stages"].as_array().cloned().unwrap_or_default())
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect();
            stages.sort();
            stages.dedup();
            Outcome::MadeDeterministic(stages)
        }
        Some("not-deterministic") => Outcome::Remains,
        Some("install-failed") => Outcome::InstallFailed(
            result["failure"]["reason"].as_str().unwrap_or(FailureReason::Failed.name()).to_owned(),
        ),
        _ => Outcome::Error,
    }
}

/// The findings of `class` that count (not a modification time alone).
fn findings<'a>(result: &'a Value, class: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    result["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(move |f| f["class"] == class && f["group"] != "mtime-only")
}

/// The counts table of merged results, then each package with a remaining difference: the
/// file, its cause and what was seen.
pub fn table(results: &[Value]) -> String {
    let mut out = String::new();
    let mut nothing = 0;
    let mut deterministic = 0;
    let mut made = 0;
    let mut stages: BTreeMap<String, usize> = BTreeMap::new();
    let mut remains = 0;
    let mut failed: BTreeMap<String, usize> = BTreeMap::new();
    let mut errors = 0;
    for r in results {
        match outcome(r) {
            Outcome::NothingInstalled => nothing += 1,
            Outcome::Deterministic => deterministic += 1,
            Outcome::MadeDeterministic(list) => {
                made += 1;
                for s in list {
                    *stages.entry(s).or_default() += 1;
                }
            }
            Outcome::Remains => remains += 1,
            Outcome::InstallFailed(reason) => *failed.entry(reason).or_default() += 1,
            Outcome::Error => errors += 1,
        }
    }
    let row = |out: &mut String, label: &str, n: usize| {
        let _ = writeln!(out, "{label:<48} {n:>5}");
    };
    row(&mut out, "packages checked", results.len());
    row(&mut out, "  already in the base (nothing installed)", nothing);
    row(&mut out, "  deterministic as installed", deterministic);
    row(&mut out, "  made deterministic by tamis", made);
    for (stage, n) in &stages {
        row(&mut out, &format!("    stage {stage} (packages it fixes)"), *n);
    }
    row(&mut out, "  differences remain after tamis", remains);
    row(&mut out, "  install failed", failed.values().sum());
    for (reason, n) in &failed {
        row(&mut out, &format!("    {reason}"), *n);
    }
    row(&mut out, "  job could not run (error)", errors);
    let remaining: Vec<&Value> = results.iter().filter(|r| outcome(r) == Outcome::Remains).collect();
    if !remaining.is_empty() {
        let _ = writeln!(out, "\nremaining differences (package: file [group] cause: detail):");
    }
    for r in remaining {
        let name = r["job"]["packages"]
            .as_array()
            .map_or(String::new(), |p| p.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" "));
        for f in findings(r, "remains") {
            let cause = f["cause"].as_str().unwrap_or("unknown");
            let detail = f["detail"].as_str().unwrap_or_default();
            let detail: String = detail.chars().take(100).collect();
            let _ = writeln!(
                out,
                "{name}: {} [{}] {cause}: {detail}",
                f["path"].as_str().unwrap_or("?"),
                f["group"].as_str().unwrap_or("?")
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BaseSpec;

    fn template() -> Job {
        Job {
            packages: Vec::new(),
            base: BaseSpec::Suite { suite: "bookworm".into(), variant: "apt".into() },
            variations: vec![crate::Variation::Umask],
        }
    }

    #[test]
    fn job_lines() {
        assert!(parse_job_line("  # a comment", &template()).is_none());
        assert!(parse_job_line("", &template()).is_none());
        let job = parse_job_line("man-db  groff-base", &template()).unwrap().unwrap();
        assert_eq!(job.packages, ["man-db", "groff-base"]);
        assert_eq!(job.variations, template().variations);
        let json = r#"{"packages":["a1"],"base":{"kind":"chroot","path":"/b"},"variations":[]}"#;
        let job = parse_job_line(json, &template()).unwrap().unwrap();
        assert_eq!(job.base, BaseSpec::Chroot { path: "/b".into() });
        assert!(parse_job_line("{not json", &template()).unwrap().is_err());
    }

    #[test]
    fn merge_is_sorted_deduplicated_and_independent_of_the_file_order() {
        let r = |p: &str, verdict: &str| {
            serde_json::json!({"job": {"packages": [p]}, "verdict": verdict, "counts": {"remains": 0}}).to_string()
        };
        let x = ("x".to_owned(), format!("{}\n{}\n", r("zsh", "deterministic"), r("bash", "error")));
        let y = ("y".to_owned(), format!("{}\n\n{}\n", r("bash", "deterministic"), r("man-db", "install-failed")));
        let merged = merge(&[x.clone(), y.clone()]).unwrap();
        assert_eq!(merged, merge(&[y, x]).unwrap());
        let names: Vec<(&str, &str)> = merged
            .iter()
            .map(|v| (v["job"]["packages"][0].as_str().unwrap(), v["verdict"].as_str().unwrap()))
            .collect();
        assert_eq!(names, [("bash", "deterministic"), ("man-db", "install-failed"), ("zsh", "deterministic")]);
        let bad = merge(&[("z".to_owned(), "{\n".to_owned())]).unwrap_err().to_string();
        assert!(bad.starts_with("z:1:"), "{bad}");
    }

    #[test]
    fn outcomes_and_the_table() {
        let results = [
            serde_json::json!({"job": {"packages": ["a"]}, "verdict": "deterministic", "installed": ["a=1"],
                "counts": {"tamis-removes": 0, "remains": 0}}),
            serde_json::json!({"job": {"packages": ["bash"]}, "verdict": "deterministic", "installed": [],
                "counts": {"tamis-removes": 0, "remains": 0}}),
            serde_json::json!({"job": {"packages": ["b"]}, "verdict": "not-deterministic",
                "counts": {"tamis-removes": 1, "remains": 0},
                "findings": [{"path": "/etc/x", "group": "content", "class": "tamis-removes", "stages": ["shadow"]}]}),
            serde_json::json!({"job": {"packages": ["c"]}, "verdict": "not-deterministic",
                "counts": {"tamis-removes": 0, "remains": 1},
                "findings": [{"path": "/etc/aliases.db", "group": "content", "class": "remains", "detail": "offset 52"}]}),
            serde_json::json!({"job": {"packages": ["d"]}, "verdict": "install-failed",
                "failure": {"reason": "not-found"}}),
            serde_json::json!({"line": "Bad", "verdict": "error"}),
        ];
        assert_eq!(outcome(&results[1]), Outcome::NothingInstalled);
        assert_eq!(outcome(&results[2]), Outcome::MadeDeterministic(vec!["shadow".into()]));
        let t = table(&results);
        for (label, n) in [
            ("packages checked", 6),
            ("already in the base", 1),
            ("deterministic as installed", 1),
            ("made deterministic by tamis", 1),
            ("stage shadow", 1),
            ("remain after tamis", 1),
            ("install failed", 1),
            ("not-found", 1),
            ("(error)", 1),
        ] {
            let line = t.lines().find(|l| l.contains(label)).unwrap_or_else(|| panic!("{label}: {t}"));
            assert!(line.ends_with(&format!(" {n}")), "{line}");
        }
        assert!(t.contains("c: /etc/aliases.db [content] unknown: offset 52"), "{t}");
    }
}
