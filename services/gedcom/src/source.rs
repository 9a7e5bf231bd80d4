//! Physical lines from a byte stream: buffering, UTF-16 transcoding and line terminators.

use std::io::{self, Read};

const CHUNK: usize = 64 * 1024;

/// Splits any `Read` into physical lines terminated by CR, LF, CRLF or LFCR.
///
/// UTF-16 input is transcoded to UTF-8 as it is read so that the line splitter, the encoding
/// sniffer and the line parser only ever see ASCII-compatible bytes.
pub(crate) struct LineSource<R> {
    inner: R,
    buf: Vec<u8>,
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
    pub truncated: bool,
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
            buf: Vec::with_capacity(CHUNK * 2),
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
        source.accept(rest, false);
        source
    }

    /// Appends freshly read raw bytes to the line buffer, transcoding if needed.
    fn accept(&mut self, raw: &[u8], last: bool) {
        let Some(decoder) = self.utf16.as_mut() else {
            self.buf.extend_from_slice(raw);
            return;
        };
        let mut input = raw;
        loop {
            let need = decoder
                .max_utf8_buffer_length(input.len())
                .unwrap_or(input.len() * 3 + 16);
            let old = self.buf.len();
            self.buf.resize(old + need, 0);
            let (result, read, written, replaced) =
                decoder.decode_to_utf8(input, &mut self.buf[old..], last);
            self.buf.truncate(old + written);
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
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        if self.utf16.is_none() {
            // Read straight into the line buffer: no intermediate copy for 8-bit input.
            let old = self.buf.len();
            self.buf.resize(old + CHUNK, 0);
            let n = loop {
                match self.inner.read(&mut self.buf[old..]) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        self.buf.truncate(old);
                        return Err(e);
                    }
                }
            };
            self.buf.truncate(old + n);
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
            self.accept(&[], true);
        } else {
            self.accept(&raw[..n], false);
        }
        self.raw = raw;
        Ok(n > 0)
    }

    /// The bytes buffered but not yet returned as lines, for sniffing the header.
    pub(crate) fn peek_buffered(&mut self, want: usize) -> io::Result<&[u8]> {
        while self.buf.len() - self.start < want && self.fill()? {}
        Ok(&self.buf[self.start..])
    }

    /// The next physical line, skipping empty ones, or `None` at end of input.
    pub(crate) fn next_line(&mut self) -> io::Result<Option<PhysicalLine<'_>>> {
        // Skip terminators, counting lines the way an editor would: CRLF and LFCR are one.
        loop {
            let Some(&b) = self.buf.get(self.start) else {
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
            let next = self.buf.get(self.start + 1).copied();
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
            let hay = &self.buf[self.start + searched..];
            if let Some(i) = memchr::memchr2(b'\n', b'\r', hay) {
                let end = self.start + searched + i;
                if end - self.start > self.max_line {
                    return self.truncate_long_line(number);
                }
                let bytes = &self.buf[self.start..end];
                self.start = end;
                return Ok(Some(PhysicalLine {
                    number,
                    bytes,
                    truncated: false,
                }));
            }
            searched = self.buf.len() - self.start;
            if searched > self.max_line {
                return self.truncate_long_line(number);
            }
            if !self.fill()? {
                let bytes = &self.buf[self.start..];
                self.start = self.buf.len();
                return Ok(Some(PhysicalLine {
                    number,
                    bytes,
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
            .extend_from_slice(&self.buf[self.start..keep_end]);
        self.start = keep_end;
        loop {
            let hay = &self.buf[self.start..];
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
            truncated: true,
        }))
    }
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
}
