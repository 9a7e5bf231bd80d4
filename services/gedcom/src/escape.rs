//! The `@` rules: pointers, `@@` escapes and `@#D...@` calendar escapes, per version.

use crate::node::Value;
use crate::version::Version;

/// Whether a payload is exactly one pointer such as `@I1@` (the 5.5.1 `@#...@` escapes are not).
fn as_pointer(payload: &str) -> Option<&str> {
    let inner = payload.strip_prefix('@')?.strip_suffix('@')?;
    if inner.is_empty() || inner.starts_with('#') || inner.contains('@') {
        return None;
    }
    Some(inner)
}

/// Turns a raw line payload into a value, undoing the version's `@` escaping.
#[inline]
pub(crate) fn decode_payload(payload: Option<&str>, version: Version) -> Value {
    let Some(p) = payload else { return Value::None };
    if let Some(ptr) = as_pointer(p) {
        return Value::Pointer(ptr.to_owned());
    }
    Value::Text(unescape_text(p, version))
}

/// Whether `b` holds an `@`. Payloads are short (a dozen bytes in gedgen files): `memchr`'s
/// set-up costs more than the search there and a byte loop five instructions a byte, so the
/// bytes are tested eight at a time in a `u64`, the tail as the last eight bytes (overlapping
/// the words before) when there are that many.
#[inline]
fn has_at(b: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    const ATS: u64 = ONES * b'@' as u64;
    #[inline]
    fn word_has_at(w: &[u8]) -> bool {
        let mut word = [0u8; 8];
        word.copy_from_slice(w);
        let x = u64::from_le_bytes(word) ^ ATS;
        // Nonzero exactly when some byte of `x` is zero, i.e. some byte of the word is `@`.
        x.wrapping_sub(ONES) & !x & HIGH != 0
    }
    if b.len() < 8 {
        return b.contains(&b'@');
    }
    let mut chunks = b.chunks_exact(8);
    if chunks.any(word_has_at) {
        return true;
    }
    !chunks.remainder().is_empty() && word_has_at(&b[b.len() - 8..])
}

/// Undoes `@` escaping in one physical line's text.
pub(crate) fn unescape_text(p: &str, version: Version) -> String {
    if !has_at(p.as_bytes()) {
        return p.to_owned();
    }
    match version {
        Version::V70 => p
            .strip_prefix("@@")
            .map_or_else(|| p.to_owned(), |r| format!("@{r}")),
        Version::V551 => {
            let mut out = String::with_capacity(p.len());
            let mut rest = p;
            while let Some(i) = rest.find('@') {
                out.push_str(&rest[..i]);
                let tail = &rest[i..];
                if let Some(after) = tail.strip_prefix("@@") {
                    out.push('@');
                    rest = after;
                } else if let Some(after) = tail.strip_prefix("@#") {
                    // A calendar or other escape runs to the next `@` and is kept verbatim.
                    let end = after.find('@').map_or(tail.len(), |j| j + 3);
                    out.push_str(&tail[..end]);
                    rest = &tail[end..];
                } else {
                    out.push('@');
                    rest = &tail[1..];
                }
            }
            out.push_str(rest);
            out
        }
    }
}

/// Applies the version's `@` escaping to one physical line's text.
pub(crate) fn escape_text(t: &str, version: Version, out: &mut String) {
    if memchr::memchr(b'@', t.as_bytes()).is_none() {
        out.push_str(t);
        return;
    }
    match version {
        Version::V70 => {
            if t.starts_with('@') {
                out.push('@');
            }
            out.push_str(t);
        }
        Version::V551 => {
            let mut rest = t;
            while let Some(i) = rest.find('@') {
                out.push_str(&rest[..i]);
                let tail = &rest[i..];
                if let Some(after) = tail.strip_prefix("@#") {
                    let end = after.find('@').map_or(tail.len(), |j| j + 3);
                    out.push_str(&tail[..end]);
                    rest = &tail[end..];
                } else {
                    out.push_str("@@");
                    rest = &tail[1..];
                }
            }
            out.push_str(rest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn has_at_agrees_with_contains(
            b in proptest::collection::vec(
                proptest::prop_oneof![proptest::strategy::Just(b'@'), proptest::strategy::Just(0x3f_u8), proptest::strategy::Just(0xc0_u8), 0x41_u8..0x7b],
                0..40,
            )
        ) {
            proptest::prop_assert_eq!(has_at(&b), b.contains(&b'@'));
        }
    }

    #[test]
    fn has_at_at_every_position() {
        for len in 0..30 {
            assert!(!has_at(&vec![b'a'; len]));
            for i in 0..len {
                let mut b = vec![b'a'; len];
                b[i] = b'@';
                assert!(has_at(&b), "{len} {i}");
            }
        }
    }

    #[test]
    fn pointers() {
        assert_eq!(
            decode_payload(Some("@I1@"), Version::V551),
            Value::Pointer("I1".into())
        );
        assert_eq!(
            decode_payload(Some("@VOID@"), Version::V70),
            Value::Pointer("VOID".into())
        );
        assert_eq!(
            decode_payload(Some("@#DJULIAN@ 1 JAN 1700"), Version::V551),
            Value::Text("@#DJULIAN@ 1 JAN 1700".into())
        );
    }

    #[test]
    fn v551_doubles_everywhere_but_keeps_calendar_escapes() {
        assert_eq!(
            unescape_text("me@@example.com", Version::V551),
            "me@example.com"
        );
        assert_eq!(
            unescape_text("@#DHEBREW@ 1 TSH 5000 @@", Version::V551),
            "@#DHEBREW@ 1 TSH 5000 @"
        );
        let mut out = String::new();
        escape_text("me@example.com @#DJULIAN@ x", Version::V551, &mut out);
        assert_eq!(out, "me@@example.com @#DJULIAN@ x");
    }

    #[test]
    fn v70_doubles_only_a_leading_at() {
        assert_eq!(unescape_text("@@me", Version::V70), "@me");
        assert_eq!(unescape_text("a@@b", Version::V70), "a@@b");
        let mut out = String::new();
        escape_text("@me a@b", Version::V70, &mut out);
        assert_eq!(out, "@@me a@b");
    }
}
