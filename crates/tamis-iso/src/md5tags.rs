//! The MD5 checksum tags libisofs writes when xorriso runs with `-md5 on` (`--md5`): text
//! blocks `libisofs_sb_checksum_tag_v1 pos=19 range_start=0 range_size=19 next=25 md5=… self=…`
//! after the superblock, after the directory tree and at the session's end. Each holds the MD5
//! of the blocks it covers and, as `self`, the MD5 of its own text before ` self=`. xorriso
//! refuses to load an image whose tags do not match, so after the normalizer has patched blocks
//! that tags cover, the tags are recomputed, in the order of their position (a later tag's
//! range covers the earlier tags).
//!
//! The session tag covers the whole session, data included: recomputing it reads the image
//! once. Images without tags (xorriso's default) cost nothing here.

use std::fmt::Write as _;

use md5::{Digest as _, Md5};

use crate::error::{Parse, corrupt};
use crate::iso9660::BLOCK;
use crate::normalize::Patch;
use crate::source::{Source, read};

/// One tag, parsed.
#[derive(Debug, Clone)]
pub(crate) struct Tag {
    /// Absolute byte offset of the tag block.
    pub offset: u64,
    /// The tag's text, `\n` included.
    pub text: Vec<u8>,
    /// The first covered block (relative to the volume) and the count.
    pub range: (u64, u64),
    /// The next tag's block, if it names one.
    pub next: Option<u64>,
}

fn field(text: &[u8], name: &str) -> Option<u64> {
    let key = format!(" {name}=");
    let at = text.windows(key.len()).position(|w| w == key.as_bytes())? + key.len();
    let digits: Vec<u8> = text[at..].iter().copied().take_while(u8::is_ascii_digit).collect();
    std::str::from_utf8(&digits).ok()?.parse().ok()
}

/// The tag at block `lba` of the volume at `base`, if that block holds one.
fn tag_at(src: &dyn Source, base: u64, lba: u64) -> Parse<Option<Tag>> {
    let Some(offset) = lba.checked_mul(BLOCK).and_then(|o| o.checked_add(base)) else { return Ok(None) };
    if offset.saturating_add(BLOCK) > src.len() {
        return Ok(None);
    }
    let block = read(src, offset, BLOCK, "checksum tag")?;
    if !block.starts_with(b"libisofs_") {
        return Ok(None);
    }
    let Some(end) = block.iter().position(|&b| b == b'\n') else { return Ok(None) };
    let text = block[..=end].to_vec();
    if !text.windows(16).any(|w| w == b"checksum_tag_v1 ") {
        return Ok(None);
    }
    let (Some(pos), Some(start), Some(size)) =
        (field(&text, "pos"), field(&text, "range_start"), field(&text, "range_size"))
    else {
        return Err(corrupt(format!("checksum tag at offset {offset}: fields missing")));
    };
    if pos != lba || md5_hex_at(&text, "md5").is_none() || md5_hex_at(&text, "self").is_none() {
        return Err(corrupt(format!("checksum tag at offset {offset}: malformed")));
    }
    let next = field(&text, "next");
    Ok(Some(Tag { offset, text, range: (start, size), next }))
}

/// Where the 32 hex digits after ` NAME=` start in the text.
fn md5_hex_at(text: &[u8], name: &str) -> Option<usize> {
    let key = format!(" {name}=");
    let at = text.windows(key.len()).position(|w| w == key.as_bytes())? + key.len();
    text.get(at..at + 32).filter(|h| h.iter().all(u8::is_ascii_hexdigit)).map(|_| at)
}

/// Every tag of the volume at `base`: those in the 48 blocks after the descriptors, and the
/// ones their `next` fields lead to.
pub(crate) fn find(src: &dyn Source, base: u64) -> Parse<Vec<Tag>> {
    let mut tags: Vec<Tag> = Vec::new();
    let mut queue: Vec<u64> = (17..64).collect();
    let mut seen = std::collections::BTreeSet::new();
    while let Some(lba) = queue.pop() {
        if !seen.insert(lba) || seen.len() > 4096 {
            continue;
        }
        if let Some(tag) = tag_at(src, base, lba)? {
            queue.extend(tag.next);
            tags.push(tag);
        }
    }
    tags.sort_by_key(|t| t.offset);
    Ok(tags)
}

/// Reads `len` bytes at `offset` as they will be once `patches` (sorted by offset) are written.
fn read_patched(src: &dyn Source, offset: u64, len: u64, patches: &[Patch]) -> Parse<Vec<u8>> {
    let mut bytes = read(src, offset, len, "checksummed blocks")?;
    let end = offset + len;
    let first = patches.partition_point(|p| p.offset + p.new.len() as u64 <= offset);
    for p in patches[first..].iter().take_while(|p| p.offset < end) {
        for (i, &b) in p.new.iter().enumerate() {
            let at = p.offset + i as u64;
            if (offset..end).contains(&at) {
                bytes[(at - offset) as usize] = b;
            }
        }
    }
    Ok(bytes)
}

/// The tags recomputed over the image as `patches` leave it: (tag, new text) for those that
/// change. `patches` must be sorted by offset; the new tags are inserted into it as they come,
/// so that a later tag covering an earlier one sees its new text.
pub(crate) fn recompute(
    src: &dyn Source,
    base: u64,
    tags: &[Tag],
    patches: &mut Vec<Patch>,
) -> Parse<Vec<(Tag, Vec<u8>)>> {
    const CHUNK: u64 = 4 << 20;
    let mut out = Vec::new();
    for tag in tags {
        let (start, count) = tag.range;
        let range = start
            .checked_mul(BLOCK)
            .and_then(|f| f.checked_add(base))
            .and_then(|f| Some((f, f.checked_add(count.checked_mul(BLOCK)?)?)));
        let Some((from, to)) = range else {
            return Err(corrupt(format!("checksum tag at offset {}: bad range", tag.offset)));
        };
        if to > src.len() || (from..to).contains(&tag.offset) {
            return Err(corrupt(format!("checksum tag at offset {}: bad range", tag.offset)));
        }
        let mut md5 = Md5::new();
        let mut at = from;
        while at < to {
            let n = CHUNK.min(to - at);
            md5.update(read_patched(src, at, n, patches)?);
            at += n;
        }
        let mut text = tag.text.clone();
        let hex = |d: &[u8]| {
            d.iter().fold(String::new(), |mut s, b| {
                let _ = write!(s, "{b:02x}");
                s
            })
        };
        let md5_at = md5_hex_at(&text, "md5").expect("checked when parsed");
        text[md5_at..md5_at + 32].copy_from_slice(hex(&md5.finalize()).as_bytes());
        let self_at = md5_hex_at(&text, "self").expect("checked when parsed");
        let own = Md5::digest(&text[..self_at - " self=".len()]);
        text[self_at..self_at + 32].copy_from_slice(hex(&own).as_bytes());
        if text != tag.text {
            let patch = Patch {
                offset: tag.offset,
                location: "checksum tag".into(),
                field: "MD5 checksum tag".into(),
                before: String::from_utf8_lossy(&tag.text).trim_end().to_owned(),
                after: String::from_utf8_lossy(&text).trim_end().to_owned(),
                old: tag.text.clone(),
                new: text.clone(),
            };
            let i = patches.partition_point(|p| p.offset < tag.offset);
            patches.insert(i, patch);
            out.push((tag.clone(), text));
        }
    }
    Ok(out)
}
