//! The files of an image as a [`TreeSource`]: a tree made of entries of an image (an
//! incremental upgrade kit's diff is made of NEW's) is written with their compressed blocks
//! copied as they are when the options match, rather than decompressed and compressed again.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use crate::read::{Image, ImageEntry};
use crate::write::{StoredFile, TreeSource};
use crate::{Error, Result};

/// The regular files of an [`Image`], by path, as a [`TreeSource`] that gives their stored
/// form ([`TreeSource::stored`]).
#[derive(Debug)]
pub struct ImageFiles<'a> {
    image: &'a Image,
    by_path: BTreeMap<&'a Path, &'a ImageEntry>,
    used: BTreeMap<u32, u32>,
}

impl<'a> ImageFiles<'a> {
    /// The files among `entries`, which should be all of `image`'s (as [`Image::entries`]
    /// lists them): a fragment block is copied whole only when the tree written uses every
    /// byte that these entries use of it.
    pub fn new(image: &'a Image, entries: &'a [ImageEntry]) -> Self {
        let by_path = entries.iter().map(|e| (e.path.as_path(), e)).collect();
        Self { image, by_path, used: image.fragments_used(entries) }
    }

    fn entry(&self, path: &Path) -> Result<&'a ImageEntry> {
        self.by_path
            .get(path)
            .copied()
            .ok_or_else(|| Error::Corrupt(format!("{}: not in the image read from", path.display())))
    }
}

impl TreeSource for ImageFiles<'_> {
    fn open(&self, path: &Path) -> Result<Box<dyn Read + '_>> {
        Ok(Box::new(std::io::Cursor::new(self.image.read_file(self.entry(path)?)?)))
    }

    fn stored(&self, path: &Path) -> Result<Option<StoredFile>> {
        let entry = self.entry(path)?;
        let used = entry.fragment().and_then(|f| self.used.get(&f)).copied().unwrap_or(0);
        self.image.stored_file(entry, used)
    }

    fn stored_data(&self, path: &Path) -> Result<Vec<u8>> {
        self.image.stored_data(self.entry(path)?)
    }

    fn stored_fragment(&self, block: u32) -> Result<(Vec<u8>, u32)> {
        self.image.stored_fragment(block)
    }
}
