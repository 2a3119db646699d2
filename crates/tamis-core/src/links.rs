//! [`Links`]: what tamis knows of the other names of an inode it is about to change.
//!
//! A tree copied with `cp -al`, or filled by a builder that hard-links files from a cache, shares
//! inodes with files outside it. Changing such an inode in place (emptying it, rewriting it,
//! giving it new times) would change the file outside too. The rule, applied by every operation
//! of [`Root`](crate::Root) that changes an existing inode:
//!
//! - an inode whose link count equals the names a walk of the whole tree found for it belongs to
//!   the tree alone: it is changed as one inode, all its names together;
//! - an inode with more links than those names belongs partly to something outside: it is never
//!   changed in place. Its names in the tree are given a new inode (a copy, with the same owner,
//!   mode, extended attributes and times) and the change is made to that copy; the names outside
//!   keep the old inode, untouched. Stages say so in their report ([`Action::Detach`](crate::Action));
//! - when the names are not known to be all of the tree's (only some were given, or they come
//!   from a walk of a subtree or from a walk that could not list every directory), a link count
//!   above them cannot be told apart from names elsewhere in the tree: the operation refuses with
//!   [`Error::HardlinkGroup`](crate::Error::HardlinkGroup) and changes nothing, rather than split
//!   the group.
//!
//! Directories are never hard links (their link count counts subdirectories): none of this
//! applies to them.

use std::path::{Path, PathBuf};

use crate::{Action, Change, Error, Result};

/// The other names that one inode has in a tree. See the documentation of its module (`src/links.rs`).
///
/// Made by [`Tree::links`](crate::Tree::links) from a walk (all the names of the tree, when the
/// walk was of the whole tree and listed every directory), or by [`Links::unknown`] and
/// [`Links::partial`] when the caller knows no more than the names it gives.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Links {
    others: Vec<PathBuf>,
    /// The link count the walk saw, when `others` are known to be every other name in the tree.
    whole: Option<u64>,
}

impl Links {
    /// No other name is known: enough for an inode with one link; an inode with more is refused.
    pub fn unknown() -> Self {
        Self::default()
    }

    /// These other names, with no claim that the tree has no others: an inode with more links
    /// than these names and the one changed is refused.
    pub fn partial<P: AsRef<Path>>(others: impl IntoIterator<Item = P>) -> Self {
        Self { others: others.into_iter().map(|p| p.as_ref().to_owned()).collect(), whole: None }
    }

    /// The other names a walk of part of the tree found (see [`partial`](Self::partial)).
    pub(crate) fn of_part(others: Vec<PathBuf>) -> Self {
        Self { others, whole: None }
    }

    /// Every other name of an inode in the whole tree, as a complete walk found them, and its
    /// link count then.
    pub(crate) fn whole(others: Vec<PathBuf>, nlink: u64) -> Self {
        Self { others, whole: Some(nlink) }
    }

    /// The other names, in the order given (the canonical order, from a walk).
    pub fn others(&self) -> &[PathBuf] {
        &self.others
    }

    /// Whether the names are all those of the tree (from a complete walk of the whole tree).
    pub fn is_whole(&self) -> bool {
        self.whole.is_some()
    }

    /// How many links the inode had outside the tree when the tree was walked: 0 if none or not
    /// known. A stage reports a change of an inode with such links as a [`Detach`](crate::Action::Detach)
    /// too, in check mode as well.
    pub fn outside(&self) -> u64 {
        self.whole.map_or(0, |nlink| nlink.saturating_sub(self.names()))
    }

    /// The change that says `rel`'s names in the tree were given an inode of their own, if the
    /// inode had links outside the tree when it was walked.
    pub fn detach_change(&self, rel: &Path) -> Option<Change> {
        let outside = self.outside();
        (outside > 0).then(|| Change {
            path: rel.to_owned(),
            action: Action::Detach,
            reason: format!(
                "its inode is also linked from {} outside the tree: the tree gets a copy of its own, the file outside \
                 is left as it was",
                count(outside, "name"),
            ),
            before: Some(count(self.names() + outside, "link")),
            after: Some(count(self.names(), "link")),
        })
    }

    /// Names in the tree, the changed one included.
    fn names(&self) -> u64 {
        1 + self.others.len() as u64
    }

    /// How many of the `nlink` links the inode at `rel` has now are outside the tree: 0 when
    /// the names account for all of them; an error when that cannot be told (see the
    /// documentation of its module (`src/links.rs`)).
    pub(crate) fn outside_now(&self, rel: &Path, nlink: u64) -> Result<u64> {
        let names = self.names();
        if nlink == names {
            Ok(0)
        } else if nlink > names && self.whole.is_some() {
            Ok(nlink - names)
        } else {
            Err(Error::HardlinkGroup { path: rel.to_owned(), nlink, given: self.others.len() })
        }
    }
}

/// "1 name", "2 names".
fn count(n: u64, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_outside_links_only_from_whole_walks() {
        let rel = Path::new("a");
        assert_eq!(Links::unknown().outside_now(rel, 1).unwrap(), 0);
        assert!(Links::unknown().outside_now(rel, 2).is_err());
        assert_eq!(Links::partial(["b"]).outside_now(rel, 2).unwrap(), 0);
        assert!(Links::partial(["b"]).outside_now(rel, 3).is_err());
        let whole = Links::whole(vec![PathBuf::from("b")], 3);
        assert_eq!((whole.outside(), whole.outside_now(rel, 3).unwrap()), (1, 1));
        // Fewer links than names: some name is no longer this inode.
        assert!(whole.outside_now(rel, 1).is_err());
    }
}
