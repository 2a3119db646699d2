//! The cpio handler on any bytes: no panic, and its output is normal (handler_property.rs).
#![no_main]

#[path = "handler_property.rs"]
mod handler_property;

libfuzzer_sys::fuzz_target!(|data: &[u8]| handler_property::check(&tamis_formats::cpio::Cpio, data));
