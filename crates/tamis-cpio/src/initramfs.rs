//! Initramfs files: one or more cpio archives, each stored plain or compressed, one after the
//! other (an uncompressed early-microcode archive, then the compressed main one), with zero
//! bytes allowed between them — the layout the kernel's unpacker reads.

use std::io::{Read as _, Write as _};
use std::process::{Command, Stdio};

use crate::archive::{self, ArchiveOptions};
use crate::{CpioError, Format, newc, odc};

/// How a segment is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Compression {
    /// Plain cpio.
    None,
    /// gzip, with the compression level its header announces (`XFL`: 2 best, 4 fastest).
    Gzip {
        /// 1 to 9.
        level: u32,
    },
    /// xz (the kernel needs the CRC32 check).
    Xz,
    /// Legacy lzma.
    Lzma,
    /// Zstandard.
    Zstd,
    /// lz4, legacy frame format (the one the kernel reads).
    Lz4,
    /// bzip2.
    Bzip2,
}

impl Compression {
    /// The compression of data starting with `bytes`, by its magic number.
    pub fn detect(bytes: &[u8]) -> Option<Self> {
        Some(if newc::is_newc(bytes) {
            Self::None
        } else if bytes.starts_with(&[0x1f, 0x8b]) {
            let level = match bytes.get(8) {
                Some(2) => 9,
                Some(4) => 1,
                _ => 6,
            };
            Self::Gzip { level }
        } else if bytes.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
            Self::Xz
        } else if bytes.starts_with(&[0x5d, 0, 0]) {
            Self::Lzma
        } else if bytes.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Self::Zstd
        } else if bytes.starts_with(&[0x02, 0x21, 0x4c, 0x18]) {
            Self::Lz4
        } else if bytes.starts_with(b"BZh") {
            Self::Bzip2
        } else {
            return None;
        })
    }

    /// The program that compresses and decompresses this format, with the options used to
    /// compress: the ones Debian's mkinitramfs uses, made single-threaded where the tool has
    /// threads (multi-threaded output can depend on the number of threads).
    fn tool(self) -> Option<(&'static str, &'static [&'static str])> {
        match self {
            Self::None | Self::Gzip { .. } => None,
            Self::Xz => Some(("xz", &["--check=crc32", "--threads=1"])),
            Self::Lzma => Some(("lzma", &[])),
            Self::Zstd => Some(("zstd", &["-q", "-1", "-T1"])),
            Self::Lz4 => Some(("lz4", &["-l", "-q", "-9"])),
            Self::Bzip2 => Some(("bzip2", &["-9"])),
        }
    }
}

/// One stored segment of an initramfs file.
#[derive(Debug, Clone)]
pub struct Segment {
    /// Where it starts in the file.
    pub offset: usize,
    /// How many bytes of the file it takes.
    pub stored_len: usize,
    /// How it is stored.
    pub compression: Compression,
    /// Its cpio archives, decompressed.
    pub cpio: Vec<u8>,
}

/// The most decompressed data one initramfs file may hold (1 GiB, all its segments together):
/// the normalizer holds it in memory, with its normalized copy. A Debian initrd holds 30 to
/// 150 MB; a file that decompresses to more (a compression bomb: 2 GiB of zeros fit in 2 MB of
/// gzip) is refused with [`CpioError::TooLarge`] and left as it is.
pub const DECOMPRESSED_LIMIT: usize = 1 << 30;

fn skip_zeros(bytes: &[u8], mut at: usize) -> usize {
    while bytes.get(at) == Some(&0) {
        at += 1;
    }
    at
}

/// Splits an initramfs file into its segments, decompressing each.
///
/// # Panics
/// Never: every compressed format has a tool.
pub fn split(file: &[u8]) -> Result<Vec<Segment>, CpioError> {
    let mut segments = Vec::new();
    let mut at = skip_zeros(file, 0);
    let mut budget = DECOMPRESSED_LIMIT;
    let too_large = |at| CpioError::TooLarge { at, limit: DECOMPRESSED_LIMIT >> 20 };
    while at < file.len() {
        let rest = &file[at..];
        let compression = Compression::detect(rest).ok_or(CpioError::UnknownData { at })?;
        let (stored_len, cpio) = match compression {
            Compression::None => {
                let (_, end) = newc::parse(rest)?;
                (end, rest[..end].to_vec())
            }
            Compression::Gzip { .. } => {
                // One gzip member: the kernel reads the bytes after it as the next segment.
                let mut reader = rest;
                let mut cpio = Vec::new();
                flate2::bufread::GzDecoder::new(&mut reader)
                    .take(budget as u64 + 1)
                    .read_to_end(&mut cpio)
                    .map_err(|e| CpioError::Decompress { at, tool: "gzip", why: e.to_string() })?;
                if cpio.len() > budget {
                    return Err(too_large(at));
                }
                (rest.len() - reader.len(), cpio)
            }
            other => {
                // Other formats end the file in practice (mkinitramfs appends one compressed
                // archive last); the tool decompresses everything that is left.
                let (tool, _) = other.tool().expect("compressed formats have a tool");
                let cpio = match run(tool, &["-d", "-c"], rest, budget) {
                    Ok(cpio) => cpio,
                    Err(Run::TooLarge) => return Err(too_large(at)),
                    Err(Run::Failed(why)) => return Err(CpioError::Decompress { at, tool, why }),
                };
                (rest.len(), cpio)
            }
        };
        budget -= cpio.len().min(budget);
        segments.push(Segment { offset: at, stored_len, compression, cpio });
        at = skip_zeros(file, at + stored_len);
    }
    if segments.is_empty() {
        return Err(CpioError::UnknownData { at: 0 });
    }
    Ok(segments)
}

