//! ANSEL (ANSI Z39.47) with the GEDCOM extensions.
//!
//! ANSEL writes combining diacritics *before* the letter they modify while Unicode writes them
//! after, so marks are held back until their base character arrives and the result is
//! normalised to NFC, which is what users and search expect ("é" as one character).

use unicode_normalization::UnicodeNormalization;

/// Spacing characters and specials in 0xA1..=0xCF; `None` marks undefined bytes.
fn special(b: u8) -> Option<char> {
    Some(match b {
        0xA1 => '\u{0141}',
        0xA2 => '\u{00D8}',
        0xA3 => '\u{0110}',
        0xA4 => '\u{00DE}',
        0xA5 => '\u{00C6}',
        0xA6 => '\u{0152}',
        0xA7 => '\u{02B9}',
        0xA8 => '\u{00B7}',
        0xA9 => '\u{266D}',
        0xAA => '\u{00AE}',
        0xAB => '\u{00B1}',
        0xAC => '\u{01A0}',
        0xAD => '\u{01AF}',
        0xAE => '\u{02BC}',
        0xB0 => '\u{02BB}',
        0xB1 => '\u{0142}',
        0xB2 => '\u{00F8}',
        0xB3 => '\u{0111}',
        0xB4 => '\u{00FE}',
        0xB5 => '\u{00E6}',
        0xB6 => '\u{0153}',
        0xB7 => '\u{02BA}',
        0xB8 => '\u{0131}',
        0xB9 => '\u{00A3}',
        0xBA => '\u{00F0}',
        0xBC => '\u{01A1}',
        0xBD => '\u{01B0}',
        0xBE => '\u{25A1}',
        0xBF => '\u{25A0}',
        0xC0 => '\u{00B0}',
        0xC1 => '\u{2113}',
        0xC2 => '\u{2117}',
        0xC3 => '\u{00A9}',
        0xC4 => '\u{266F}',
        0xC5 => '\u{00BF}',
        0xC6 => '\u{00A1}',
        0xC7 => '\u{00DF}',
        0xC8 => '\u{20AC}',
        0xCD => '\u{1D49}',
        0xCE => '\u{1D52}',
        0xCF => '\u{00DF}',
        _ => return None,
    })
}

/// Combining diacritics in 0xE0..=0xFE; `None` marks undefined bytes.
fn combining(b: u8) -> Option<char> {
    Some(match b {
        0xE0 => '\u{0309}',
        0xE1 => '\u{0300}',
        0xE2 => '\u{0301}',
        0xE3 => '\u{0302}',
        0xE4 => '\u{0303}',
        0xE5 => '\u{0304}',
        0xE6 => '\u{0306}',
        0xE7 => '\u{0307}',
        0xE8 => '\u{0308}',
        0xE9 => '\u{030C}',
        0xEA => '\u{030A}',
        0xEB => '\u{FE20}',
        0xEC => '\u{FE21}',
        0xED => '\u{0315}',
        0xEE => '\u{030B}',
        0xEF => '\u{0310}',
        0xF0 => '\u{0327}',
        0xF1 => '\u{0328}',
        0xF2 => '\u{0323}',
        0xF3 => '\u{0324}',
        0xF4 => '\u{0325}',
        0xF5 => '\u{0333}',
        0xF6 => '\u{0332}',
        0xF7 => '\u{0326}',
        0xF8 => '\u{031C}',
        0xF9 => '\u{032E}',
        0xFA => '\u{FE22}',
        0xFB => '\u{FE23}',
        0xFE => '\u{0313}',
        _ => return None,
    })
}

/// Appends the decoded `bytes` to `out` in NFC; returns how many bytes were undefined in ANSEL
/// (each became U+FFFD).
pub fn decode_into(bytes: &[u8], out: &mut String) -> usize {
    if bytes.is_ascii() {
        // Safe: ASCII is valid UTF-8; `from_utf8` cannot fail here.
        out.push_str(std::str::from_utf8(bytes).unwrap_or_default());
        return 0;
    }
    let mut undefined = 0;
    let mut decomposed = String::with_capacity(bytes.len() + 8);
    let mut pending: Vec<char> = Vec::new();
    for &b in bytes {
        if let Some(mark) = combining(b) {
            pending.push(mark);
            continue;
        }
        let base = if b < 0x80 {
            char::from(b)
        } else if let Some(c) = special(b) {
            c
        } else {
            undefined += 1;
            '\u{FFFD}'
        };
        decomposed.push(base);
        decomposed.extend(pending.drain(..));
    }
    // Marks at the end of a line have no base letter; keep them rather than drop data.
    decomposed.extend(pending.drain(..));
    out.extend(decomposed.nfc());
    undefined
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(bytes: &[u8]) -> String {
        let mut s = String::new();
        assert_eq!(decode_into(bytes, &mut s), 0);
        s
    }

    #[test]
    fn diacritic_before_letter_becomes_precomposed() {
        assert_eq!(decode(b"Ren\xE2ee"), "Ren\u{e9}e");
        assert_eq!(decode(b"M\xE8uller"), "M\u{fc}ller");
        assert_eq!(decode(b"\xF0Cedille"), "\u{c7}edille");
    }

    #[test]
    fn specials_map_to_unicode() {
        assert_eq!(decode(b"\xA1\xB1\xB2\xC3"), "\u{141}\u{142}\u{f8}\u{a9}");
    }

    #[test]
    fn two_marks_stay_in_order_after_base() {
        // a + macron + acute has no single precomposed form but NFC composes a+macron.
        assert_eq!(decode(b"\xE5\xE2a"), "\u{101}\u{301}");
    }

    #[test]
    fn undefined_bytes_are_counted() {
        let mut s = String::new();
        assert_eq!(decode_into(b"a\x90b", &mut s), 1);
        assert_eq!(s, "a\u{FFFD}b");
    }
}
