//! Golden digests: the SHA-256 of each format handler's output on its sample (made once by the
//! real tool, `tests/samples/make.sh`, and committed). A normalizer's output is part of every
//! image hash made with it, so a change of these bytes must be deliberate: it fails here, and
//! the new digest is pinned in the same commit that says why (docs/publishing.md, semver).

use std::fmt::Write as _;
use std::path::Path;

use sha2::{Digest as _, Sha256};
use tamis_core::Epoch;
use tamis_formats::{Format, Settings, normalize_bytes};

/// Each handler's sample and the digest of its normalized bytes (epoch 2023-11-14, clamp).
const GOLDEN: [(Format, &str, &str); 9] = [
    (Format::Gzip, "sample.gz", "2650e7b4a3a35b5f60e8092788d26a648c8f18a353d4349d45f448353bf85e59"),
    (Format::Zip, "sample.zip", "b0ede15f90bae259bfe43dc2ca2999cf752deaff71bbeb954304fd727df386c7"),
    (Format::Ar, "sample.a", "fc3b6ccd381e38bcc7530253c8d292585c70368ace5b514313ea0cbffe2ce4b8"),
    (Format::Png, "sample.png", "f61eb2acfd02f7a571aa5df0c35ae878fb96d6b9c0eb9c3b0beefa70df111865"),
    (Format::Gettext, "sample.mo", "ea4d25bfa5646c688800ff4e3158a9d79d75d6687fd072512f857515b9a9558a"),
    (Format::Pyc, "sample.pyc", "5a5a8e4eceef9d19cb1bf86be19f7f0d7788859da218b6a0425f62857668e868"),
    (Format::Javadoc, "sample-javadoc.html", "66df83f73d4208ef41eb47fbdfd32a4b008368542aaa0ad098896930ab861b42"),
    (Format::Uimage, "sample.scr", "e4ad90d77eccaa8f9125a70b06bda7de655d0bbaa3e16f6e9b131ccdf725bb9f"),
    (Format::Cpio, "sample.cpio", "56a83e8cb446f0c5ce8cfe7cf5c1b94d94ae5bd27b4b672eadc60ef2ffae017e"),
];

#[test]
fn every_handler_writes_the_pinned_bytes_for_its_sample() {
    assert_eq!(GOLDEN.map(|(format, _, _)| format), Format::ALL, "one sample per handler");
    let settings = Settings::new(Epoch::from_secs(1_700_000_000).unwrap());
    let mut wrong = Vec::new();
    for (format, name, pinned) in GOLDEN {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/samples").join(name);
        let sample = std::fs::read(&path).unwrap();
        assert_eq!(Format::of(&path, &sample), Some(format), "{name} is recognised by its content");
        let normalized = normalize_bytes(&[format], &path, &sample, &settings).unwrap();
        // Every sample holds what its handler removes, but the pyc: Python's marshal of a small
        // module sets no reference flag that is not used.
        assert!(format == Format::Pyc || normalized.changed_by == [format], "{name}: {:?}", normalized.changed_by);
        let out = normalized.bytes.unwrap_or_else(|| sample.clone());
        let again = normalize_bytes(&[format], &path, &out, &settings).unwrap();
        assert_eq!(again.bytes, None, "{name}: the output is a fixed point");
        let digest = Sha256::digest(&out).iter().fold(String::new(), |mut hex, b| {
            write!(hex, "{b:02x}").expect("writing to a String cannot fail");
            hex
        });
        if digest != pinned {
            wrong.push(format!("{format} ({name}): {digest}"));
        }
    }
    assert!(wrong.is_empty(), "normalized bytes changed (pin the new digests if deliberate):\n{}", wrong.join("\n"));
}