/// Why a tool's run gave no output.
enum Run {
    /// It wrote more than the limit and was stopped.
    TooLarge,
    /// It could not run, or failed, with its message.
    Failed(String),
}

/// Runs `tool` with `input` on its standard input and returns its standard output, reading no
/// more than `max` bytes of it: a tool that writes more is killed.
fn run(tool: &'static str, args: &[&str], input: &[u8], max: usize) -> Result<Vec<u8>, Run> {
    let mut child = Command::new(tool)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Run::Failed(format!("cannot run {tool}: {e}")))?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let (output, errors) = std::thread::scope(|scope| {
        let writer = scope.spawn(move || stdin.write_all(input));
        let errors = scope.spawn(move || {
            let mut text = Vec::new();
            let _ = (&mut stderr).take(1 << 16).read_to_end(&mut text);
            text
        });
        let mut output = Vec::new();
        let read = stdout.take((max as u64).saturating_add(1)).read_to_end(&mut output);
        if output.len() > max {
            // Stopped here: its pipes close, its writer and reader threads end.
            let _ = child.kill();
        }
        let status = child.wait();
        // A tool that stops reading early (bad data) makes the write fail: its exit says why.
        let _ = writer.join();
        let errors = errors.join().unwrap_or_default();
        (read.and(status).map(|status| (status, output)), errors)
    });
    let (status, output) = output.map_err(|e| Run::Failed(format!("{tool}: {e}")))?;
    if output.len() > max {
        return Err(Run::TooLarge);
    }
    if !status.success() {
        return Err(Run::Failed(format!("{tool}: {}", String::from_utf8_lossy(&errors).trim())));
    }
    Ok(output)
}

/// Normalizes plain cpio archives that follow one another, with zero bytes allowed between
/// and after them (a standalone `.cpio` file): each archive by [`archive::normalize`], padded
/// to a 512-byte block, in its format (newc, crc or odc). Bytes that are neither an archive nor zeros are
/// [`CpioError::UnknownData`].
pub fn normalize_archives(cpio: &[u8], epoch: u32, options: ArchiveOptions) -> Result<Vec<u8>, CpioError> {
    normalize_cpio(cpio, epoch, options)
}

/// Normalizes every archive in a decompressed segment (several may follow one another).
fn normalize_cpio(cpio: &[u8], epoch: u32, options: ArchiveOptions) -> Result<Vec<u8>, CpioError> {
    let mut out = Vec::with_capacity(cpio.len());
    let mut at = skip_zeros(cpio, 0);
    while at < cpio.len() {
        let format = Format::detect(&cpio[at..]).ok_or(CpioError::UnknownData { at })?;
        let parse = if format == Format::Odc { odc::parse } else { newc::parse };
        let (members, end) = parse(&cpio[at..]).map_err(|e| e.shifted(at))?;
        archive::normalize(&members, format, epoch, options, &mut out)?;
        at = skip_zeros(cpio, at + end);
    }
    Ok(out)
}

fn compress(compression: Compression, cpio: &[u8]) -> Result<Vec<u8>, CpioError> {
    match compression {
        Compression::None => Ok(cpio.to_vec()),
        Compression::Gzip { level } => {
            // No name, no time, Unix: the header says nothing about the build.
            let mut encoder = flate2::GzBuilder::new()
                .mtime(0)
                .operating_system(3)
                .write(Vec::with_capacity(cpio.len() / 3), flate2::Compression::new(level));
            encoder
                .write_all(cpio)
                .and_then(|()| encoder.finish())
                .map_err(|e| CpioError::Compress { tool: "gzip", why: e.to_string() })
        }
        other => {
            let (tool, args) = other.tool().expect("compressed formats have a tool");
            let mut all = args.to_vec();
            all.push("-c");
            run(tool, &all, cpio, usize::MAX - 1).map_err(|e| match e {
                Run::Failed(why) => CpioError::Compress { tool, why },
                Run::TooLarge => CpioError::Compress { tool, why: "more output than memory holds".to_owned() },
            })
        }
    }
}

/// The initramfs file `file` rewritten canonically: each archive normalized
/// ([`archive::normalize`]), each segment stored again as it was (plain, or compressed with the
/// same format), segments concatenated without padding between them. `None` if the result is
/// the file itself.
pub fn normalize(file: &[u8], epoch: u32, options: ArchiveOptions) -> Result<Option<Vec<u8>>, CpioError> {
    normalize_segments(file, split(file)?, epoch, options)
}

/// Whether every segment holds cpio archives (a gzip-compressed manual page named
/// `initramfs.conf.5.gz` splits into one segment, which does not).
pub fn holds_cpio(segments: &[Segment]) -> bool {
    segments.iter().all(|s| newc::is_newc(&s.cpio[skip_zeros(&s.cpio, 0)..]))
}

/// [`normalize`] for a file already [`split`].
pub fn normalize_segments(
    file: &[u8],
    segments: Vec<Segment>,
    epoch: u32,
    options: ArchiveOptions,
) -> Result<Option<Vec<u8>>, CpioError> {
    let mut out = Vec::with_capacity(file.len());
    for segment in segments {
        let cpio = normalize_cpio(&segment.cpio, epoch, options).map_err(|e| e.in_segment(segment.offset))?;
        // Unchanged contents keep their stored bytes: never recompress without need.
        if cpio == segment.cpio {
            out.extend_from_slice(&file[segment.offset..segment.offset + segment.stored_len]);
        } else {
            out.extend(compress(segment.compression, &cpio)?);
        }
    }
    Ok((out != file).then_some(out))
}
