//! GUIDs as GPT stores them (the first three groups little-endian) and in their text form.

/// A GUID in the usual text form: `C12A7328-F81F-11D2-BA4B-00A0C93EC93B`.
pub fn guid_text(g: &[u8; 16]) -> String {
    format!(
        "{:02X}{:02X}{:02X}{:02X}-{:02X}{:02X}-{:02X}{:02X}-{:02X}{:02X}-{:02X}{:02X}{:02X}{:02X}{:02X}{:02X}",
        g[3], g[2], g[1], g[0], g[5], g[4], g[7], g[6], g[8], g[9], g[10], g[11], g[12], g[13], g[14], g[15]
    )
}

/// The stored bytes of a GUID given in text form (hyphens optional, any case); `None` when it
/// is not 32 hexadecimal digits.
pub fn parse_guid(text: &str) -> Option<[u8; 16]> {
    let hex: Vec<u8> = text.bytes().filter(|&c| c != b'-').collect();
    if hex.len() != 32 || text.len() - hex.len() > 4 {
        return None;
    }
    let mut be = [0u8; 16];
    for (i, pair) in hex.chunks_exact(2).enumerate() {
        be[i] = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    let mut g = be;
    g[..4].reverse();
    g[4..6].reverse();
    g[6..8].reverse();
    Some(g)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_bytes_round_trip() {
        let esp = crate::gpt::ESP_TYPE;
        assert_eq!(guid_text(&esp), "C12A7328-F81F-11D2-BA4B-00A0C93EC93B");
        assert_eq!(parse_guid("c12a7328-f81f-11d2-ba4b-00a0c93ec93b"), Some(esp));
        assert_eq!(parse_guid("C12A7328F81F11D2BA4B00A0C93EC93B"), Some(esp));
        assert_eq!(parse_guid("C12A7328-F81F-11D2-BA4B-00A0C93EC93"), None);
        assert_eq!(parse_guid("X12A7328-F81F-11D2-BA4B-00A0C93EC93B"), None);
    }
}
