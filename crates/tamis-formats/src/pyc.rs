//! Python byte code (`.pyc`): the marshal stream's reference flags.
//!
//! `marshal` marks an object with `FLAG_REF` (bit 7 of its type byte) when the object's
//! reference count is above one at the time it is written, so that a later occurrence can be
//! written as a back-reference. Reference counts depend on what else the compiling interpreter
//! holds (interned strings, constants shared with other modules), so two builds compiling the
//! same source can set the flag on different objects: the streams differ, the code loaded
//! from them does not. The handler clears the flag on every object no back-reference uses and
//! renumbers the back-references, in place: the stream keeps its length and every object.
//! The 16-byte header (source mtime and size) is the `pyc` stage's (`tamis-postinst`).
//!
//! Supported: the marshal format of Python 3.11 to 3.14. Their code objects have the same
//! fields; marshal version 5 (3.14) adds one type, the slice (`:`, then start, stop and step),
//! which the compiler now stores as a constant (`a[1:2]`); like a tuple it takes its reference
//! slot before its members. A file named `*.pyc` whose header has another magic number (a Python
//! older than 3.11, or newer than 3.14) is left as it was and reported with that number, not
//! guessed at.

use std::path::Path;

use crate::{Format, FormatError, Handler, Settings};

/// Magic numbers (first two bytes, little-endian) of the interpreters whose code objects this
/// parser knows, as their final releases write them: 3.11, 3.12, 3.13, 3.14.
const MAGICS: [u16; 4] = [3495, 3531, 3571, 3627];
/// For reports: the versions of [`MAGICS`].
const KNOWN: &str = "Python 3.11 to 3.14: 3495, 3531, 3571, 3627";
const HEADER_LEN: usize = 16;
const FLAG_REF: u8 = 0x80;
/// Deeper nesting is refused rather than risk the stack (CPython stops at 2000 too).
const MAX_DEPTH: usize = 2000;

/// The pyc handler.
#[derive(Debug, Clone, Copy)]
pub struct Pyc;

impl Handler for Pyc {
    fn format(&self) -> Format {
        Format::Pyc
    }

    fn what(&self) -> &'static str {
        "marshal reference flags"
    }

    /// A known magic number is recognised whatever the name; another one only in a file named
    /// `*.pyc`, so that it can be reported (the header alone is too weak a sign).
    fn matches(&self, path: &Path, head: &[u8]) -> bool {
        let pyc_header = head.len() >= 8
            && head[2..4] == *b"\r\n"
            && matches!(u32::from_le_bytes([head[4], head[5], head[6], head[7]]), 0 | 1 | 3);
        pyc_header
            && (MAGICS.contains(&u16::from_le_bytes([head[0], head[1]]))
                || path.extension().is_some_and(|e| e == "pyc"))
    }

    fn normalize(&self, bytes: &[u8], _settings: &Settings) -> Result<Option<Vec<u8>>, FormatError> {
        if bytes.len() < HEADER_LEN {
            return Err(FormatError::Truncated { what: "pyc header", offset: 0 });
        }
        let magic = u16::from_le_bytes([bytes[0], bytes[1]]);
        if !MAGICS.contains(&magic) {
            return Err(FormatError::UnknownVersion { what: "magic number", number: magic.into(), known: KNOWN });
        }
        let mut walk = Walk { data: bytes, pos: HEADER_LEN, flagged: Vec::new(), refs: Vec::new() };
        walk.object(0)?;
        if walk.pos != bytes.len() {
            return Err(FormatError::Malformed { what: "bytes after the code object", offset: walk.pos });
        }
        let mut used = vec![false; walk.flagged.len()];
        for &(_, index) in &walk.refs {
            *used
                .get_mut(index as usize)
                .ok_or(FormatError::Malformed { what: "reference to no object", offset: 0 })? = true;
        }
        // New index of each object that stays flagged: its rank among those.
        let mut rank = Vec::with_capacity(used.len());
        let mut next = 0u32;
        for &u in &used {
            rank.push(next);
            next += u32::from(u);
        }
        let mut out = bytes.to_vec();
        for (&at, &u) in walk.flagged.iter().zip(&used) {
            if !u {
                out[at] &= !FLAG_REF;
            }
        }
        for &(at, index) in &walk.refs {
            out[at + 1..at + 5].copy_from_slice(&rank[index as usize].to_le_bytes());
        }
        Ok((out != bytes).then_some(out))
    }
}

