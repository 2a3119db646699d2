//! SOURCE_DATE_EPOCH comes from the environment of a build: any bytes. Parsing must never
//! panic, and whatever it accepts must print back as the same digits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tamis_core::{Epoch, Timestamp};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(epoch) = Epoch::parse(text) {
        let digits = text.trim_start_matches('0');
        let expected = if digits.is_empty() { "0" } else { digits };
        assert_eq!(epoch.secs().to_string(), expected);
        let _ = epoch.to_string();
    }
    let _ = Epoch::resolve(Some(text), None, Timestamp::from_secs(1_800_000_000), false);
});
