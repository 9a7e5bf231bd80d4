//! Character encodings GEDCOM files are written in, and how to tell which one a file uses.

mod ansel;
mod cp437;

use serde::{Deserialize, Serialize};
use std::fmt;

/// A character encoding the reader can decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Encoding {
    /// UTF-8, with or without a byte-order mark.
    Utf8,
    /// UTF-16 little-endian (`CHAR UNICODE`).
    Utf16Le,
    /// UTF-16 big-endian (`CHAR UNICODE`).
    Utf16Be,
    /// ANSEL with GEDCOM's extensions; diacritics come out as NFC.
    Ansel,
    /// 7-bit ASCII; stray 8-bit bytes are decoded as UTF-8 or Windows-1252.
    Ascii,
    /// Windows-1252, which files call `ANSI`, `WINDOWS`, `CP1252` or ISO-8859-1.
    Windows1252,
    /// IBM PC code page 437 (`IBMPC`, `IBM PC`).
    Cp437,
    /// Classic Mac OS Roman (`MACINTOSH`).
    MacRoman,
}

impl Encoding {
    /// Maps a `HEAD.CHAR` payload, as real programs write it, to an encoding.
    pub fn from_char_value(value: &str) -> Option<Self> {
        let v: String = value
            .trim()
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '_'))
            .collect::<String>()
            .to_ascii_uppercase();
        Some(match v.as_str() {
            "UTF8" => Encoding::Utf8,
            "UNICODE" | "UTF16" | "UCS2" => Encoding::Utf16Le,
            "UTF16BE" => Encoding::Utf16Be,
            "UTF16LE" => Encoding::Utf16Le,
            "ANSEL" => Encoding::Ansel,
            "ASCII" | "USASCII" => Encoding::Ascii,
            "ANSI" | "WINDOWS" | "WINDOWS1252" | "CP1252" | "IBMWINDOWS" | "ISO88591"
            | "LATIN1" | "ISO8859" | "8859" => Encoding::Windows1252,
            "IBMPC" | "IBMDOS" | "CP437" | "MSDOS" | "DOS" | "CP850" => Encoding::Cp437,
            "MACINTOSH" | "MACROMAN" | "MAC" => Encoding::MacRoman,
            _ => return None,
        })
    }

    /// Whether the file's bytes must be transcoded before lines can be split on `\n`/`\r`.
    pub(crate) fn is_utf16(self) -> bool {
        matches!(self, Encoding::Utf16Le | Encoding::Utf16Be)
    }

    /// Whether valid UTF-8 bytes mean the same characters in this encoding (after UTF-16 has
    /// been transcoded), so lines can be used without decoding.
    pub(crate) fn is_utf8_compatible(self) -> bool {
        matches!(self, Encoding::Utf8 | Encoding::Utf16Le | Encoding::Utf16Be)
    }

    /// A human-readable name.
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Utf8 => "UTF-8",
            Encoding::Utf16Le => "UTF-16LE",
            Encoding::Utf16Be => "UTF-16BE",
            Encoding::Ansel => "ANSEL",
            Encoding::Ascii => "ASCII",
            Encoding::Windows1252 => "Windows-1252",
            Encoding::Cp437 => "IBM PC (CP437)",
            Encoding::MacRoman => "Macintosh Roman",
        }
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What the first bytes of a file say about its encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Sniffed {
    pub encoding: Encoding,
    /// Bytes of byte-order mark to skip.
    pub bom_len: usize,
    /// Whether the encoding was certain from the bytes alone (BOM or UTF-16 pattern).
    pub certain: bool,
}

/// Looks at the first bytes for a byte-order mark or the `0` + NUL pattern of BOM-less UTF-16.
pub(crate) fn sniff(prefix: &[u8]) -> Sniffed {
    let certain = |encoding, bom_len| Sniffed {
        encoding,
        bom_len,
        certain: true,
    };
    match prefix {
        [0xEF, 0xBB, 0xBF, ..] => certain(Encoding::Utf8, 3),
        [0xFF, 0xFE, ..] => certain(Encoding::Utf16Le, 2),
        [0xFE, 0xFF, ..] => certain(Encoding::Utf16Be, 2),
        [a, 0, ..] if a.is_ascii() && *a != 0 => certain(Encoding::Utf16Le, 0),
        [0, a, ..] if a.is_ascii() && *a != 0 => certain(Encoding::Utf16Be, 0),
        _ => Sniffed {
            encoding: Encoding::Utf8,
            bom_len: 0,
            certain: false,
        },
    }
}

