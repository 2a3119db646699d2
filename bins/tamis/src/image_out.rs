//! Where an image of a tree may be written: not inside the tree, by any path (a bind mount of
//! the tree or of a directory of it included: see [`tamis_core::directory_in_tree`]).

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use tamis_core::Root;

/// The directory a file `out` goes in (`.` for a bare name).
pub fn directory_of(out: &Path) -> PathBuf {
    match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Refuses `out` when its directory is a directory of the tree beneath `root`.
pub fn refuse_inside(root: &Root, out: &Path) -> Result<()> {
    let dir = directory_of(out);
    if let Some(inside) = tamis_core::directory_in_tree(root, &dir)? {
        bail!(
            "{}: the image may not be written inside the tree it is made of ({} is the tree's {})",
            out.display(),
            dir.display(),
            tamis_core::display_path(&inside)
        );
    }
    Ok(())
}
