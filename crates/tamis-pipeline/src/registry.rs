//! The registry: every stage tamis has, by name. Adding a normalizer is one line here.

use tamis_core::Normalizer;
use tamis_mtime::ClampMtimes;

use crate::Error;

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

static STAGES: &[StageInfo] = &[StageInfo {
    name: ClampMtimes::NAME,
    summary: ClampMtimes::SUMMARY,
    build: |options| Ok(Box::new(ClampMtimes::new(options.try_into()?))),
}];

/// Every registered stage, in the order `tamis stages` lists them.
pub fn stages() -> &'static [StageInfo] {
    STAGES
}

pub(crate) fn find(name: &str) -> Result<&'static StageInfo, Error> {
    STAGES
        .iter()
        .find(|s| s.name == name)
        .ok_or_else(|| Error::UnknownStage { name: name.to_owned(), known: STAGES.iter().map(|s| s.name).collect() })
}
