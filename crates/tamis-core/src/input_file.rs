//! Files named on the command line (an image to read, a manifest, a profile): opened so that a
//! FIFO never blocks the run and a device is never read.
//!
//! `open` of a FIFO waits for a writer, and reading `/dev/zero` never ends: a path given by
//! mistake, or swapped between a check and the open, must fail at once with its name instead.
//! The file is opened with `O_NONBLOCK` (which changes nothing for a regular file) and its type
//! checked on the open descriptor, so no swap can slip a FIFO in between.

use std::fs::File;
use std::io::{self, Read as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

/// Opens `path` for reading; an error of kind `InvalidInput` when it is not a regular file
/// (a FIFO, a socket, a device, a directory). Links are followed: the user named the path.
pub fn open_regular_file(path: &Path) -> io::Result<File> {
    #[allow(clippy::cast_possible_wrap, reason = "open flags are small positive numbers")]
    let flags = (rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::NOCTTY).bits() as i32;
    let file = std::fs::OpenOptions::new().read(true).custom_flags(flags).open(path)?;
    let kind = file.metadata()?.file_type();
    if !kind.is_file() {
        let what = if kind.is_dir() { "a directory" } else { "not a regular file (a FIFO, socket or device)" };
        return Err(io::Error::new(io::ErrorKind::InvalidInput, what));
    }
    Ok(file)
}

/// The bytes of the regular file at `path`, refused (kind `FileTooLarge`) when it holds more
/// than `limit` bytes: what is read into memory whole has a bound.
pub fn read_regular_file(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    let file = open_regular_file(path)?;
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(io::Error::new(io::ErrorKind::FileTooLarge, format!("larger than {limit} bytes")));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fifo_or_a_device_is_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        for path in [fifo.as_path(), Path::new("/dev/zero"), dir.path()] {
            let e = open_regular_file(path).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{}: {e}", path.display());
        }
        let file = dir.path().join("f");
        std::fs::write(&file, b"12345").unwrap();
        assert_eq!(read_regular_file(&file, 5).unwrap(), b"12345");
        assert_eq!(read_regular_file(&file, 4).unwrap_err().kind(), io::ErrorKind::FileTooLarge);
    }
}
