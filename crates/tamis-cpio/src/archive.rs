//! One cpio archive made canonical.

use std::collections::BTreeMap;
use std::path::Path;

use tamis_core::canonical_cmp;

use crate::newc::{self, Header, Member};
use crate::{CpioError, Format, odc};

/// What to do with member times: the workspace's one time policy.
pub use tamis_core::TimePolicy;

/// How an archive is made canonical.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct ArchiveOptions {
    /// Clamp or set member times.
    pub times: TimePolicy,
    /// Give every member owner and group 0 (mkinitramfs already does).
    pub root_owner: bool,
}

impl ArchiveOptions {
    /// Member times by `times`; owners kept.
    pub fn new(times: TimePolicy) -> Self {
        Self { times, root_owner: false }
    }

    /// Give every member owner and group 0, or not.
    #[must_use]
    pub fn with_root_owner(mut self, root_owner: bool) -> Self {
        self.root_owner = root_owner;
        self
    }
}

impl Default for ArchiveOptions {
    fn default() -> Self {
        Self { times: TimePolicy::Clamp, root_owner: false }
    }
}

/// `name` without a leading `./`, as a path for ordering and parenting.
fn path_of(name: &[u8]) -> &Path {
    Path::new(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(name))
}

/// Rewrites the members of one archive canonically and appends the archive (trailer and
/// padding to a 512-byte block, as GNU cpio ends one) to `out`:
/// - members in the canonical order of their names, whatever order they came in;
/// - inode numbers renumbered from 1 in that order, hard links sharing theirs, `nlink` the
///   number of names of the group in the archive (a directory: 2 + its subdirectories in the
///   archive); the data of a link group stored with its last name in newc and crc, with every
///   name in odc (as GNU cpio stores them);
/// - times clamped to (or set to) `epoch`;
/// - the device the files were read from (`devmajor`, `devminor`) zeroed: it is the build
///   host's disk; device nodes keep their own numbers (`rdev`);
/// - owners kept, or zeroed with `root_owner`.
///
/// Everything else — names, modes, link targets, contents, each member's format — is kept;
/// the trailer is written in `format`, the archive's (its first header's).
///
/// # Errors
/// [`CpioError::Overflow`] if a value does not fit its odc field (an odc archive of more than
/// 262 143 members); `out` is then left as it was.
///
/// # Panics
/// Never: writing to a `Vec` cannot fail.
pub fn normalize(
    members: &[Member<'_>],
    format: Format,
    epoch: u32,
    options: ArchiveOptions,
    out: &mut Vec<u8>,
) -> Result<(), CpioError> {
    let start = out.len();
    let written = write_canonical(members, format, epoch, options, out);
    if written.is_err() {
        out.truncate(start);
    }
    written
}

fn write_canonical(
    members: &[Member<'_>],
    format: Format,
    epoch: u32,
    options: ArchiveOptions,
    out: &mut Vec<u8>,
) -> Result<(), CpioError> {
    let mut order: Vec<&Member<'_>> = members.iter().collect();
    order.sort_by(|a, b| canonical_cmp(path_of(a.name), path_of(b.name)));

    // Hard-link groups of regular files, by the original (device, inode).
    let key = |m: &Member<'_>| (m.header.devmajor, m.header.devminor, m.header.ino);
    let mut groups: BTreeMap<(u32, u32, u32), Vec<usize>> = BTreeMap::new();
    for (i, m) in order.iter().enumerate() {
        if m.is_file() && m.header.nlink >= 2 {
            groups.entry(key(m)).or_default().push(i);
        }
    }
    // Subdirectory counts, for directories' nlink.
    let mut subdirs: BTreeMap<&Path, u32> = BTreeMap::new();
    for m in order.iter().filter(|m| m.is_dir()) {
        if let Some(parent) = path_of(m.name).parent() {
            *subdirs.entry(parent).or_default() += 1;
        }
    }

    let mut next_ino = 1u32;
    let mut assigned: BTreeMap<(u32, u32, u32), u32> = BTreeMap::new();
    for (i, m) in order.iter().enumerate() {
        let group = (m.is_file() && m.header.nlink >= 2).then(|| &groups[&key(m)]);
        let mut fresh = || {
            next_ino += 1;
            next_ino - 1
        };
        let ino = if group.is_some() { *assigned.entry(key(m)).or_insert_with(fresh) } else { fresh() };
        let (nlink, data) = match group {
            Some(names) => {
                let data = names.iter().map(|&j| order[j].data).find(|d| !d.is_empty()).unwrap_or_default();
                let with_data = m.header.format == Format::Odc || names.last() == Some(&i);
                (names.len() as u32, if with_data { data } else { &[][..] })
            }
            None if m.is_dir() => (2 + subdirs.get(path_of(m.name)).copied().unwrap_or(0), m.data),
            None => (1, m.data),
        };
        let mtime = options.times.apply(m.header.mtime, epoch);
        let (uid, gid) = if options.root_owner { (0, 0) } else { (m.header.uid, m.header.gid) };
        let header = Header {
            format: m.header.format,
            ino,
            mode: m.header.mode,
            uid,
            gid,
            nlink,
            mtime,
            filesize: data.len() as u32,
            devmajor: 0,
            devminor: 0,
            rdevmajor: m.header.rdevmajor,
            rdevminor: m.header.rdevminor,
            check: 0,
        };
        if header.format == Format::Odc {
            odc::write_member(out, &header, m.name, data)?;
        } else {
            newc::write_member(out, &header, m.name, data).expect("writing to a Vec cannot fail");
        }
    }
    if format == Format::Odc {
        odc::write_trailer(out);
    } else {
        newc::write_trailer(out, format == Format::Crc).expect("writing to a Vec cannot fail");
    }
    out.resize(out.len().div_ceil(512) * 512, 0);
    Ok(())
}
