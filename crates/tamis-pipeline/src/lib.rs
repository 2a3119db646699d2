//! Profiles: which normalizers run on a tree, with which options, in which order.
//!
//! A profile is a TOML file naming an ordered list of stages, each with its options:
//!
//! ```toml
//! description = "a Debian root filesystem about to become an image"
//!
//! [[stage]]
//! name = "mtime"
//! policy = "clamp"
//! ```
//!
//! Stages are found by name in the [registry](stages): a new normalizer crate adds one line
//! there and is at once usable from every profile and from the command line, which knows no
//! stage by name. The pipeline checks a profile before running anything: unknown stages,
//! unknown options, a stage listed twice, and an mtime clamp that is not last are errors.
//!
//! ```
//! use tamis_pipeline::{Pipeline, Profile, Selection};
//!
//! let profile = Profile::builtin("debian-image").expect("built in");
//! let pipeline = Pipeline::new(&profile, &Selection::default())?;
//! let names = pipeline.stage_names();
//! assert_eq!(names.last(), Some(&"mtime"), "the clamp comes last");
//! assert!(names.contains(&"formats"));
//! # Ok::<(), tamis_pipeline::Error>(())
//! ```

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use tamis_core::{Context, Epoch, Mode, Normalizer, Report, Root};

mod registry;

pub use registry::{StageInfo, stages};

/// Why a profile could not be loaded or run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The profile file could not be read.
    #[error("{path}: cannot read profile")]
    Read {
        /// The file.
        path: PathBuf,
        /// The system's reason.
        #[source]
        source: std::io::Error,
    },
    /// The profile is not valid TOML of the expected shape.
    #[error("profile {name}: {reason}")]
    Parse {
        /// The profile's name or file.
        name: String,
        /// The parser's reason, with line and column (in the message, not a `source()`: it
        /// would be printed twice).
        reason: Box<toml::de::Error>,
    },
    /// A stage name that no normalizer has.
    #[error("profile {profile}: unknown stage {name:?}; known stages: {}", known.join(", "))]
    UnknownStage {
        /// The profile.
        profile: String,
        /// The name given.
        name: String,
        /// The names there are.
        known: Vec<&'static str>,
    },
    /// A name given to `--only` or `--skip` that the profile does not run.
    #[error("stage {name:?} is not in profile {profile}, which runs: {}", stages.join(", "))]
    NotInProfile {
        /// The name given.
        name: String,
        /// The profile.
        profile: String,
        /// Its stages.
        stages: Vec<String>,
    },
    /// A stage listed twice.
    #[error("profile {profile}: stage {name:?} is listed twice")]
    DuplicateStage {
        /// The profile.
        profile: String,
        /// The stage.
        name: String,
    },
    /// The mtime clamp is not the last stage.
    #[error(
        "profile {profile}: stage \"mtime\" must be the last one (but for image writers such as \"squashfs\"), since every other stage may change directory times"
    )]
    MtimeNotLast {
        /// The profile.
        profile: String,
    },
    /// A stage's options are not valid for it.
    #[error("profile {profile}: options of stage {stage:?}: {reason}")]
    Options {
        /// The profile.
        profile: String,
        /// The stage.
        stage: String,
        /// The reason (in the message, not a `source()`: it would be printed twice).
        reason: Box<toml::de::Error>,
    },
    /// A stage failed as a whole (per-entry failures are in the reports instead).
    #[error("stage {stage}")]
    Stage {
        /// The stage.
        stage: &'static str,
        /// The reason.
        #[source]
        source: tamis_core::Error,
    },
}

/// A profile as written in TOML.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// The name it was loaded by (a built-in name or a file path).
    #[serde(skip)]
    pub name: String,
    /// One line saying what the profile is for.
    pub description: String,
    /// The stages, in order.
    #[serde(rename = "stage", default)]
    pub stages: Vec<StageSpec>,
}

/// One stage of a profile: its name and its options.
#[derive(Debug, Clone, Deserialize)]
pub struct StageSpec {
    /// The stage's name in the registry.
    pub name: String,
    /// Every other key of the `[[stage]]` table, given to the stage.
    #[serde(flatten)]
    pub options: toml::Table,
}

/// The largest profile file read: a profile is a few hundred bytes; a path to a device or a
/// huge file by mistake must not fill the memory.
const MAX_PROFILE: u64 = 1 << 20;

/// Stages that only write an image of the tree (outside it): they may follow the mtime clamp.
const OUTPUT_STAGES: &[&str] = &["squashfs"];

const BUILTIN: &[(&str, &str)] = &[("debian-image", include_str!("../profiles/debian-image.toml"))];

