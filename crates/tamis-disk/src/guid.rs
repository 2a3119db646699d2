//! GUIDs as GPT stores them (the first three groups little-endian) and in their text form, and
//! the 32-bit identifiers (MBR disk signature, FAT volume serial) given in hexadecimal.

/// An identifier given as text that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    /// Not 32 hexadecimal digits (dashes allowed anywhere).
    #[error("{0:?} is not a GUID (32 hexadecimal digits, dashes allowed)")]
    Guid(String),
    /// Not a hexadecimal 32-bit number (`0x` allowed).
    #[error("{0:?} is not a hexadecimal number of at most 8 digits")]
    Hex32(String),
}

/// A GUID in the usual text form: `C12A7328-F81F-11D2-BA4B-00A0C93EC93B`.
pub fn guid_text(g: &[u8; 16]) -> String {
    format!(
        "{:02X}{:02X}{:02X}{:02X}-{:02X}{:02X}-{:02X}{:02X}-{:02X}{:02X}-{:02X}{:02X}{:02X}{:02X}{:02X}{:02X}",
        g[3], g[2], g[1], g[0], g[5], g[4], g[7], g[6], g[8], g[9], g[10], g[11], g[12], g[13], g[14], g[15]
    )
}

/// A GUID's text form (`01234567-89ab-cdef-0123-456789abcdef`, any case) as GPT stores it: the
/// first three groups little-endian, the last two as written.
///
/// # Errors
/// [`IdError::Guid`] when `text` is not 32 hexadecimal digits once dashes are removed.
pub fn parse_guid(text: &str) -> Result<[u8; 16], IdError> {
    const STORED: [usize; 16] = [3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15];
    let digits: Vec<u8> = text.bytes().filter(|b| *b != b'-').collect();
    let bad = || IdError::Guid(text.to_owned());
    // Every byte is checked to be a digit first: from_str_radix alone would take a sign.
    if digits.len() != 32 || !digits.iter().all(u8::is_ascii_hexdigit) {
        return Err(bad());
    }
    let mut bytes = [0u8; 16];
    for (byte, pair) in bytes.iter_mut().zip(digits.chunks_exact(2)) {
        let pair = std::str::from_utf8(pair).map_err(|_| bad())?;
        *byte = u8::from_str_radix(pair, 16).map_err(|_| bad())?;
    }
    Ok(STORED.map(|i| bytes[i]))
}

/// A 32-bit identifier in hexadecimal (an MBR disk signature, a FAT volume serial), with or
/// without `0x`.
///
/// # Errors
/// [`IdError::Hex32`] when `text` is not one to eight hexadecimal digits.
pub fn parse_hex32(text: &str) -> Result<u32, IdError> {
    let digits = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")).unwrap_or(text);
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(IdError::Hex32(text.to_owned()));
    }
    u32::from_str_radix(digits, 16).map_err(|_| IdError::Hex32(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_guid_is_stored_mixed_endian_round_trips_and_a_bad_one_is_refused() {
        let esp = crate::gpt::ESP_TYPE;
        assert_eq!(guid_text(&esp), "C12A7328-F81F-11D2-BA4B-00A0C93EC93B");
        assert_eq!(parse_guid("c12a7328-f81f-11d2-ba4b-00a0c93ec93b"), Ok(esp));
        assert_eq!(parse_guid("C12A7328F81F11D2BA4B00A0C93EC93B"), Ok(esp));
        for bad in [
            "",
            "c12a7328-f81f-11d2-ba4b-00a0c93ec93",
            "g12a7328-f81f-11d2-ba4b-00a0c93ec93b",
            "+12a7328f81f11d2ba4b00a0c93ec93b",
        ] {
            assert_eq!(parse_guid(bad), Err(IdError::Guid(bad.to_owned())), "{bad}");
        }
        assert_eq!(parse_hex32("0x1234abcd"), Ok(0x1234_abcd));
        assert_eq!(parse_hex32("ff"), Ok(0xff));
        for bad in ["", "0x", "123456789", "+ff", "xyz"] {
            assert_eq!(parse_hex32(bad), Err(IdError::Hex32(bad.to_owned())), "{bad}");
        }
    }
}
