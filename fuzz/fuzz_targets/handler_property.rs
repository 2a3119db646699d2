//! The property every format handler's fuzz target checks: a handler reads files of a root
//! filesystem, any bytes. It must never panic, and what it writes must be normal: normalized
//! again, clamped or set, it changes nothing.

use tamis_core::Epoch;
use tamis_formats::{Handler, Settings, TimePolicy};

pub fn check(handler: &dyn Handler, data: &[u8]) {
    let mut settings = Settings::new(Epoch::from_secs(1_700_000_000).expect("positive"));
    for policy in [TimePolicy::Clamp, TimePolicy::Set] {
        settings.policy = policy;
        settings.gzip_keep_name = policy == TimePolicy::Set;
        let _ = handler.matches("f".as_ref(), data);
        if let Ok(Some(out)) = handler.normalize(data, &settings) {
            assert_ne!(out, data, "Some means changed");
            assert_eq!(handler.normalize(&out, &settings), Ok(None), "not idempotent");
        }
    }
}