/// One pass over a marshal stream: where each flagged object and each back-reference is.
struct Walk<'a> {
    data: &'a [u8],
    pos: usize,
    /// Offsets of the type bytes carrying `FLAG_REF`, in the order marshal numbers them.
    flagged: Vec<usize>,
    /// Offsets of `r` records and the index each refers to.
    refs: Vec<(usize, u32)>,
}

impl Walk<'_> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&[u8], FormatError> {
        let at = self.pos;
        let bytes = at
            .checked_add(n)
            .and_then(|end| self.data.get(at..end))
            .ok_or(FormatError::Truncated { what, offset: at })?;
        self.pos += n;
        Ok(bytes)
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, FormatError> {
        Ok(self.take(1, what)?[0])
    }

    fn i32(&mut self, what: &'static str) -> Result<i32, FormatError> {
        let b = self.take(4, what)?;
        Ok(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn count(&mut self, what: &'static str) -> Result<usize, FormatError> {
        let at = self.pos;
        usize::try_from(self.i32(what)?).map_err(|_| FormatError::Malformed { what: "negative length", offset: at })
    }

    fn objects(&mut self, n: usize, depth: usize) -> Result<(), FormatError> {
        for _ in 0..n {
            self.object(depth + 1)?;
        }
        Ok(())
    }

    /// Reads one object. Flagged objects are numbered when their type byte is met: CPython
    /// reserves a container's slot before reading what it holds.
    fn object(&mut self, depth: usize) -> Result<(), FormatError> {
        if depth > MAX_DEPTH {
            return Err(FormatError::Unsupported("nesting deeper than marshal allows"));
        }
        let at = self.pos;
        let code = self.u8("object type")?;
        if code & FLAG_REF != 0 {
            self.flagged.push(at);
        }
        match code & !FLAG_REF {
            b'0' | b'N' | b'F' | b'T' | b'S' | b'.' => {}
            b'i' => drop(self.take(4, "int")?),
            b'g' => drop(self.take(8, "float")?),
            b'y' => drop(self.take(16, "complex")?),
            b'l' => {
                let n = self.i32("long size")?.unsigned_abs() as usize;
                self.take(n.saturating_mul(2), "long digits")?;
            }
            b'f' => {
                let n = self.u8("float size")? as usize;
                self.take(n, "float text")?;
            }
            b'x' => {
                for _ in 0..2 {
                    let n = self.u8("complex size")? as usize;
                    self.take(n, "complex text")?;
                }
            }
            b's' | b't' | b'u' | b'a' | b'A' => {
                let n = self.count("string size")?;
                self.take(n, "string")?;
            }
            b'z' | b'Z' => {
                let n = self.u8("short string size")? as usize;
                self.take(n, "short string")?;
            }
            // A small tuple: `)` and a one-byte size; `(` is a tuple with a four-byte size.
            b')' => {
                let n = self.u8("tuple size")? as usize;
                self.objects(n, depth)?;
            }
            // A slice (marshal version 5, Python 3.14): start, stop and step.
            b':' => self.objects(3, depth)?,
            b'(' | b'[' | b'<' | b'>' => {
                let n = self.count("container size")?;
                self.objects(n, depth)?;
            }
            b'{' => loop {
                if self.data.get(self.pos) == Some(&b'0') {
                    self.pos += 1;
                    break;
                }
                self.object(depth + 1)?;
                self.object(depth + 1)?;
            },
            b'r' => {
                if code & FLAG_REF != 0 {
                    return Err(FormatError::Malformed { what: "flagged back-reference", offset: at });
                }
                let index = self.i32("reference")?;
                let index = u32::try_from(index)
                    .map_err(|_| FormatError::Malformed { what: "negative reference", offset: at })?;
                self.refs.push((at, index));
            }
            b'c' => {
                // argcount, posonlyargcount, kwonlyargcount, stacksize, flags
                self.take(20, "code object counts")?;
                // code, consts, names, localsplusnames, localspluskinds, filename, name, qualname
                self.objects(8, depth)?;
                self.take(4, "first line number")?;
                // linetable, exceptiontable
                self.objects(2, depth)?;
            }
            _ => return Err(FormatError::Malformed { what: "unknown marshal type", offset: at }),
        }
        Ok(())
    }
}
