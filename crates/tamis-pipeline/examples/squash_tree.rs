//! What another project writes to link tamis: normalize a root tree with the `debian-image`
//! profile, then write its squashfs image, both dated `SOURCE_DATE_EPOCH`.
//!
//! `cargo run -p tamis-pipeline --example squash_tree -- ROOT IMAGE EPOCH`
#![allow(clippy::print_stderr, reason = "an example program reports on stderr")]

use std::error::Error;
use std::path::Path;

use tamis_core::{Context, Epoch, Mode, Root};
use tamis_pipeline::{Pipeline, Profile, Selection};
use tamis_squashfs::{WriteOptions, write_image};

/// Normalizes `tree` in place and writes its image to `image`; returns the changes made.
fn squash(tree: &Path, image: &Path, epoch: Epoch) -> Result<usize, Box<dyn Error>> {
    let root = Root::open(tree)?;
    let profile = Profile::builtin("debian-image").ok_or("no built-in profile debian-image")?;
    let outcome = Pipeline::new(&profile, &Selection::default())?.run(&root, &Context::new(epoch, Mode::Apply))?;
    for report in outcome.stages.iter().filter(|r| !r.problems.is_empty()) {
        eprintln!("{}: {} entries left alone", report.stage, report.problems.len());
    }
    let written = write_image(&root, std::fs::File::create(image)?, &WriteOptions::new(epoch))?;
    eprintln!("{}: {} entries, {} changes made first", image.display(), written.entries, outcome.change_count());
    Ok(outcome.change_count())
}

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [tree, image, epoch] = args.as_slice() else {
        return Err("usage: squash_tree ROOT IMAGE EPOCH".into());
    };
    squash(tree.as_ref(), image.as_ref(), Epoch::parse(epoch)?)?;
    Ok(())
}

/// Run by `cargo test` (the example is a test target, `test = true` in Cargo.toml): two copies
/// of a small tree made at different times give the same image, which unsquashfs can read.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_builds_of_a_small_tree_give_the_same_image() {
        let out = tempfile::tempdir().unwrap();
        let epoch = Epoch::from_secs(1_700_000_000).unwrap();
        let mut images = Vec::new();
        for (build, host) in [("a", "buildd-1"), ("b", "buildd-2")] {
            let tree = out.path().join(build);
            std::fs::create_dir_all(tree.join("etc")).unwrap();
            std::fs::create_dir_all(tree.join("var/log")).unwrap();
            std::fs::write(tree.join("etc/hostname"), format!("{host}\n")).unwrap();
            std::fs::write(tree.join("var/log/build.log"), format!("built on {host}\n")).unwrap();
            std::fs::write(tree.join("etc/os-release"), "ID=debian\n").unwrap();
            let image = out.path().join(format!("{build}.squashfs"));
            assert!(squash(&tree, &image, epoch).unwrap() > 0, "the times and the log at least");
            images.push(std::fs::read(&image).unwrap());
        }
        assert_eq!(images[0], images[1], "two builds, one image");
        let listed = std::process::Command::new("unsquashfs")
            .env("TZ", "UTC")
            .arg("-lln")
            .arg(out.path().join("a.squashfs"))
            .output();
        let listed = listed.expect("unsquashfs (squashfs-tools, installed by scripts/test.sh)");
        let listing = String::from_utf8_lossy(&listed.stdout);
        assert!(listed.status.success() && listing.contains("squashfs-root/etc/os-release"), "{listing}");
        assert!(listing.contains("2023-11-14 22:13"), "every time is the epoch's: {listing}");
    }
}
