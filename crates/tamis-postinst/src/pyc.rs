//! The `pyc` stage.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Deserialize;
use tamis_core::{Action, Context, Edits, Entry, FileKind, Normalizer, Report, Result, Root, Tree};

/// Options of the `pyc` stage (none yet).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct PycOptions {}

/// The `pyc` stage. See the [crate documentation](crate).
#[derive(Debug, Clone, Copy, Default)]
pub struct Pyc;

/// Why bytes are not a pyc header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PycHeaderError {
    /// Fewer than 16 bytes.
    #[error("{0} bytes, shorter than a pyc header")]
    Short(usize),
    /// The magic number does not end in `\r\n`.
    #[error("no pyc magic number")]
    NoMagic,
}

/// The 16-byte header of a `.pyc` file (PEP 552).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PycHeader {
    /// The interpreter's magic number; its last two bytes are `\r\n`.
    pub magic: [u8; 4],
    /// 0: validated by source mtime and size; bit 0: by source hash (bit 1: checked).
    pub flags: u32,
    /// With flags 0: the source's mtime in seconds, modulo 2³².
    pub source_mtime: u32,
    /// With flags 0: the source's size in bytes, modulo 2³².
    pub source_size: u32,
}

impl PycHeader {
    /// Parses the first 16 bytes of a `.pyc`.
    pub fn parse(bytes: &[u8]) -> std::result::Result<Self, PycHeaderError> {
        let header: &[u8; 16] =
            bytes.get(..16).and_then(|h| h.try_into().ok()).ok_or(PycHeaderError::Short(bytes.len()))?;
        let word = |i: usize| u32::from_le_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
        if header[2..4] != *b"\r\n" {
            return Err(PycHeaderError::NoMagic);
        }
        Ok(Self {
            magic: [header[0], header[1], header[2], header[3]],
            flags: word(4),
            source_mtime: word(8),
            source_size: word(12),
        })
    }

    /// `bytes` (a pyc) with `mtime` recorded as its source's mtime; `None` if shorter than a
    /// header.
    pub fn with_source_mtime(bytes: &[u8], mtime: u32) -> Option<Vec<u8>> {
        let mut out = bytes.to_vec();
        out.get_mut(8..12)?.copy_from_slice(&mtime.to_le_bytes());
        Some(out)
    }

    /// Whether Python validates this file against its source's mtime and size (not a hash).
    pub fn is_timestamp_based(&self) -> bool {
        self.flags == 0
    }
}

/// What to do with one pyc.
enum Verdict {
    /// Fresh for the clamped source already.
    Fresh,
    /// Fresh for the source as it is now: record the clamped mtime instead.
    Patch { from: u32, to: u32 },
    /// Not fresh even now: Python recompiles it anyway. Left alone and reported.
    Stale(String),
    /// Not a pyc tamis should touch (hash-based, no source beside it).
    Skip,
    /// Could not be read or parsed.
    Unreadable(String),
}

impl Pyc {
    /// The stage's name.
    pub const NAME: &'static str = "pyc";
    /// One line for `tamis stages`.
    pub const SUMMARY: &'static str =
        "record each source's clamped mtime in __pycache__/*.pyc so Python keeps them fresh after the clamp";

    /// A stage with these options.
    pub fn new(_options: PycOptions) -> Self {
        Self
    }
}

/// The source a `__pycache__/NAME.TAG[.opt-N].pyc` belongs to: `../NAME.py`.
fn source_of(pyc: &Path) -> Option<PathBuf> {
    let cache_dir = pyc.parent()?;
    if cache_dir.file_name()? != "__pycache__" {
        return None;
    }
    let name = pyc.file_name()?.to_str()?;
    let module = name.strip_suffix(".pyc")?.split('.').next()?;
    Some(cache_dir.parent()?.join(format!("{module}.py")))
}