impl Profile {
    /// The names of the built-in profiles.
    pub fn builtin_names() -> impl Iterator<Item = &'static str> {
        BUILTIN.iter().map(|(name, _)| *name)
    }

    /// A built-in profile.
    ///
    /// # Panics
    /// Never: every built-in profile is parsed by the tests.
    pub fn builtin(name: &str) -> Option<Self> {
        let (name, text) = BUILTIN.iter().find(|(n, _)| *n == name)?;
        Some(Self::parse(name, text).expect("built-in profiles are valid (tested)"))
    }

    /// Parses a profile's TOML text; `name` is used in messages.
    pub fn parse(name: &str, text: &str) -> Result<Self, Error> {
        let mut profile: Self =
            toml::from_str(text).map_err(|e| Error::Parse { name: name.to_owned(), reason: Box::new(e) })?;
        name.clone_into(&mut profile.name);
        Ok(profile)
    }

    /// A built-in profile by name, or else a profile file at that path.
    pub fn load(name_or_path: &str) -> Result<Self, Error> {
        if let Some(profile) = Self::builtin(name_or_path) {
            return Ok(profile);
        }
        let read = |source| Error::Read { path: name_or_path.into(), source };
        let bytes = tamis_core::read_regular_file(std::path::Path::new(name_or_path), MAX_PROFILE).map_err(read)?;
        let text = String::from_utf8(bytes)
            .map_err(|e| read(std::io::Error::new(std::io::ErrorKind::InvalidData, e.utf8_error())))?;
        Self::parse(name_or_path, &text)
    }
}

/// Which of a profile's stages to run: all by default.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// If not empty, run only these (in the profile's order).
    pub only: Vec<String>,
    /// Do not run these.
    pub skip: Vec<String>,
}

/// A checked, ready-to-run list of stages.
pub struct Pipeline {
    profile: String,
    stages: Vec<Box<dyn Normalizer>>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline").field("profile", &self.profile).field("stages", &self.stage_names()).finish()
    }
}

/// What a pipeline did: one report per stage, in order.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// The profile's name.
    pub profile: String,
    /// The epoch used.
    pub epoch: Epoch,
    /// Apply or check.
    pub mode: Mode,
    /// One report per stage run.
    pub stages: Vec<Report>,
}

impl Outcome {
    /// Changes made (or, in check mode, that would be made) by all stages.
    pub fn change_count(&self) -> usize {
        self.stages.iter().map(|r| r.changes.len()).sum()
    }

    /// Entries that could not be handled, over all stages.
    pub fn problem_count(&self) -> usize {
        self.stages.iter().map(|r| r.problems.len()).sum()
    }
}

impl Pipeline {
    /// Checks `profile` and builds its stages, keeping those `selection` asks for.
    pub fn new(profile: &Profile, selection: &Selection) -> Result<Self, Error> {
        let names: Vec<String> = profile.stages.iter().map(|s| s.name.clone()).collect();
        for (i, name) in names.iter().enumerate() {
            if names[..i].contains(name) {
                return Err(Error::DuplicateStage { profile: profile.name.clone(), name: name.clone() });
            }
        }
        // Stages that write an image of the tree change nothing in it: they come after the clamp.
        let changes_tree = |n: &String| !OUTPUT_STAGES.contains(&n.as_str());
        if names.iter().position(|n| n == "mtime").is_some_and(|i| names[i + 1..].iter().any(changes_tree)) {
            return Err(Error::MtimeNotLast { profile: profile.name.clone() });
        }
        for wanted in selection.only.iter().chain(&selection.skip) {
            if !names.contains(wanted) {
                return Err(Error::NotInProfile {
                    name: wanted.clone(),
                    profile: profile.name.clone(),
                    stages: names.clone(),
                });
            }
        }
        let mut stages = Vec::new();
        for spec in &profile.stages {
            let info = registry::find(&spec.name).ok_or_else(|| Error::UnknownStage {
                profile: profile.name.clone(),
                name: spec.name.clone(),
                known: registry::stages().iter().map(|s| s.name).collect(),
            })?;
            let stage = (info.build)(spec.options.clone()).map_err(|e| Error::Options {
                profile: profile.name.clone(),
                stage: spec.name.clone(),
                reason: Box::new(e),
            })?;
            let selected = (selection.only.is_empty() || selection.only.contains(&spec.name))
                && !selection.skip.contains(&spec.name);
            if selected {
                stages.push(stage);
            }
        }
        Ok(Self { profile: profile.name.clone(), stages })
    }

    /// The names of the stages that will run, in order.
    pub fn stage_names(&self) -> Vec<&'static str> {
        self.stages.iter().map(|s| s.name()).collect()
    }

    /// Runs every stage in order on `root`.
    pub fn run(&self, root: &Root, cx: &Context<'_>) -> Result<Outcome, Error> {
        let mut outcome = Outcome { profile: self.profile.clone(), epoch: cx.epoch, mode: cx.mode, stages: Vec::new() };
        // Before any stage: what interrupted runs left (tamis_core::StaleTemporaries); its report
        // is there when it found any.
        let stale = tamis_core::StaleTemporaries;
        let report = stale.run(root, cx).map_err(|source| Error::Stage { stage: stale.name(), source })?;
        if !report.is_clean() {
            outcome.stages.push(report);
        }
        for stage in &self.stages {
            let report = stage.run(root, cx).map_err(|source| Error::Stage { stage: stage.name(), source })?;
            outcome.stages.push(report);
        }
        Ok(outcome)
    }
}
