//! The block compressors squashfs knows, with the options mksquashfs gives them, and the
//! matching decompressors for the reader.
//!
//! Each block is compressed on its own by one thread, with no state carried between blocks, so
//! a block's bytes depend only on its contents, the compressor's version and its options.

use std::io::Write as _;

use serde::Serialize;

use crate::format::PutLe as _;

/// A compressor and its options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "name")]
#[non_exhaustive]
pub enum Compression {
    /// zlib streams (squashfs calls it gzip): deflate at `level` (1–9), window 2^15.
    Gzip {
        /// 1 (fast) to 9 (small); mksquashfs' default is 9.
        level: u32,
    },
    /// xz streams with a CRC32 check: LZMA2 (preset 6) with `dict_size`, and with `x86` each
    /// block is also tried behind the x86 BCJ filter and the smaller result kept, as
    /// `mksquashfs -Xbcj x86` does.
    Xz {
        /// The dictionary size: a power of two, or 2^n + 2^(n-1), at most the block size;
        /// `None` for the block size.
        dict_size: Option<u32>,
        /// Try the x86 BCJ filter (executables compress better) on every block.
        x86: bool,
    },
    /// LZ4 blocks (legacy squashfs format, not high-compression).
    Lz4,
    /// zstd frames at `level` (1–22); mksquashfs' default is 15.
    Zstd {
        /// 1 (fast) to 22 (small).
        level: i32,
    },
}

impl Default for Compression {
    fn default() -> Self {
        Self::Zstd { level: 15 }
    }
}

impl Compression {
    /// The compressor's id in the superblock.
    pub fn id(self) -> u16 {
        match self {
            Self::Gzip { .. } => 1,
            Self::Xz { .. } => 4,
            Self::Lz4 => 5,
            Self::Zstd { .. } => 6,
        }
    }

    /// The name as mksquashfs spells it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Gzip { .. } => "gzip",
            Self::Xz { .. } => "xz",
            Self::Lz4 => "lz4",
            Self::Zstd { .. } => "zstd",
        }
    }

    /// The compressor with mksquashfs' default options, by name.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "gzip" => Self::Gzip { level: 9 },
            "xz" => Self::Xz { dict_size: None, x86: false },
            "lz4" => Self::Lz4,
            "zstd" => Self::Zstd { level: 15 },
            _ => return None,
        })
    }

    /// The same compressor with every option spelled out for `block_size` (an xz dictionary
    /// of `None` is the block size), so that two descriptions of one stream format compare
    /// equal.
    pub(crate) fn normalized(self, block_size: u32) -> Self {
        match self {
            Self::Xz { dict_size, x86 } => {
                Self::Xz { dict_size: Some(dict_size.unwrap_or(block_size).min(block_size)), x86 }
            }
            other => other,
        }
    }

    /// The compressor an image records: its id in the superblock and the options block after
    /// it (`None` when the image has none: the compressor's defaults). `None` for options this
    /// type cannot describe (another xz filter, a gzip window, lz4 high compression).
    pub(crate) fn from_image(id: u16, options: Option<&[u8]>, block_size: u32) -> Option<Self> {
        let mut r = crate::format::Le(options.unwrap_or_default());
        Some(
            match (id, options.is_some()) {
                (1, false) => Self::Gzip { level: 9 },
                (1, true) => {
                    let (level, window, strategies) = (r.u32()?, r.u16()?, r.u16()?);
                    if window != 15 || strategies != 0 {
                        return None;
                    }
                    Self::Gzip { level }
                }
                (4, false) => Self::Xz { dict_size: Some(block_size), x86: false },
                (4, true) => {
                    let (dict_size, filters) = (r.u32()?, r.u32()?);
                    match filters {
                        0 | 1 => Self::Xz { dict_size: Some(dict_size), x86: filters == 1 },
                        _ => return None,
                    }
                }
                (5, false) => Self::Lz4,
                (5, true) => {
                    let (_version, flags) = (r.u32()?, r.u32()?);
                    if flags != 0 {
                        return None;
                    }
                    Self::Lz4
                }
                (6, false) => Self::Zstd { level: 15 },
                (6, true) => Self::Zstd { level: i32::try_from(r.u32()?).ok()? },
                _ => return None,
            }
            .normalized(block_size),
        )
    }

    /// Checks the options against the block size; the reason if they do not fit.
    pub(crate) fn check(self, block_size: u32) -> Result<(), String> {
        match self {
            Self::Gzip { level } if !(1..=9).contains(&level) => Err(format!("gzip level {level} is not 1 to 9")),
            Self::Zstd { level } if !(1..=22).contains(&level) => Err(format!("zstd level {level} is not 1 to 22")),
            Self::Xz { dict_size: Some(d), .. } => {
                let shape = d.is_power_of_two() || (d % 3 == 0 && (d / 3 * 2).is_power_of_two());
                if d < 8192 || d > block_size || !shape {
                    Err(format!(
                        "xz dictionary size {d} must be 2^n or 2^n+2^(n-1), from 8192 to the block size {block_size}"
                    ))
                } else {
                    Ok(())
                }
            }
            _ => Ok(()),
        }
    }

    /// The compressor options stored after the superblock (as mksquashfs writes them: only when
    /// they differ from the compressor's defaults, always for lz4), or `None`.
    pub(crate) fn options_block(self, block_size: u32) -> Option<Vec<u8>> {
        let mut b = Vec::new();
        match self {
            Self::Gzip { level } if level != 9 => {
                b.u32(level);
                b.u16(15);
                b.u16(0);
            }
            Self::Xz { dict_size, x86 } if dict_size.is_some_and(|d| d != block_size) || x86 => {
                b.u32(dict_size.unwrap_or(block_size));
                b.u32(u32::from(x86));
            }
            Self::Lz4 => {
                b.u32(1);
                b.u32(0);
            }
            Self::Zstd { level } if level != 15 => b.u32(level as u32),
            _ => return None,
        }
        Some(b)
    }

    /// `data`, one block of at most `block_size` bytes, compressed as the writer compresses a
    /// block, or `None` when that does not make it smaller (the block is then stored as it is):
    /// for a [`crate::TreeSource`] that gives some blocks of a file compressed
    /// ([`crate::StoredFile`]).
    ///
    /// # Errors
    /// The compressor's message.
    pub fn compress_block(self, data: &[u8], block_size: u32) -> Result<Option<Vec<u8>>, String> {
        self.compress(data, block_size)
    }

    /// `data` compressed, or `None` when that does not make it smaller (the block is then
    /// stored as it is).
    pub(crate) fn compress(self, data: &[u8], block_size: u32) -> Result<Option<Vec<u8>>, String> {
        let out = match self {
            Self::Gzip { level } => {
                let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(level));
                e.write_all(data).and_then(|()| e.finish()).map_err(|e| e.to_string())?
            }
            Self::Xz { dict_size, x86 } => {
                // A metadata block (8 KiB) needs no larger dictionary; the decoders accept any
                // dictionary up to the image's.
                let dict = dict_size.unwrap_or(block_size).min(block_size);
                let plain = xz(data, dict, false)?;
                if x86 {
                    let filtered = xz(data, dict, true)?;
                    // Ties keep the plain stream, as mksquashfs does.
                    if filtered.len() < plain.len() { filtered } else { plain }
                } else {
                    plain
                }
            }
            Self::Lz4 => lz4_flex::block::compress(data),
            Self::Zstd { level } => ZSTD.with_borrow_mut(|slot| {
                let compressor = match slot {
                    Some((l, c)) if *l == level => c,
                    _ => {
                        let c = zstd::bulk::Compressor::new(level).map_err(|e| e.to_string())?;
                        &mut slot.insert((level, c)).1
                    }
                };
                compressor.compress(data).map_err(|e| e.to_string())
            })?,
        };
        Ok((out.len() < data.len()).then_some(out))
    }
}

