//! A database at a fixed path that a stage rewrites as a whole (`/etc/shadow`, doc-base's
//! registry): read, changed by a function of its bytes, written back atomically.

use std::path::Path;

use tamis_core::{Edits, FileKind, Root};

/// What a stage changes in one such file: the function that makes the new bytes (`Ok(None)`:
/// nothing to change; `Err`: the file is not what the stage knows, and is left as it is), the
/// reason and the values a change is reported with.
pub(crate) struct Rewrite<'a, F> {
    pub change: F,
    pub reason: &'a str,
    pub values: (String, String),
}

/// Applies `rewrite` to the regular file `rel` of `root`, if there is one (nothing else is
/// followed or read); a file that cannot be read or changed is a problem named with its path.
pub(crate) fn rewrite<F, E>(root: &Root, edits: &mut Edits<'_>, rel: &Path, rewrite: &Rewrite<'_, F>)
where
    F: Fn(&[u8]) -> Result<Option<Vec<u8>>, E>,
    E: std::fmt::Display,
{
    match root.try_lstat(rel) {
        Ok(Some(meta)) if meta.kind == FileKind::File => {}
        Ok(_) => return,
        Err(e) => return edits.error(rel, &e),
    }
    edits.examined(1);
    let text = match root.read(rel) {
        Ok(text) => text,
        Err(e) => return edits.error(rel, &e),
    };
    match (rewrite.change)(&text) {
        Ok(Some(new)) => {
            edits.write(rel, &new, rewrite.reason, Some(rewrite.values.clone()));
        }
        Ok(None) => {}
        Err(why) => edits.problem(rel, format!("/{}: {why}; left as it is", rel.display())),
    }
}
