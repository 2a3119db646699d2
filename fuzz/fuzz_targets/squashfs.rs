//! The squashfs reader takes images from anywhere (a build to compare, an ISO's
//! `live/filesystem.squashfs`): any bytes. Listing an image and reading every file must return
//! an error or a result, never panic, hang or allocate from a size field.
//!
//! Inputs starting with `hsqs` are read as they are. Others are patches to a small valid image
//! made once by the writer (every kind of entry, fragments, xattrs): pairs of a 2-byte offset and
//! a byte, the first byte choosing where to truncate, so that mutations reach the tables behind
//! a valid superblock.
#![no_main]

use std::io::Write;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tamis_squashfs::{Image, WriteOptions, write_image};

fn valid_image() -> &'static [u8] {
    static IMAGE: OnceLock<Vec<u8>> = OnceLock::new();
    IMAGE.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("tamis-fuzz-squashfs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("sub/deeper")).unwrap();
        std::fs::write(dir.join("small"), b"hello\n").unwrap();
        std::fs::write(dir.join("sub/big"), (0..20_000u32).flat_map(|i| i.to_le_bytes()).collect::<Vec<_>>()).unwrap();
        std::fs::write(dir.join("sub/deeper/x"), b"x").unwrap();
        std::fs::hard_link(dir.join("small"), dir.join("sub/again")).unwrap();
        std::os::unix::fs::symlink("../small", dir.join("sub/link")).unwrap();
        let _ =
            std::process::Command::new("setfattr").args(["-n", "user.k", "-v", "v"]).arg(dir.join("small")).status();
        let root = tamis_core::Root::open(&dir).unwrap();
        let mut options = WriteOptions::new(tamis_core::Epoch::from_secs(1_700_000_000).unwrap());
        options.block_size = 4096;
        let mut out = std::io::Cursor::new(Vec::new());
        write_image(&root, &mut out, &options).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        out.into_inner()
    })
}

/// Discards bytes, up to a limit (a corrupt size must not make a run last forever).
struct Sink(u64);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 = self.0.checked_sub(buf.len() as u64).ok_or_else(|| std::io::Error::other("enough"))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fuzz_target!(|data: &[u8]| {
    let bytes = if data.starts_with(b"hsqs") {
        data.to_vec()
    } else {
        let mut image = valid_image().to_vec();
        if let Some((&cut, patches)) = data.split_first() {
            for patch in patches.chunks_exact(3) {
                let at = usize::from(u16::from_le_bytes([patch[0], patch[1]])) % image.len();
                image[at] = patch[2];
            }
            if cut > 0xf0 {
                image.truncate(image.len() * usize::from(cut - 0xf0) / 16);
            }
        }
        image
    };
    let Ok(image) = Image::from_bytes(bytes) else { return };
    let Ok(entries) = image.entries() else { return };
    let mut sink = Sink(64 << 20);
    for entry in &entries {
        if entry.kind == tamis_core::FileKind::File {
            let _ = image.read_file_to(entry, &mut sink);
        }
    }
});
