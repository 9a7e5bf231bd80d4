//! Physical lines from a byte stream: buffering, UTF-16 transcoding and line terminators.

use std::io::{self, Read};

const CHUNK: usize = 64 * 1024;

/// Splits any `Read` into physical lines terminated by CR, LF, CRLF or LFCR.
///
/// UTF-16 input is transcoded to UTF-8 as it is read so that the line splitter, the encoding
/// sniffer and the line parser only ever see ASCII-compatible bytes.
pub(crate) struct LineSource<R> {
    inner: R,
    buf: Buf,
    /// The first bytes of a UTF-8 sequence cut by a read boundary, held back from `buf`.
    carry: Vec<u8>,
    start: usize,
    eof: bool,
    utf16: Option<encoding_rs::Decoder>,
    raw: Vec<u8>,
    long_line: Vec<u8>,
    /// Raw bytes consumed from `inner`, for progress reporting.
    pub bytes_read: u64,
    /// Physical line number of the line last returned (1-based).
    pub line_no: u64,
    /// The byte that ended the previous line, so LFCR and CRLF count as one terminator.
    last_terminator: u8,
    max_line: usize,
    /// Set when the UTF-16 decoder had to replace malformed input.
    pub had_replacements: bool,
}

/// One physical line; `truncated` is set when it exceeded the length limit.
pub(crate) struct PhysicalLine<'a> {
    pub number: u64,
    pub bytes: &'a [u8],
    /// The same line as text when the buffer it came from was validated as UTF-8 as a whole.
    pub text: Option<&'a str>,
    pub truncated: bool,
}

/// The line buffer. Valid UTF-8 (nearly every real file) is kept as a `String`, validated
/// once per 64 KiB read instead of once per short line; the first read holding bytes that
/// are not UTF-8 switches the source to bytes for good, and lines are then checked one by one.
enum Buf {
    Text(String),
    Bytes(Vec<u8>),
}

impl Buf {
    fn bytes(&self) -> &[u8] {
        match self {
            Buf::Text(s) => s.as_bytes(),
            Buf::Bytes(b) => b,
        }
    }

    fn len(&self) -> usize {
        self.bytes().len()
    }

    /// The buffer as bytes, for appending; `restore` turns it back into text when it can be.
    fn take_bytes(&mut self) -> (Vec<u8>, bool) {
        match std::mem::replace(self, Buf::Bytes(Vec::new())) {
            Buf::Text(s) => (s.into_bytes(), true),
            Buf::Bytes(b) => (b, false),
        }
    }

    /// The line `start..end` with its text when the buffer is text.
    fn line(&self, start: usize, end: usize) -> (&[u8], Option<&str>) {
        match self {
            Buf::Text(s) => (&s.as_bytes()[start..end], s.get(start..end)),
            Buf::Bytes(b) => (&b[start..end], None),
        }
    }
}

impl<R: Read> LineSource<R> {
    /// Wraps `inner`; `already` holds bytes read ahead for sniffing, `skip` of them are a BOM.
    pub(crate) fn new(
        inner: R,
        already: Vec<u8>,
        skip: usize,
        utf16: Option<&'static encoding_rs::Encoding>,
        max_line: usize,
    ) -> Self {
        let bytes_read = already.len() as u64;
        let mut source = Self {
            inner,
            buf: Buf::Text(String::with_capacity(CHUNK * 2)),
            carry: Vec::new(),
            start: 0,
            eof: false,
            utf16: utf16.map(|e| e.new_decoder_without_bom_handling()),
            raw: Vec::new(),
            long_line: Vec::new(),
            bytes_read,
            line_no: 0,
            last_terminator: 0,
            max_line,
            had_replacements: false,
        };
        let rest = already.get(skip..).unwrap_or_default();
        let (mut buf, text) = source.buf.take_bytes();
        source.accept(&mut buf, rest, false);
        source.restore(buf, text, false);
        source
    }

