//! `Initramfs::run_on_paths`: files named by their paths, as `tamis initramfs FILE…` gives them;
//! every report names each file by that path, in its reasons too.

use std::fs;

use tamis_core::{Context, Epoch, Mode};
use tamis_cpio::{Initramfs, InitramfsOptions};

#[test]
fn a_file_that_is_no_initramfs_is_a_problem_named_by_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let (one, two) = (dir.path().join("a/initrd.img"), dir.path().join("b/initrd.img"));
    for file in [&one, &two] {
        fs::create_dir_all(file.parent().unwrap()).unwrap();
        fs::write(file, b"not an archive at all").unwrap();
    }
    let cx = Context::new(Epoch::parse("1700000000").unwrap(), Mode::Check);
    let reports = Initramfs::new(InitramfsOptions::default()).run_on_paths(&[one.clone(), two.clone()], &cx).unwrap();
    let [report] = reports.as_slice() else { panic!("one report: {reports:?}") };
    let problems: Vec<(_, _)> = report.problems.iter().map(|p| (p.path.clone(), p.reason.clone())).collect();
    let said = "neither a cpio archive nor a known compressed stream; left as it is";
    assert_eq!(
        problems,
        [(one.clone(), format!("{}: {said}", one.display())), (two.clone(), format!("{}: {said}", two.display()))]
    );
}
