//! The `fontconfig` stage.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use tamis_core::{Context, Edits, FileKind, Normalizer, Report, Result, Root, Timestamp};

/// Options of the `fontconfig` stage (none yet).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct FontconfigOptions {}

/// The `fontconfig` stage. See the [crate documentation](crate).
#[derive(Debug, Clone, Copy, Default)]
pub struct Fontconfig;

/// `FC_CACHE_MAGIC_MMAP`, the first four bytes of a cache file written by `fc-cache`.
const MAGIC: u32 = 0xFC02_FC04;
/// Offsets in the header of a cache for 64-bit little-endian machines (`*-le64.cache-N`):
/// `magic u32, version i32, size i64, dir i64, dirs i64, dirs_count i32 (+4), set i64,
/// checksum i32 (+4), checksum_nano i64`.
const SIZE_AT: usize = 8;
const DIR_AT: usize = 16;
const CHECKSUM_AT: usize = 48;
const CHECKSUM_NANO_AT: usize = 56;
const HEADER_LEN: usize = 64;

/// Why bytes are not a fontconfig cache this stage reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FontconfigCacheError {
    /// Shorter than a cache header.
    #[error("{0} bytes, shorter than a cache header")]
    Short(usize),
    /// Not `FC_CACHE_MAGIC_MMAP`.
    #[error("magic {0:#010x} is not a fontconfig cache's")]
    Magic(u32),
    /// The header's size is not the file's.
    #[error("header says {header} bytes, the file has {file}")]
    Size {
        /// The size in the header.
        header: i64,
        /// The file's size.
        file: usize,
    },
    /// The font directory's name cannot be read.
    #[error("{0}")]
    Directory(&'static str),
}

/// The parts of a fontconfig cache file that say which directory it describes and which
/// state of that directory it is valid for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FontconfigCache {
    /// The font directory, as an absolute path in the image.
    pub dir: PathBuf,
    /// The directory's mtime in seconds when the cache was written (as fontconfig's `int`).
    pub checksum: i32,
    /// The directory's mtime nanoseconds when the cache was written.
    pub checksum_nano: i64,
}

/// Whether a file of `/var/cache/fontconfig` named `name` is a cache of the layout this stage
/// reads (`*-le64.cache-N`, 64-bit little-endian machines).
pub fn is_le64_cache(name: &str) -> bool {
    name.contains("-le64.cache-")
}

impl FontconfigCache {
    /// Reads the header of a `*-le64.cache-N` file.
    pub fn parse(bytes: &[u8]) -> std::result::Result<Self, FontconfigCacheError> {
        if bytes.len() < HEADER_LEN {
            return Err(FontconfigCacheError::Short(bytes.len()));
        }
        // Offsets inside the header, whose length was checked above.
        let word = |at: usize| i64::from_le_bytes(std::array::from_fn(|i| bytes[at + i]));
        let int = |at: usize| u32::from_le_bytes(std::array::from_fn(|i| bytes[at + i]));
        let magic = int(0);
        if magic != MAGIC {
            return Err(FontconfigCacheError::Magic(magic));
        }
        let size = word(SIZE_AT);
        if usize::try_from(size).ok() != Some(bytes.len()) {
            return Err(FontconfigCacheError::Size { header: size, file: bytes.len() });
        }
        let dir_at = usize::try_from(word(DIR_AT))
            .ok()
            .filter(|&at| at >= HEADER_LEN && at < bytes.len())
            .ok_or(FontconfigCacheError::Directory("directory name outside the file"))?;
        let name = &bytes[dir_at..];
        let end = name
            .iter()
            .position(|&b| b == 0)
            .ok_or(FontconfigCacheError::Directory("directory name not terminated"))?;
        let dir = PathBuf::from(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(&name[..end]));
        if !dir.is_absolute() {
            return Err(FontconfigCacheError::Directory("directory is not absolute"));
        }
        Ok(Self { dir, checksum: int(CHECKSUM_AT) as i32, checksum_nano: word(CHECKSUM_NANO_AT) })
    }

    /// Whether fontconfig finds this cache valid for a directory with this mtime.
    pub fn is_valid_for(&self, mtime: Timestamp) -> bool {
        self.checksum == mtime.secs as i32 && self.checksum_nano == i64::from(mtime.nanos)
    }

