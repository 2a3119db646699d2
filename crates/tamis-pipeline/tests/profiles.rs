//! Profiles are checked before anything runs, and a pipeline runs its stages in order.

use std::fs;
use std::os::unix::fs::MetadataExt;

use tamis_core::{Context, Epoch, Mode, Root};
use tamis_pipeline::{Error, Pipeline, Profile, Selection, stages};

fn pipeline(text: &str) -> Result<Pipeline, Error> {
    Pipeline::new(&Profile::parse("test", text)?, &Selection::default())
}

#[test]
fn every_builtin_profile_is_valid_and_ends_with_the_clamp() {
    for name in Profile::builtin_names() {
        let profile = Profile::builtin(name).unwrap();
        let pipeline = Pipeline::new(&profile, &Selection::default()).unwrap();
        assert_eq!(pipeline.stage_names().last(), Some(&"mtime"), "{name}");
    }
}

#[test]
fn every_registered_stage_builds_with_default_options() {
    for info in stages() {
        let stage = (info.build)(toml::Table::new()).unwrap();
        assert_eq!(stage.name(), info.name);
        assert!(!info.summary.is_empty());
    }
}

#[test]
fn mistakes_in_a_profile_are_refused_with_the_reason() {
    let unknown = pipeline("description = 'x'\n[[stage]]\nname = 'fontconfig-typo'\n").unwrap_err();
    assert!(matches!(unknown, Error::UnknownStage { .. }));
    assert!(unknown.to_string().contains("known stages: ") && unknown.to_string().contains("mtime"), "{unknown}");

    let twice = pipeline("description = 'x'\n[[stage]]\nname = 'mtime'\n[[stage]]\nname = 'mtime'\n");
    assert!(matches!(twice, Err(Error::DuplicateStage { .. })));

    let option = pipeline("description = 'x'\n[[stage]]\nname = 'mtime'\npolicy = 'sometimes'\n").unwrap_err();
    assert!(matches!(option, Error::Options { .. }));
    assert!(option.to_string().contains("sometimes"), "{option}");

    let extra = pipeline("description = 'x'\n[[stage]]\nname = 'mtime'\nspeed = 11\n").unwrap_err();
    assert!(matches!(extra, Error::Options { .. }), "{extra}");

    let syntax = Profile::parse("broken.toml", "description = \n").unwrap_err();
    assert!(syntax.to_string().starts_with("profile broken.toml:"), "{syntax}");
}

#[test]
fn only_and_skip_must_name_stages_of_the_profile() {
    let profile = Profile::builtin("debian-image").unwrap();
    let selection = Selection { only: vec!["shadows".into()], skip: vec![] };
    assert!(matches!(Pipeline::new(&profile, &selection), Err(Error::NotInProfile { .. })));
    let selection = Selection { only: vec!["mtime".into(), "shadow".into()], skip: vec![] };
    assert_eq!(Pipeline::new(&profile, &selection).unwrap().stage_names(), ["shadow", "mtime"], "profile order");
    let selection = Selection { only: vec![], skip: vec!["mtime".into()] };
    let names = Pipeline::new(&profile, &selection).unwrap().stage_names();
    assert!(!names.contains(&"mtime") && names.contains(&"shadow"), "{names:?}");
}

#[test]
fn a_profile_from_a_file_runs_its_options() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("set.toml");
    fs::write(&file, "description = 'set every time'\n[[stage]]\nname = 'mtime'\npolicy = 'set'\n").unwrap();
    fs::create_dir(dir.path().join("tree")).unwrap();
    fs::write(dir.path().join("tree/old"), b"x").unwrap();
    let old = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000);
    fs::File::options().write(true).open(dir.path().join("tree/old")).unwrap().set_modified(old).unwrap();

    let profile = Profile::load(file.to_str().unwrap()).unwrap();
    let pipeline = Pipeline::new(&profile, &Selection::default()).unwrap();
    let cx = Context::new(Epoch::from_secs(1_700_000_000).unwrap(), Mode::Apply);
    let outcome = pipeline.run(&Root::open(dir.path().join("tree")).unwrap(), &cx).unwrap();
    assert_eq!(outcome.stages.len(), 1);
    assert_eq!(outcome.change_count(), 2, "the root and the old file");
    assert_eq!(fs::metadata(dir.path().join("tree/old")).unwrap().mtime(), 1_700_000_000);
}

#[test]
fn a_profile_with_a_host_name_that_is_no_host_name_is_refused() {
    for bad in ["a/b", "two\\nlines", "-lead"] {
        let text = format!("description = 'x'\n[[stage]]\nname = 'host-config'\nhostname = \"{bad}\"\n");
        let err = pipeline(&text).unwrap_err();
        assert!(matches!(err, Error::Options { .. }), "{bad}: {err}");
        assert!(err.to_string().contains("RFC 1123"), "{bad}: {err}");
    }
    assert!(pipeline("description = 'x'\n[[stage]]\nname = 'host-config'\nhostname = 'tails'\n").is_ok());
}