    /// Puts the buffer back, as text if it was text and the new bytes are valid UTF-8.
    ///
    /// A UTF-8 sequence cut at the end of the buffer is held in `carry` until the next read
    /// (at end of input it is left in place, and the line holding it is decoded on its own).
    fn restore(&mut self, mut buf: Vec<u8>, text: bool, at_eof: bool) {
        if !text {
            self.buf = Buf::Bytes(buf);
            return;
        }
        if !at_eof {
            // Hold back a sequence cut by the read before validating, so the buffer is
            // validated once rather than once to find the cut and again without it.
            let cut = cut_sequence(&buf);
            if cut > 0 {
                self.carry.extend_from_slice(&buf[buf.len() - cut..]);
                buf.truncate(buf.len() - cut);
            }
        }
        self.buf = match String::from_utf8(buf) {
            Ok(s) => Buf::Text(s),
            Err(e) if e.utf8_error().error_len().is_none() && !at_eof => {
                let valid = e.utf8_error().valid_up_to();
                buf = e.into_bytes();
                self.carry.extend_from_slice(&buf[valid..]);
                buf.truncate(valid);
                match String::from_utf8(buf) {
                    Ok(s) => Buf::Text(s),
                    Err(e) => Buf::Bytes(e.into_bytes()),
                }
            }
            Err(e) => Buf::Bytes(e.into_bytes()),
        };
    }

    /// Appends freshly read raw bytes to `buf`, transcoding if needed.
    fn accept(&mut self, buf: &mut Vec<u8>, raw: &[u8], last: bool) {
        let Some(decoder) = self.utf16.as_mut() else {
            buf.extend_from_slice(raw);
            return;
        };
        let mut input = raw;
        loop {
            let need = decoder
                .max_utf8_buffer_length(input.len())
                .unwrap_or(input.len() * 3 + 16);
            let old = buf.len();
            buf.resize(old + need, 0);
            let (result, read, written, replaced) =
                decoder.decode_to_utf8(input, &mut buf[old..], last);
            buf.truncate(old + written);
            self.had_replacements |= replaced;
            input = &input[read..];
            if result == encoding_rs::CoderResult::InputEmpty {
                break;
            }
        }
    }

    /// Reads one more chunk; returns false at end of input.
    fn fill(&mut self) -> io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        let (mut buf, text) = self.buf.take_bytes();
        if self.start > 0 {
            buf.drain(..self.start);
            self.start = 0;
        }
        buf.append(&mut self.carry);
        let result = self.read_into(&mut buf);
        let at_eof = self.eof;
        self.restore(buf, text, at_eof);
        result
    }

    fn read_into(&mut self, buf: &mut Vec<u8>) -> io::Result<bool> {
        if self.utf16.is_none() {
            // Read straight into the line buffer: no intermediate copy for 8-bit input.
            let old = buf.len();
            buf.resize(old + CHUNK, 0);
            let n = loop {
                match self.inner.read(&mut buf[old..]) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        buf.truncate(old);
                        return Err(e);
                    }
                }
            };
            buf.truncate(old + n);
            self.bytes_read += n as u64;
            self.eof = n == 0;
            return Ok(n > 0);
        }
        self.raw.resize(CHUNK, 0);
        let n = loop {
            match self.inner.read(&mut self.raw) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        };
        self.bytes_read += n as u64;
        let raw = std::mem::take(&mut self.raw);
        if n == 0 {
            self.eof = true;
            self.accept(buf, &[], true);
        } else {
            self.accept(buf, &raw[..n], false);
        }
        self.raw = raw;
        Ok(n > 0)
    }

    /// The bytes buffered but not yet returned as lines, for sniffing the header.
    pub(crate) fn peek_buffered(&mut self, want: usize) -> io::Result<&[u8]> {
        while self.buf.len() - self.start < want && self.fill()? {}
        Ok(&self.buf.bytes()[self.start..])
    }

    /// The next physical line, skipping empty ones, or `None` at end of input.
    #[inline]
    pub(crate) fn next_line(&mut self) -> io::Result<Option<PhysicalLine<'_>>> {
        // Skip terminators, counting lines the way an editor would: CRLF and LFCR are one.
        loop {
            let Some(&b) = self.buf.bytes().get(self.start) else {
                if self.fill()? {
                    continue;
                }
                return Ok(None);
            };
            if b != b'\n' && b != b'\r' {
                break;
            }
            if b == b'\r' && self.start + 1 >= self.buf.len() && !self.eof {
                // The LF of a CRLF may be in the next chunk.
                self.fill()?;
                continue;
            }
            let next = self.buf.bytes().get(self.start + 1).copied();
            let paired = b == b'\r' && (next == Some(b'\n') || self.last_terminator == b'\n');
            if !paired {
                self.line_no += 1;
            }
            self.last_terminator = if paired { 0 } else { b };
            self.start += 1;
        }
        self.last_terminator = 0;
        let number = self.line_no + 1;
        let mut searched = 0;
        loop {
            let hay = &self.buf.bytes()[self.start + searched..];
            if let Some(i) = find_line_end(hay) {
                let end = self.start + searched + i;
                if end - self.start > self.max_line {
                    return self.truncate_long_line(number);
                }
                let (bytes, text) = self.buf.line(self.start, end);
                self.start = end;
                return Ok(Some(PhysicalLine {
                    number,
                    bytes,
                    text,
                    truncated: false,
                }));
            }
            searched = self.buf.len() - self.start;
            if searched > self.max_line {
                return self.truncate_long_line(number);
            }
            if !self.fill()? {
                let end = self.buf.len();
                let (bytes, text) = self.buf.line(self.start, end);
                self.start = end;
                return Ok(Some(PhysicalLine {
                    number,
                    bytes,
                    text,
                    truncated: false,
                }));
            }
        }
    }

    /// Keeps the first `max_line` bytes of an over-long line and discards the rest, so one
    /// hostile line cannot exhaust memory; the reader reports the truncation.
    fn truncate_long_line(&mut self, number: u64) -> io::Result<Option<PhysicalLine<'_>>> {
        let keep_end = self.start + self.max_line;
        self.long_line.clear();
        self.long_line
            .extend_from_slice(&self.buf.bytes()[self.start..keep_end]);
        self.start = keep_end;
        loop {
            let hay = &self.buf.bytes()[self.start..];
            if let Some(i) = memchr::memchr2(b'\n', b'\r', hay) {
                self.start += i;
                break;
            }
            self.start = self.buf.len();
            if !self.fill()? {
                break;
            }
        }
        Ok(Some(PhysicalLine {
            number,
            bytes: &self.long_line,
            text: None,
            truncated: true,
        }))
    }
}

