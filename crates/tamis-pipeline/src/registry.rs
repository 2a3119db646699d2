//! The registry: every stage tamis has, by name. Adding a normalizer is one line here.

use tamis_core::Normalizer;
use tamis_cpio::Initramfs;
use tamis_formats::StripFormats;
use tamis_identity::{HostConfig, HostKeys, MachineId};
use tamis_iso::IsoImages;
use tamis_mtime::ClampMtimes;
use tamis_postinst::{Backups, DocBase, Fontconfig, Ldconfig, Logs, ManDb, NoOptions, Pyc, Shadow};
use tamis_squashfs::{SquashfsStage, SquashfsStageOptions};

/// A stage as the registry knows it.
pub struct StageInfo {
    /// The name used in profiles and on the command line.
    pub name: &'static str,
    /// One line for `tamis stages`.
    pub summary: &'static str,
    /// Builds the stage from its options (the `[[stage]]` table without `name`).
    pub build: fn(toml::Table) -> Result<Box<dyn Normalizer>, toml::de::Error>,
}

impl std::fmt::Debug for StageInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StageInfo").field("name", &self.name).finish_non_exhaustive()
    }
}

/// A stage built by `Stage::new(options)` from its `[[stage]]` table, or by `$build`.
macro_rules! stage {
    ($stage:ident) => {
        stage!($stage, |options| Ok(Box::new($stage::new(options.try_into()?))))
    };
    ($stage:ident, $build:expr) => {
        StageInfo { name: $stage::NAME, summary: $stage::SUMMARY, build: $build }
    };
}

/// A stage that takes no options: its `[[stage]]` table must hold nothing but the name.
macro_rules! stage_without_options {
    ($stage:ident) => {
        stage!($stage, |options| {
            let NoOptions { .. } = options.try_into()?;
            Ok(Box::new($stage))
        })
    };
}

static STAGES: &[StageInfo] = &[
    stage!(MachineId),
    stage!(HostKeys),
    stage!(HostConfig),
    stage!(Logs),
    stage!(Backups),
    stage!(Shadow),
    stage!(DocBase),
    stage_without_options!(Ldconfig),
    stage_without_options!(ManDb),
    stage!(Pyc),
    stage!(Fontconfig),
    stage!(Initramfs),
    stage_without_options!(IsoImages),
    stage!(StripFormats, |options| Ok(Box::new(StripFormats::new(&options.try_into()?)))),
    stage!(ClampMtimes),
    stage!(SquashfsStage, |options| {
        let options: SquashfsStageOptions = options.try_into()?;
        // A wrong compression level is a profile error, found before anything runs.
        options.compression().map_err(<toml::de::Error as serde::de::Error>::custom)?;
        Ok(Box::new(SquashfsStage::new(options)))
    }),
];

/// Every registered stage, in the order `tamis stages` lists them.
pub fn stages() -> &'static [StageInfo] {
    STAGES
}

pub(crate) fn find(name: &str) -> Option<&'static StageInfo> {
    STAGES.iter().find(|s| s.name == name)
}