thread_local! {
    /// One zstd context per worker thread, reused from block to block (a context carries no
    /// data between blocks compressed with the simple API).
    static ZSTD: std::cell::RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> = const { std::cell::RefCell::new(None) };
}

fn xz(data: &[u8], dict_size: u32, x86: bool) -> Result<Vec<u8>, String> {
    let mut lzma = liblzma::stream::LzmaOptions::new_preset(6).map_err(|e| e.to_string())?;
    lzma.dict_size(dict_size);
    let mut filters = liblzma::stream::Filters::new();
    if x86 {
        filters.x86();
    }
    filters.lzma2(&lzma);
    let mut stream = liblzma::stream::Stream::new_stream_encoder(&filters, liblzma::stream::Check::Crc32)
        .map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(data.len() + data.len() / 16 + 128);
    loop {
        let consumed = stream.total_in() as usize;
        let status = stream
            .process_vec(&data[consumed..], &mut out, liblzma::stream::Action::Finish)
            .map_err(|e| e.to_string())?;
        if status == liblzma::stream::Status::StreamEnd {
            return Ok(out);
        }
        out.reserve(out.capacity().max(4096));
    }
}

/// Decompresses one block of compressor `id` holding at most `max` bytes.
pub(crate) fn decompress(id: u16, data: &[u8], max: usize) -> Result<Vec<u8>, String> {
    use std::io::Read as _;
    let too_big = || format!("a block decompresses to more than {max} bytes");
    match id {
        1 => {
            let mut out = Vec::new();
            flate2::read::ZlibDecoder::new(data)
                .take(max as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| format!("zlib: {e}"))?;
            if out.len() > max { Err(too_big()) } else { Ok(out) }
        }
        4 => {
            let mut stream = liblzma::stream::Stream::new_stream_decoder(64 << 20, 0).map_err(|e| e.to_string())?;
            let mut out = Vec::with_capacity(max + 1);
            loop {
                let before = (stream.total_in(), stream.total_out());
                let consumed = stream.total_in() as usize;
                let status = stream
                    .process_vec(&data[consumed..], &mut out, liblzma::stream::Action::Finish)
                    .map_err(|e| format!("xz: {e}"))?;
                if out.len() > max {
                    return Err(too_big());
                }
                if status == liblzma::stream::Status::StreamEnd {
                    return Ok(out);
                }
                if out.len() == out.capacity() {
                    return Err(too_big());
                }
                if (stream.total_in(), stream.total_out()) == before {
                    return Err("xz: truncated stream".into());
                }
            }
        }
        5 => {
            let mut out = vec![0u8; max];
            let n = lz4_flex::block::decompress_into(data, &mut out).map_err(|e| format!("lz4: {e}"))?;
            out.truncate(n);
            Ok(out)
        }
        6 => {
            let mut out = Vec::new();
            zstd::stream::read::Decoder::with_buffer(data)
                .map_err(|e| format!("zstd: {e}"))?
                .single_frame()
                .take(max as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| format!("zstd: {e}"))?;
            if out.len() > max { Err(too_big()) } else { Ok(out) }
        }
        other => Err(format!("compressor id {other} (lzo and lzma are not supported)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_compressor_round_trips() {
        let data: Vec<u8> = (0..100_000u32).flat_map(|i| (i % 251).to_le_bytes()).collect();
        for c in [
            Compression::Gzip { level: 9 },
            Compression::Xz { dict_size: None, x86: true },
            Compression::Lz4,
            Compression::Zstd { level: 15 },
        ] {
            let packed = c.compress(&data, 1 << 20).unwrap().expect("compressible");
            assert_eq!(decompress(c.id(), &packed, data.len()).unwrap(), data, "{c:?}");
            assert!(decompress(c.id(), &packed, data.len() - 1).is_err(), "{c:?} bounded");
        }
    }

    /// 1 MiB of made-up text and x86 calls: matches near and far, and `E8` operands for BCJ.
    fn sample() -> Vec<u8> {
        let words = ["squashfs ", "block ", "fragment ", "inode ", "tamis ", "\n", "epoch ", "xz "];
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut out = Vec::with_capacity(1 << 20);
        while out.len() < 1 << 20 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            if state % 5 == 0 {
                out.push(0xe8);
                out.extend_from_slice(&((state >> 8) as u32 % 4096).to_le_bytes());
            } else {
                out.extend_from_slice(words[(state >> 32) as usize % words.len()].as_bytes());
            }
        }
        out.truncate(1 << 20);
        out
    }

    /// The bytes of an xz block do not depend on the liblzma tamis is linked with (the host's
    /// when it has one, else the bundled sources): Debian 12's 5.4.1 and the bundled 5.8
    /// (`LZMA_API_STATIC=1`) both give these digests. A liblzma that compressed otherwise would
    /// make images that differ from other builders': this test says so first.
    #[test]
    fn xz_blocks_are_the_same_bytes_whichever_liblzma() {
        use sha2::Digest as _;
        let data = sample();
        let digest = |c: Compression| {
            let packed = c.compress(&data, 1 << 20).unwrap().unwrap();
            assert_eq!(decompress(c.id(), &packed, data.len()).unwrap(), data);
            format!("{:x}", sha2::Sha256::digest(&packed))
        };
        assert_eq!(
            [
                digest(Compression::Xz { dict_size: Some(1 << 20), x86: true }),
                digest(Compression::Xz { dict_size: Some(1 << 17), x86: false })
            ],
            [
                "564b78ccdd013441ae957460e8e54516cf4d1661a298d46289a406c81fd3408d",
                "b830f333825771e8aacecdf39580204076880a19ee9170a5f3ab5f7cef244d16"
            ]
        );
    }

    #[test]
    fn the_options_an_image_records_read_back_as_written() {
        let bs = 1 << 20;
        for c in [
            Compression::Gzip { level: 9 },
            Compression::Gzip { level: 3 },
            Compression::Xz { dict_size: None, x86: false },
            Compression::Xz { dict_size: Some(1 << 20), x86: true },
            Compression::Xz { dict_size: Some(1 << 18), x86: false },
            Compression::Lz4,
            Compression::Zstd { level: 15 },
            Compression::Zstd { level: 3 },
        ] {
            let block = c.options_block(bs);
            assert_eq!(Compression::from_image(c.id(), block.as_deref(), bs), Some(c.normalized(bs)), "{c:?}");
        }
        assert_eq!(Compression::from_image(4, Some(&[0, 0, 16, 0, 2, 0, 0, 0]), bs), None, "the PowerPC filter");
        assert_eq!(Compression::from_image(2, None, bs), None, "lzma");
    }

    #[test]
    fn dictionary_sizes_are_checked() {
        assert!(Compression::Xz { dict_size: Some(1 << 20), x86: true }.check(1 << 20).is_ok());
        assert!(Compression::Xz { dict_size: Some(3 << 18), x86: false }.check(1 << 20).is_ok());
        assert!(Compression::Xz { dict_size: Some(1_000_000), x86: false }.check(1 << 20).is_err());
        assert!(Compression::Xz { dict_size: Some(1 << 21), x86: false }.check(1 << 20).is_err());
    }
}
