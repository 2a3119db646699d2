//! The pyc handler reads files of a root filesystem: any bytes. It must never panic, and what
//! it writes must be normal: normalized again, clamped or set, it changes nothing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tamis_core::Epoch;
use tamis_formats::{Handler, Settings, TimePolicy, pyc::Pyc};

fuzz_target!(|data: &[u8]| {
    let mut settings = Settings::new(Epoch::from_secs(1_700_000_000).expect("positive"));
    for policy in [TimePolicy::Clamp, TimePolicy::Set] {
        settings.policy = policy;
        settings.gzip_keep_name = policy == TimePolicy::Set;
        let _ = Pyc.matches("f".as_ref(), data);
        if let Ok(Some(out)) = Pyc.normalize(data, &settings) {
            assert_ne!(out, data, "Some means changed");
            assert_eq!(Pyc.normalize(&out, &settings), Ok(None), "not idempotent");
        }
    }
});
