//! One logical GEDCOM line: `level [@xref@] TAG [payload]`.

/// The parts of a line, borrowed from the decoded text.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct LineParts<'a> {
    pub level: usize,
    pub xref: Option<&'a str>,
    pub tag: &'a str,
    /// Everything after the single space that follows the tag, verbatim.
    pub payload: Option<&'a str>,
    /// Whitespace preceded the level number.
    pub leading_whitespace: bool,
}

/// Why a line could not be split into parts.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum LineError {
    /// The line does not start with a level number.
    NoLevel,
    /// The level is followed by nothing that could be a tag.
    NoTag,
}

/// Levels beyond this are clamped; real files stay far below it.
pub(crate) const MAX_LEVEL: usize = 99_999;

/// Splits a decoded line into its parts, tolerating the sloppiness of real files.
///
/// Works on bytes: every delimiter is ASCII, so each split point is a char boundary, and the
/// byte loops cost a fraction of `char` pattern searches on the short lines GEDCOM is made of.
#[inline]
pub(crate) fn parse_line(line: &str) -> Result<LineParts<'_>, LineError> {
    let bytes = line.as_bytes();
    // Nearly every line is `D TAG[ payload]`: a one-digit level, one space and a tag (no
    // xref). Its split needs none of the general loops below, and gives the same parts.
    if let [digit @ b'0'..=b'9', b' ', first, ..] = *bytes
        && !matches!(first, b' ' | b'\t' | b'@')
    {
        let rest = &bytes[2..];
        let tag_end = 2 + rest
            .iter()
            .position(|&b| b == b' ' || b == b'\t')
            .unwrap_or(rest.len());
        return Ok(LineParts {
            level: usize::from(digit - b'0'),
            xref: None,
            tag: &line[2..tag_end],
            payload: line.get(tag_end + 1..).filter(|p| !p.is_empty()),
            leading_whitespace: false,
        });
    }
    let mut i = 0;
    // Nearly every line starts with its level: skip the whitespace scan for those.
    if !bytes.first().is_some_and(u8::is_ascii_digit) {
        loop {
            match bytes.get(i..) {
                Some([b' ' | b'\t' | 0, ..]) => i += 1,
                // U+FEFF (a stray byte-order mark) in UTF-8.
                Some([0xEF, 0xBB, 0xBF, ..]) => i += 3,
                _ => break,
            }
        }
    }
    let leading_whitespace = i != 0;
    let level_start = i;
    let mut level = 0usize;
    while let Some(&b) = bytes.get(i)
        && b.is_ascii_digit()
    {
        // Only the first six digits count; levels beyond MAX_LEVEL are clamped.
        if i - level_start < 6 {
            level = level * 10 + usize::from(b - b'0');
        }
        i += 1;
    }
    if i == level_start {
        return Err(LineError::NoLevel);
    }
    let level = level.min(MAX_LEVEL);
    if !matches!(bytes.get(i), Some(b' ' | b'\t')) {
        return Err(LineError::NoTag);
    }
    while matches!(bytes.get(i), Some(b' ' | b'\t')) {
        i += 1;
    }
    let mut xref = None;
    if bytes.get(i) == Some(&b'@')
        && let Some(close) = memchr::memchr(b'@', &bytes[i + 1..])
    {
        let close = i + 1 + close;
        // An xref is followed by a space and a tag; anything else is not an xref.
        if close > i + 1 && bytes.get(close + 1) == Some(&b' ') {
            xref = Some(&line[i + 1..close]);
            i = close + 1;
            while bytes.get(i) == Some(&b' ') {
                i += 1;
            }
        }
    }
    let tag_start = i;
    while let Some(&b) = bytes.get(i)
        && b != b' '
        && b != b'\t'
    {
        i += 1;
    }
    if i == tag_start {
        return Err(LineError::NoTag);
    }
    let tag = &line[tag_start..i];
    let payload = line.get(i + 1..).filter(|p| !p.is_empty());
    Ok(LineParts {
        level,
        xref,
        tag,
        payload,
        leading_whitespace,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_lines() {
        let p = parse_line("0 @I1@ INDI").unwrap();
        assert_eq!(
            (p.level, p.xref, p.tag, p.payload),
            (0, Some("I1"), "INDI", None)
        );
        let p = parse_line("2 CONC  two spaces kept ").unwrap();
        assert_eq!(p.payload, Some(" two spaces kept "));
        let p = parse_line("1 NAME John /Doe/").unwrap();
        assert_eq!(p.payload, Some("John /Doe/"));
    }

    #[test]
    fn tolerates_leading_whitespace_and_three_digit_levels() {
        let p = parse_line("  100 _CUST x").unwrap();
        assert!(p.leading_whitespace);
        assert_eq!(p.level, 100);
    }

    #[test]
    fn rejects_lines_without_level_or_tag() {
        assert_eq!(parse_line("hello"), Err(LineError::NoLevel));
        assert_eq!(parse_line("1"), Err(LineError::NoTag));
        assert_eq!(parse_line("1 "), Err(LineError::NoTag));
    }

    #[test]
    fn pointer_payload_is_not_an_xref() {
        let p = parse_line("1 FAMC @F1@").unwrap();
        assert_eq!((p.xref, p.tag, p.payload), (None, "FAMC", Some("@F1@")));
    }

    /// The `char`-pattern splitter this byte version replaced, kept as the specification.
    fn reference(line: &str) -> Result<LineParts<'_>, LineError> {
        let trimmed = line.trim_start_matches([' ', '\t', '\u{feff}', '\0']);
        let leading_whitespace = trimmed.len() != line.len();
        let digits = trimmed.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(LineError::NoLevel);
        }
        let level = trimmed[..digits.min(6)]
            .parse::<usize>()
            .unwrap_or(MAX_LEVEL)
            .min(MAX_LEVEL);
        let rest = &trimmed[digits..];
        if !rest.starts_with([' ', '\t']) {
            return Err(LineError::NoTag);
        }
        let mut rest = rest.trim_start_matches([' ', '\t']);
        let mut xref = None;
        if let Some(after) = rest.strip_prefix('@')
            && let Some(close) = after.find('@')
        {
            let after_close = &after[close + 1..];
            if close > 0 && after_close.starts_with(' ') {
                xref = Some(&after[..close]);
                rest = after_close.trim_start_matches(' ');
            }
        }
        let tag_end = rest.find([' ', '\t']).unwrap_or(rest.len());
        let tag = &rest[..tag_end];
        if tag.is_empty() {
            return Err(LineError::NoTag);
        }
        let payload = rest[tag_end..].get(1..).filter(|p| !p.is_empty());
        Ok(LineParts {
            level,
            xref,
            tag,
            payload,
            leading_whitespace,
        })
    }

    proptest::proptest! {
        #[test]
        fn agrees_with_the_reference_splitter(
            line in "[ \t\u{feff}\u{0}]{0,3}[0-9]{0,8}[ \t]{0,3}(@[A-Za-z0-9@ ]{0,5}@?)?[ \t]{0,2}[A-Z_é\t ]{0,6}[ @\t]{0,2}[a-zé@ \t]{0,6}"
        ) {
            proptest::prop_assert_eq!(parse_line(&line), reference(&line));
        }
    }

    proptest::proptest! {
        #[test]
        fn the_one_digit_fast_path_agrees_with_the_reference(
            line in "[0-9][ \t]{1,2}[A-Z_@é\t ]{0,12}[ \t]{0,2}[a-zé@ \t]{0,6}"
        ) {
            proptest::prop_assert_eq!(parse_line(&line), reference(&line));
        }
    }

    #[test]
    fn byte_order_mark_and_nul_count_as_leading_whitespace() {
        let p = parse_line("\u{feff}\u{0}0 HEAD").unwrap();
        assert!(p.leading_whitespace);
        assert_eq!((p.level, p.tag), (0, "HEAD"));
        assert_eq!(parse_line("1234567 X").unwrap().level, MAX_LEVEL);
    }
}
