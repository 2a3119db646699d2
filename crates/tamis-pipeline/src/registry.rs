//! The registry: every stage tamis has, by name. Adding a normalizer is one line here.

use tamis_core::Normalizer;
use tamis_cpio::Initramfs;
use tamis_formats::StripFormats;
use tamis_identity::{HostConfig, HostKeys, MachineId};
use tamis_iso::IsoImages;
use tamis_mtime::ClampMtimes;
use tamis_postinst::{Backups, Fontconfig, Ldconfig, Logs, ManDb, NoOptions, Pyc, Shadow};
use tamis_squashfs::SquashfsStage;

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

static STAGES: &[StageInfo] = &[
    StageInfo {
        name: MachineId::NAME,
        summary: MachineId::SUMMARY,
        build: |options| Ok(Box::new(MachineId::new(options.try_into()?))),
    },
    StageInfo {
        name: HostKeys::NAME,
        summary: HostKeys::SUMMARY,
        build: |options| Ok(Box::new(HostKeys::new(options.try_into()?))),
    },
    StageInfo {
        name: HostConfig::NAME,
        summary: HostConfig::SUMMARY,
        build: |options| Ok(Box::new(HostConfig::new(options.try_into()?))),
    },
    StageInfo {
        name: Logs::NAME,
        summary: Logs::SUMMARY,
        build: |options| Ok(Box::new(Logs::new(options.try_into()?))),
    },
    StageInfo {
        name: Backups::NAME,
        summary: Backups::SUMMARY,
        build: |options| Ok(Box::new(Backups::new(options.try_into()?))),
    },
    StageInfo {
        name: Shadow::NAME,
        summary: Shadow::SUMMARY,
        build: |options| Ok(Box::new(Shadow::new(options.try_into()?))),
    },
    StageInfo {
        name: Ldconfig::NAME,
        summary: Ldconfig::SUMMARY,
        build: |options| {
            let NoOptions { .. } = options.try_into()?;
            Ok(Box::new(Ldconfig))
        },
    },
    StageInfo {
        name: ManDb::NAME,
        summary: ManDb::SUMMARY,
        build: |options| {
            let NoOptions { .. } = options.try_into()?;
            Ok(Box::new(ManDb))
        },
    },
    StageInfo { name: Pyc::NAME, summary: Pyc::SUMMARY, build: |options| Ok(Box::new(Pyc::new(options.try_into()?))) },
    StageInfo {
        name: Fontconfig::NAME,
        summary: Fontconfig::SUMMARY,
        build: |options| Ok(Box::new(Fontconfig::new(options.try_into()?))),
    },
    StageInfo {
        name: Initramfs::NAME,
        summary: Initramfs::SUMMARY,
        build: |options| Ok(Box::new(Initramfs::new(options.try_into()?))),
    },
    StageInfo {
        name: IsoImages::NAME,
        summary: IsoImages::SUMMARY,
        build: |options| {
            let NoOptions { .. } = options.try_into()?;
            Ok(Box::new(IsoImages))
        },
    },
    StageInfo {
        name: StripFormats::NAME,
        summary: StripFormats::SUMMARY,
        build: |options| Ok(Box::new(StripFormats::new(&options.try_into()?))),
    },
    StageInfo {
        name: ClampMtimes::NAME,
        summary: ClampMtimes::SUMMARY,
        build: |options| Ok(Box::new(ClampMtimes::new(options.try_into()?))),
    },
    StageInfo {
        name: SquashfsStage::NAME,
        summary: SquashfsStage::SUMMARY,
        build: |options| Ok(Box::new(SquashfsStage::new(options.try_into()?))),
    },
];

/// Every registered stage, in the order `tamis stages` lists them.
pub fn stages() -> &'static [StageInfo] {
    STAGES
}

pub(crate) fn find(name: &str) -> Option<&'static StageInfo> {
    STAGES.iter().find(|s| s.name == name)
}