/// Decodes one line of an 8-bit (or already transcoded) file.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LineDecoder {
    encoding: Encoding,
}

/// What went wrong while decoding one line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DecodeIssue {
    /// Bytes were not valid in the declared encoding and were read as Windows-1252.
    FellBackTo1252,
    /// Bytes undefined in ANSEL became U+FFFD.
    UndefinedAnsel(usize),
    /// An ASCII file held 8-bit bytes, decoded as valid UTF-8.
    NonAsciiUtf8,
}

impl LineDecoder {
    /// A decoder for lines of the given encoding (UTF-16 is transcoded to UTF-8 upstream).
    pub(crate) fn new(encoding: Encoding) -> Self {
        Self { encoding }
    }

    /// Decodes `bytes` into `out` (cleared first).
    pub(crate) fn decode(&self, bytes: &[u8], out: &mut String) -> Option<DecodeIssue> {
        out.clear();
        if let Ok(s) = std::str::from_utf8(bytes) {
            // Every supported encoding agrees with ASCII; only UTF-8 (and transcoded UTF-16)
            // may pass non-ASCII bytes through as they are.
            if s.is_ascii() {
                out.push_str(s);
                return None;
            }
            match self.encoding {
                Encoding::Utf8 | Encoding::Utf16Le | Encoding::Utf16Be => {
                    out.push_str(s);
                    return None;
                }
                Encoding::Ascii => {
                    out.push_str(s);
                    return Some(DecodeIssue::NonAsciiUtf8);
                }
                _ => {}
            }
        }
        match self.encoding {
            Encoding::Ansel => {
                let undefined = ansel::decode_into(bytes, out);
                (undefined > 0).then_some(DecodeIssue::UndefinedAnsel(undefined))
            }
            Encoding::Cp437 => {
                cp437::decode_into(bytes, out);
                None
            }
            Encoding::MacRoman => {
                out.push_str(&encoding_rs::MACINTOSH.decode_without_bom_handling(bytes).0);
                None
            }
            Encoding::Windows1252 => {
                out.push_str(
                    &encoding_rs::WINDOWS_1252
                        .decode_without_bom_handling(bytes)
                        .0,
                );
                None
            }
            Encoding::Utf8 | Encoding::Ascii | Encoding::Utf16Le | Encoding::Utf16Be => {
                out.push_str(
                    &encoding_rs::WINDOWS_1252
                        .decode_without_bom_handling(bytes)
                        .0,
                );
                Some(DecodeIssue::FellBackTo1252)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn char_values_seen_in_real_files() {
        assert_eq!(Encoding::from_char_value("ANSEL"), Some(Encoding::Ansel));
        assert_eq!(Encoding::from_char_value("UTF-8"), Some(Encoding::Utf8));
        assert_eq!(Encoding::from_char_value("IBM PC"), Some(Encoding::Cp437));
        assert_eq!(
            Encoding::from_char_value("ANSI"),
            Some(Encoding::Windows1252)
        );
        assert_eq!(
            Encoding::from_char_value("unicode"),
            Some(Encoding::Utf16Le)
        );
        assert_eq!(Encoding::from_char_value("KLINGON"), None);
    }

    #[test]
    fn sniff_boms_and_bomless_utf16() {
        assert_eq!(sniff(b"\xEF\xBB\xBF0 HEAD").encoding, Encoding::Utf8);
        assert_eq!(sniff(b"\xFF\xFE0\0").encoding, Encoding::Utf16Le);
        assert_eq!(sniff(b"\xFE\xFF\x000").encoding, Encoding::Utf16Be);
        assert_eq!(sniff(b"0\0 \0").encoding, Encoding::Utf16Le);
        assert_eq!(sniff(b"\x000\0 ").encoding, Encoding::Utf16Be);
        assert!(!sniff(b"0 HEAD").certain);
    }

    #[test]
    fn invalid_utf8_falls_back_to_windows_1252() {
        let mut out = String::new();
        let issue = LineDecoder::new(Encoding::Utf8).decode(b"Jos\xE9", &mut out);
        assert_eq!(out, "Jos\u{e9}");
        assert_eq!(issue, Some(DecodeIssue::FellBackTo1252));
    }

    #[test]
    fn windows_1252_specials() {
        let mut out = String::new();
        LineDecoder::new(Encoding::Windows1252).decode(b"\x80 \x8A\xE9", &mut out);
        assert_eq!(out, "\u{20ac} \u{160}\u{e9}");
    }
}
