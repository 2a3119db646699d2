//! The one shape every normalizer has, so that a reader learns it once and the pipeline can
//! run any of them.

use crate::{Epoch, Mode, Report, Result, Root};

/// Receives progress of long work. Libraries call it; only the binary draws anything.
pub trait Progress: Send + Sync {
    /// A stage starts with `total` units of work (entries, bytes: the stage says).
    fn start(&self, stage: &str, total: u64);
    /// `done` more units are finished.
    fn advance(&self, done: u64);
    /// The stage is finished.
    fn finish(&self);
}

/// Progress that goes nowhere.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _stage: &str, _total: u64) {}
    fn advance(&self, _done: u64) {}
    fn finish(&self) {}
}

/// What every normalizer is given besides the tree.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    /// The date outputs are derived from.
    pub epoch: Epoch,
    /// Change the tree, or only report.
    pub mode: Mode,
    /// Where progress goes.
    pub progress: &'a dyn Progress,
}

impl<'a> Context<'a> {
    /// A context without progress reporting.
    pub fn new(epoch: Epoch, mode: Mode) -> Context<'static> {
        Context { epoch, mode, progress: &NoProgress }
    }

    /// The same context reporting progress to `progress`.
    #[must_use]
    pub fn with_progress(self, progress: &'a dyn Progress) -> Context<'a> {
        Context { progress, ..self }
    }
}

impl std::fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context").field("epoch", &self.epoch).field("mode", &self.mode).finish_non_exhaustive()
    }
}

/// A normalizer removes one source of nondeterminism from a tree.
///
/// `run` must be idempotent (a second run reports no change), must not depend on the order of
/// `readdir` or on the number of threads, and in [`Mode::Check`] must not change anything.
/// Per-entry failures go into the report's problems; `Err` is for failures that stop the stage.
pub trait Normalizer: Send + Sync {
    /// The stage name users type: `mtime`, `fontconfig`, `machine-id`.
    fn name(&self) -> &'static str;
    /// Normalizes the tree beneath `root`.
    fn run(&self, root: &Root, cx: &Context<'_>) -> Result<Report>;
}
