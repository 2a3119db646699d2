//! `tamis iuk` reads two releases and, with `--verify`, a kit: any bytes. Computing the delta
//! from a valid image to a mutated one, and stacking a mutated diff (whiteouts, opaque
//! directories) over a valid image, must return an error or a result, never panic or hang.
//!
//! Inputs are patches to a small valid diff made once by the writer (a whiteout, an opaque
//! directory, files, a link): pairs of a 2-byte offset and a byte, as in the squashfs target.
#![no_main]

use std::collections::BTreeMap;
use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tamis_core::{Epoch, FileKind};
use tamis_squashfs::{Image, TreeEntry, TreeSource, WriteOptions, write_tree};

struct Files(BTreeMap<PathBuf, Vec<u8>>);

impl TreeSource for Files {
    fn open(&self, path: &Path) -> tamis_squashfs::Result<Box<dyn Read + '_>> {
        Ok(Box::new(Cursor::new(self.0.get(path).cloned().unwrap_or_default())))
    }
}

fn entry(path: &str, kind: FileKind, size: u64) -> TreeEntry {
    TreeEntry {
        path: PathBuf::from(path),
        kind,
        mode: 0o755,
        uid: 0,
        gid: 0,
        mtime: 1,
        size,
        link: None,
        rdev: 0,
        target: Vec::new(),
        xattrs: Vec::new(),
    }
}

fn image(entries: &[TreeEntry]) -> Vec<u8> {
    let files = entries
        .iter()
        .filter(|e| e.kind == FileKind::File)
        .map(|e| (e.path.clone(), vec![b'x'; e.size as usize]))
        .collect();
    let mut options = WriteOptions::new(Epoch::from_secs(1_700_000_000).unwrap());
    options.block_size = 4096;
    let mut out = Cursor::new(Vec::new());
    write_tree(entries, &Files(files), &mut out, &options).unwrap();
    out.into_inner()
}

fn images() -> &'static (Vec<u8>, Vec<u8>) {
    static IMAGES: OnceLock<(Vec<u8>, Vec<u8>)> = OnceLock::new();
    IMAGES.get_or_init(|| {
        let old = image(&[
            entry("", FileKind::Dir, 0),
            entry("d", FileKind::Dir, 0),
            entry("d/f", FileKind::File, 5000),
            entry("gone", FileKind::Dir, 0),
            entry("gone/x", FileKind::File, 3),
            entry("was", FileKind::File, 2),
        ]);
        let mut opaque = entry("was", FileKind::Dir, 0);
        opaque.xattrs.push((b"trusted.overlay.opaque".to_vec(), b"y".to_vec()));
        let mut whiteout = entry("gone", FileKind::CharDevice, 0);
        whiteout.mode = 0;
        let diff = image(&[
            entry("", FileKind::Dir, 0),
            entry("d", FileKind::Dir, 0),
            entry("d/f", FileKind::File, 6000),
            whiteout,
            opaque,
            entry("was/in", FileKind::File, 7),
        ]);
        (old, diff)
    })
}

fuzz_target!(|data: &[u8]| {
    let (old, diff) = images();
    let mut bytes = diff.clone();
    for patch in data.chunks_exact(3) {
        let at = usize::from(u16::from_le_bytes([patch[0], patch[1]])) % bytes.len();
        bytes[at] = patch[2];
    }
    let old = Image::from_bytes(old.clone()).unwrap();
    let old_entries = old.entries().unwrap();
    let Ok(diff) = Image::from_bytes(bytes) else { return };
    let Ok(diff_entries) = diff.entries() else { return };
    let _ = tamis_iuk::verify::stack(&old_entries, &diff_entries);
    let _ = tamis_iuk::delta::compute(
        (&old, &old_entries, Path::new("old")),
        (&diff, &diff_entries, Path::new("new")),
        1_700_000_000,
    );
    for (a, b) in old_entries.iter().zip(&diff_entries) {
        let _ = old.stored_alike(a, &diff, b);
    }
});
