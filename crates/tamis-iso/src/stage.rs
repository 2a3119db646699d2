//! The `iso` stage: ISO 9660 images inside a tree (a live-build output directory, a tree that
//! ships an installer image), found by their content, normalized as `tamis iso normalize` does.
//! Inside a tree the image is rewritten the way every stage rewrites a file (a new file renamed
//! over the old one, owner, mode, attributes and other links kept); for one large image outside
//! a tree, `tamis iso normalize` patches it in place instead.

use std::os::unix::fs::FileExt as _;
use std::path::Path;

use rayon::prelude::*;
use tamis_core::{Action, Context, Edits, Entry, FileKind, Normalizer, Report, Result, Root, display_path};

use crate::normalize::{Options, Plan, normalize_bytes, plan};

/// The `iso` stage. See the documentation of its module (`src/stage.rs`).
#[derive(Debug, Clone, Copy, Default)]
pub struct IsoImages;

impl IsoImages {
    /// The stage's name.
    pub const NAME: &'static str = "iso";
    /// One line for `tamis stages`.
    pub const SUMMARY: &'static str =
        "ISO 9660 images in the tree (by content): dates, GUIDs, EFI FAT and HFS+ times, as `tamis iso normalize`";
}

enum Outcome {
    NotIso,
    Canonical,
    Patch(Plan),
    Failed(String),
}

fn examine(root: &Root, entry: &Entry, options: &Options) -> Outcome {
    // An image is whole 2048-byte blocks and holds its descriptors from byte 32768.
    if entry.meta.kind != FileKind::File || entry.meta.size < 34_816 || entry.meta.size % 2048 != 0 {
        return Outcome::NotIso;
    }
    let file = match root.open_regular(&entry.path) {
        Ok(file) => file,
        Err(e) => return Outcome::Failed(e.to_string()),
    };
    let mut magic = [0u8; 5];
    if file.read_exact_at(&mut magic, 32_769).is_err() || &magic != b"CD001" {
        return Outcome::NotIso;
    }
    match plan(&file, options) {
        Ok(plan) if plan.patches.is_empty() => Outcome::Canonical,
        Ok(plan) => Outcome::Patch(plan),
        Err(fault) => Outcome::Failed(format!("{}; left as it is", fault.at(Path::new(&display_path(&entry.path))))),
    }
}

impl Normalizer for IsoImages {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn run(&self, root: &Root, cx: &Context<'_>) -> Result<Report> {
        let tree = root.walk()?;
        let options = Options::new(cx.epoch);
        let outcomes: Vec<(&Entry, Outcome)> =
            // A hard-link group once, under its first name: its other names follow the rewrite.
            tree.entries().par_iter().filter(|e| tree.is_first_name(e)).map(|e| (e, examine(root, e, &options))).collect();
        let mut edits = Edits::new(root, cx, Self::NAME);
        for (entry, outcome) in outcomes {
            match outcome {
                Outcome::NotIso => {}
                Outcome::Canonical => edits.examined(1),
                Outcome::Failed(why) => {
                    edits.examined(1);
                    edits.problem(&entry.path, why);
                }
                Outcome::Patch(plan) => {
                    edits.examined(1);
                    let links = tree.links(entry);
                    let values = Some((format!("{} fields", plan.patches.len()), "normalized".to_owned()));
                    let reason = "dates and identifiers of the build";
                    edits.apply_linked(&entry.path, &links, Action::Rewrite, reason, values, |root| {
                        let mut bytes = root.read(&entry.path)?;
                        normalize_bytes(&mut bytes, &options).map_err(|reason| tamis_core::Error::Io {
                            path: entry.path.clone(),
                            op: "normalize",
                            source: std::io::Error::new(std::io::ErrorKind::InvalidData, reason),
                        })?;
                        root.replace(&entry.path, &bytes, &links)
                    });
                }
            }
        }
        Ok(edits.finish())
    }
}