fn verdict(root: &Root, tree: &Tree, pyc: &Entry, epoch_secs: i64) -> Verdict {
    let Some(source) = source_of(&pyc.path).and_then(|s| tree.get(&s)) else {
        return Verdict::Skip;
    };
    // Python stats the source through links (Debian links some modules to configuration
    // files: sitecustomize.py -> /etc/python3.11/sitecustomize.py), as the booted image will.
    let source = match source.meta.kind {
        FileKind::File => source.meta,
        FileKind::Symlink => match root.resolve_in_image(&source.path) {
            Ok(Some((_, meta))) if meta.kind == FileKind::File => meta,
            Ok(_) => return Verdict::Skip,
            Err(e) => return Verdict::Unreadable(e.to_string()),
        },
        _ => return Verdict::Skip,
    };
    let mut head = Vec::with_capacity(16);
    let read = root.open_regular(&pyc.path).and_then(|file| {
        file.take(16).read_to_end(&mut head).map_err(|e| tamis_core::Error::Io {
            path: pyc.path.clone(),
            op: "read",
            source: e,
        })
    });
    if let Err(e) = read {
        return Verdict::Unreadable(e.to_string());
    }
    let header = match PycHeader::parse(&head) {
        Ok(header) => header,
        Err(why) => return Verdict::Unreadable(format!("{}: {why}", tamis_core::display_path(&pyc.path))),
    };
    if !header.is_timestamp_based() {
        return Verdict::Skip;
    }
    // Python compares int(st_mtime) and st_size, each modulo 2**32.
    let now = source.mtime.secs as u32;
    let clamped = source.mtime.secs.min(epoch_secs) as u32;
    let size = source.size as u32;
    if header.source_size != size {
        return Verdict::Stale(format!(
            "{}: records a source of {} bytes, the source has {size}; Python recompiles it anyway",
            tamis_core::display_path(&pyc.path),
            header.source_size
        ));
    }
    if header.source_mtime == clamped {
        Verdict::Fresh
    } else if header.source_mtime == now {
        Verdict::Patch { from: now, to: clamped }
    } else {
        Verdict::Stale(format!(
            "{}: records source mtime {}, the source has {now}; Python recompiles it anyway",
            tamis_core::display_path(&pyc.path),
            header.source_mtime
        ))
    }
}

impl Normalizer for Pyc {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn run(&self, root: &Root, cx: &Context<'_>) -> Result<Report> {
        let tree = root.walk()?;
        let mut edits = Edits::new(root, cx, Self::NAME);
        let pycs: Vec<&Entry> = tree
            .entries()
            .iter()
            .filter(|e| e.meta.kind == FileKind::File && e.path.extension() == Some("pyc".as_ref()))
            // A hard-link group once, under its first name: its other names follow the rewrite.
            .filter(|e| tree.is_first_name(e))
            .collect();
        let epoch = cx.epoch.secs();
        let verdicts: Vec<(&Entry, Verdict)> =
            pycs.par_iter().map(|pyc| (*pyc, verdict(root, &tree, pyc, epoch))).collect();
        for (pyc, verdict) in verdicts {
            match verdict {
                Verdict::Skip => {}
                Verdict::Fresh => edits.examined(1),
                Verdict::Stale(why) | Verdict::Unreadable(why) => {
                    edits.examined(1);
                    edits.problem(&pyc.path, why);
                }
                Verdict::Patch { from, to } => {
                    edits.examined(1);
                    let values = Some((from.to_string(), to.to_string()));
                    let links = tree.links(pyc);
                    let reason = "source mtime changes with the clamp";
                    edits.apply_linked(&pyc.path, &links, Action::Rewrite, reason, values, |root| {
                        let bytes = root.read(&pyc.path)?;
                        // Checked again on the bytes about to be written: never patch what changed since.
                        let patched = PycHeader::with_source_mtime(&bytes, to)
                            .filter(|_| PycHeader::parse(&bytes).ok().map(|h| h.source_mtime) == Some(from));
                        let Some(patched) = patched else {
                            return Err(tamis_core::Error::Io {
                                path: pyc.path.clone(),
                                op: "patch (changed while being normalized)",
                                source: std::io::Error::other("header differs from the one read before"),
                            });
                        };
                        root.replace(&pyc.path, &patched, &links)
                    });
                }
            }
        }
        Ok(edits.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_source_of_a_cached_module() {
        let src = |p: &str| source_of(Path::new(p));
        assert_eq!(
            src("usr/lib/python3.11/__pycache__/json.cpython-311.pyc").unwrap(),
            Path::new("usr/lib/python3.11/json.py")
        );
        assert_eq!(src("a/__pycache__/m.cpython-311.opt-2.pyc").unwrap(), Path::new("a/m.py"));
        assert!(src("a/m.pyc").is_none(), "a legacy pyc beside its source is not a cache");
    }

    #[test]
    fn parses_a_header() {
        let mut bytes = vec![0xa7, 0x0d, 0x0d, 0x0a, 0, 0, 0, 0];
        bytes.extend_from_slice(&1_700_000_000u32.to_le_bytes());
        bytes.extend_from_slice(&42u32.to_le_bytes());
        let h = PycHeader::parse(&bytes).unwrap();
        assert!(h.is_timestamp_based());
        assert_eq!((h.source_mtime, h.source_size), (1_700_000_000, 42));
        assert!(PycHeader::parse(&bytes[..15]).is_err());
        assert!(PycHeader::parse(b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00").is_err());
    }
}
