//! A profile is a file a user writes. Loading and checking it must give a pipeline or an
//! error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tamis_pipeline::{Pipeline, Profile, Selection};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(profile) = Profile::parse("fuzz", text) {
        let _ = Pipeline::new(&profile, &Selection::default()).map(|p| p.stage_names());
    }
});