/// The first `\n` or `\r` in `hay`. GEDCOM lines are short (20 bytes on average in
/// gedgen files), and `memchr2`'s set-up cost more than the search itself on such lines, so
/// the first 64 bytes are scanned eight at a time in a `u64` and only longer lines go to
/// `memchr2`.
#[inline]
fn find_line_end(hay: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut at = 0;
    while at < 64 {
        let Some(chunk) = hay.get(at..at + 8) else {
            return hay[at..]
                .iter()
                .position(|&b| b == b'\n' || b == b'\r')
                .map(|i| at + i);
        };
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word);
        let (lf, cr) = (x ^ (ONES * u64::from(b'\n')), x ^ (ONES * u64::from(b'\r')));
        // A byte of `lf`/`cr` is zero where `x` holds the terminator; the lowest flagged byte
        // of each mask is exact (borrows only run upwards), so the lowest of both is the first.
        let found = ((lf.wrapping_sub(ONES) & !lf) | (cr.wrapping_sub(ONES) & !cr)) & HIGH;
        if found != 0 {
            return Some(at + (found.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    memchr::memchr2(b'\n', b'\r', &hay[at..]).map(|i| at + i)
}

/// How many bytes at the end of `buf` begin a UTF-8 sequence that the buffer does not finish.
fn cut_sequence(buf: &[u8]) -> usize {
    for back in 1..=buf.len().min(3) {
        let b = buf[buf.len() - back];
        if b & 0xC0 == 0x80 {
            continue; // a continuation byte: the lead byte is further back
        }
        let need = match b {
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF7 => 4,
            _ => return 0, // ASCII or a byte no sequence starts with: nothing cut
        };
        return if need > back { back } else { 0 };
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8]) -> Vec<(u64, String)> {
        let mut src = LineSource::new(input, Vec::new(), 0, None, 1 << 20);
        let mut out = Vec::new();
        while let Some(l) = src.next_line().unwrap() {
            out.push((l.number, String::from_utf8_lossy(l.bytes).into_owned()));
        }
        out
    }

    #[test]
    fn every_terminator_style() {
        let want = vec![
            (1, "a".to_string()),
            (2, "b".to_string()),
            (3, "c".to_string()),
        ];
        assert_eq!(lines(b"a\nb\nc\n"), want);
        assert_eq!(lines(b"a\r\nb\r\nc"), want);
        assert_eq!(lines(b"a\rb\rc\r"), want);
        assert_eq!(lines(b"a\n\rb\n\rc\n\r"), want);
    }

    #[test]
    fn blank_lines_are_skipped_but_counted() {
        assert_eq!(lines(b"a\n\n\nb"), vec![(1, "a".into()), (4, "b".into())]);
    }

    #[test]
    fn overlong_line_is_truncated_and_reading_continues() {
        let mut input = vec![b'x'; 300];
        input.extend_from_slice(b"\nnext\n");
        let mut src = LineSource::new(&input[..], Vec::new(), 0, None, 100);
        let first = src.next_line().unwrap().unwrap();
        assert!(first.truncated);
        assert_eq!(first.bytes.len(), 100);
        let second = src.next_line().unwrap().unwrap();
        assert_eq!(second.bytes, b"next");
        assert_eq!(second.number, 2);
    }

    #[test]
    fn utf16_is_transcoded() {
        let text = "0 HEAD\r\n1 NAME J\u{f6}rg\r\n";
        let bytes: Vec<u8> = text.encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
        let mut src = LineSource::new(
            &bytes[..],
            Vec::new(),
            0,
            Some(encoding_rs::UTF_16LE),
            1 << 20,
        );
        let mut got = Vec::new();
        while let Some(l) = src.next_line().unwrap() {
            got.push(String::from_utf8(l.bytes.to_vec()).unwrap());
        }
        assert_eq!(got, vec!["0 HEAD", "1 NAME J\u{f6}rg"]);
    }

    /// Hands out one byte per read, so every multi-byte character straddles two reads.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let Some((&first, rest)) = self.0.split_first() else {
                return Ok(0);
            };
            buf[0] = first;
            self.0 = rest;
            Ok(1)
        }
    }

    fn texts<R: Read>(src: &mut LineSource<R>) -> Vec<(Vec<u8>, Option<String>)> {
        let mut out = Vec::new();
        while let Some(l) = src.next_line().unwrap() {
            out.push((l.bytes.to_vec(), l.text.map(str::to_owned)));
        }
        out
    }

    #[test]
    fn characters_cut_by_reads_stay_text() {
        let input = "1 NAME J\u{f6}rg\n2 GIVN \u{1F600}\u{e9}\n".as_bytes();
        let mut src = LineSource::new(Trickle(input), Vec::new(), 0, None, 1 << 20);
        let got = texts(&mut src);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].1.as_deref(), Some("1 NAME J\u{f6}rg"));
        assert_eq!(got[1].1.as_deref(), Some("2 GIVN \u{1F600}\u{e9}"));
    }

    #[test]
    fn invalid_utf8_is_handed_out_as_bytes() {
        let input = b"1 A ok\n1 B caf\xe9\n1 C ok\n1 D \xc3";
        for trickle in [false, true] {
            let mut src = if trickle {
                LineSource::new(
                    Box::new(Trickle(input)) as Box<dyn Read>,
                    Vec::new(),
                    0,
                    None,
                    1 << 20,
                )
            } else {
                LineSource::new(
                    Box::new(&input[..]) as Box<dyn Read>,
                    Vec::new(),
                    0,
                    None,
                    1 << 20,
                )
            };
            let got = texts(&mut src);
            let bytes: Vec<&[u8]> = got.iter().map(|(b, _)| b.as_slice()).collect();
            assert_eq!(
                bytes,
                vec![&b"1 A ok"[..], b"1 B caf\xe9", b"1 C ok", b"1 D \xc3"]
            );
            // Whatever the mode, no line claims to be text unless it is.
            for (b, t) in &got {
                if let Some(t) = t {
                    assert_eq!(t.as_bytes(), &b[..]);
                }
            }
            assert_eq!(got[1].1, None);
            assert_eq!(got[3].1, None);
        }
    }
}

#[cfg(test)]
mod line_end_tests {
    use super::find_line_end;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn agrees_with_memchr2(hay in proptest::collection::vec(
            prop_oneof![Just(b'\n'), Just(b'\r'), Just(0x8a_u8), Just(0x0b), Just(0x09), Just(0x8d), any::<u8>()],
            0..200,
        ), skip in 0usize..120) {
            // Mostly non-terminators, so that matches land at every offset, also past 64.
            let hay: Vec<u8> = hay
                .iter()
                .enumerate()
                .map(|(i, &b)| if i < skip && (b == b'\n' || b == b'\r') { b'a' } else { b })
                .collect();
            prop_assert_eq!(find_line_end(&hay), memchr::memchr2(b'\n', b'\r', &hay));
        }
    }
}