    /// Whether this cache was written for a directory with this mtime before the tree lost its
    /// nanoseconds: the seconds agree and the directory has no nanoseconds left, as in a tree
    /// that went through a format keeping whole seconds (squashfs, ISO 9660, cpio, tar).
    /// fontconfig compares the nanoseconds too, so it finds such a cache stale; but a directory
    /// changed after the cache was written would have a later mtime, and one with the same
    /// second and exactly no nanoseconds is one whose nanoseconds were dropped. False for a
    /// cache whose seconds differ (stale), and for one recording no or impossible nanoseconds.
    pub fn is_valid_but_for_dropped_nanoseconds(&self, mtime: Timestamp) -> bool {
        mtime.nanos == 0 && self.checksum == mtime.secs as i32 && (1..1_000_000_000).contains(&self.checksum_nano)
    }

    /// The cache's bytes made valid for a directory with this mtime.
    pub fn patched(bytes: &[u8], mtime: Timestamp) -> Vec<u8> {
        let mut out = bytes.to_vec();
        out[CHECKSUM_AT..CHECKSUM_AT + 4].copy_from_slice(&(mtime.secs as i32).to_le_bytes());
        out[CHECKSUM_NANO_AT..CHECKSUM_NANO_AT + 8].copy_from_slice(&i64::from(mtime.nanos).to_le_bytes());
        out
    }
}

impl Fontconfig {
    /// The stage's name.
    pub const NAME: &'static str = "fontconfig";
    /// One line for `tamis stages`.
    pub const SUMMARY: &'static str =
        "keep fontconfig's caches valid after the clamp: record each font directory's clamped mtime";

    /// A stage with these options.
    pub fn new(_options: FontconfigOptions) -> Self {
        Self
    }

    fn one(edits: &mut Edits<'_>, cache_path: &Path, epoch: Timestamp) {
        let root = edits.root();
        let shown = tamis_core::display_path(cache_path);
        let bytes = match root.read(cache_path) {
            Ok(bytes) => bytes,
            Err(e) => return edits.error(cache_path, &e),
        };
        let cache = match FontconfigCache::parse(&bytes) {
            Ok(cache) => cache,
            Err(why) => return edits.problem(cache_path, format!("{shown}: {why}; left as it is")),
        };
        // fontconfig stats the directory through links, as the booted image will.
        let dir = match root.resolve_in_image(&cache.dir) {
            Ok(Some((_, meta))) if meta.kind == FileKind::Dir => meta,
            Ok(other) => {
                let found = other.map_or("nothing", |(_, m)| m.kind.noun());
                let why =
                    format!("{shown}: describes {}, which is {found} in the image; left as it is", cache.dir.display());
                return edits.problem(cache_path, why);
            }
            Err(e) => return edits.error(cache_path, &e),
        };
        let clamped = dir.mtime.clamped(epoch);
        if cache.is_valid_for(clamped) {
            return;
        }
        let (reason, before) = if cache.is_valid_for(dir.mtime) {
            ("records its font directory's mtime, which changes with the clamp", dir.mtime)
        } else if cache.is_valid_but_for_dropped_nanoseconds(dir.mtime) {
            // Written for this directory; the tree went through a whole-seconds format since
            // (live-build's squashfs, taken back by its hook). The clamped time has no
            // nanoseconds, so the cache is valid for the tree as it is and the same in every build.
            let recorded = Timestamp { secs: dir.mtime.secs, nanos: u32::try_from(cache.checksum_nano).unwrap_or(0) };
            (
                "records its font directory's mtime to the nanosecond, which the tree lost since (whole seconds)",
                recorded,
            )
        } else {
            let why = format!(
                "{shown}: stale before normalization (written for {} at {}.{:09}, the directory has {}); fontconfig rebuilds it",
                cache.dir.display(),
                cache.checksum,
                cache.checksum_nano,
                dir.mtime
            );
            return edits.problem(cache_path, why);
        };
        let patched = FontconfigCache::patched(&bytes, clamped);
        let values = Some((before.to_string(), clamped.to_string()));
        edits.write(cache_path, &patched, reason, values);
    }
}

impl Normalizer for Fontconfig {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn run(&self, root: &Root, cx: &Context<'_>) -> Result<Report> {
        let mut edits = Edits::new(root, cx, Self::NAME);
        let caches = Path::new("var/cache/fontconfig");
        if !root.is_dir(caches) {
            return Ok(edits.finish());
        }
        for entry in root.walk_under(caches)?.entries() {
            let name = entry.path.file_name().unwrap_or_default().to_string_lossy();
            if entry.meta.kind != FileKind::File || !name.contains(".cache-") {
                continue;
            }
            edits.examined(1);
            if is_le64_cache(&name) {
                Self::one(&mut edits, &entry.path, cx.epoch.timestamp());
            } else {
                let why = format!(
                    "{}: only the le64 cache layout is supported; left as it is",
                    tamis_core::display_path(&entry.path)
                );
                edits.problem(&entry.path, why);
            }
        }
        Ok(edits.finish())
    }
}
