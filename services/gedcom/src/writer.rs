//! Writing GEDCOM 5.5.1 or 7.0 (UTF-8) from the model.

use crate::escape::escape_text;
use crate::model::{Gedcom, Header, Record};
use crate::node::{Node, Value};
use crate::version::Version;
use std::io::{self, Write};

/// Line terminator to write.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LineEnding {
    /// `\n`.
    #[default]
    Lf,
    /// `\r\n`, what Windows programs expect.
    CrLf,
}

/// How to write.
#[derive(Clone, Debug)]
pub struct WriteOptions {
    /// Output version.
    pub version: Version,
    /// Line terminator.
    pub line_ending: LineEnding,
    /// 5.5.1 lines are split with CONC to stay within this many bytes (the standard's 255).
    pub max_line_len: usize,
}

impl Default for WriteOptions {
    fn default() -> Self {
        Self {
            version: Version::V551,
            line_ending: LineEnding::Lf,
            max_line_len: 255,
        }
    }
}

impl WriteOptions {
    /// Defaults for the given version.
    pub fn for_version(version: Version) -> Self {
        Self {
            version,
            ..Self::default()
        }
    }
}

/// A borrowed payload to write.
#[derive(Clone, Copy, Debug)]
pub(crate) enum ValueRef<'a> {
    None,
    Text(&'a str),
    Pointer(&'a str),
}

impl<'a> ValueRef<'a> {
    /// Text, or nothing for an empty string (they are the same on the wire).
    pub(crate) fn text(t: &'a str) -> Self {
        if t.is_empty() {
            ValueRef::None
        } else {
            ValueRef::Text(t)
        }
    }

    pub(crate) fn opt(t: &'a Option<String>) -> Self {
        t.as_deref().map_or(ValueRef::None, Self::text)
    }

    fn of(v: &'a Value) -> Self {
        match v {
            Value::None => ValueRef::None,
            Value::Text(t) => Self::text(t),
            Value::Pointer(p) => ValueRef::Pointer(p),
        }
    }
}

const FLUSH_AT: usize = 64 * 1024;

/// Turns structures into lines: CONT/CONC splitting, `@` escaping, buffering.
pub(crate) struct Emitter<W: Write> {
    out: W,
    buf: Vec<u8>,
    version: Version,
    eol: &'static [u8],
    max_line: usize,
    scratch: String,
}

impl<W: Write> Emitter<W> {
    fn new(out: W, options: &WriteOptions) -> Self {
        Self {
            out,
            buf: Vec::with_capacity(FLUSH_AT * 2),
            version: options.version,
            eol: match options.line_ending {
                LineEnding::Lf => b"\n",
                LineEnding::CrLf => b"\r\n",
            },
            max_line: options.max_line_len.max(32),
            scratch: String::new(),
        }
    }

    /// The version being written.
    pub(crate) fn version(&self) -> Version {
        self.version
    }

    fn prefix(&mut self, level: usize, xref: Option<&str>, tag: &str) {
        self.buf.extend_from_slice(level.to_string().as_bytes());
        self.buf.push(b' ');
        if let Some(x) = xref {
            self.buf.push(b'@');
            self.buf.extend_from_slice(x.as_bytes());
            self.buf.extend_from_slice(b"@ ");
        }
        self.buf.extend_from_slice(tag.as_bytes());
    }

    fn end_line(&mut self) -> io::Result<()> {
        self.buf.extend_from_slice(self.eol);
        if self.buf.len() >= FLUSH_AT {
            self.out.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    fn payload(&mut self, text: &str) {
        if text.is_empty() {
            return;
        }
        self.buf.push(b' ');
        self.scratch.clear();
        let mut scratch = std::mem::take(&mut self.scratch);
        escape_text(text, self.version, &mut scratch);
        self.buf.extend_from_slice(scratch.as_bytes());
        self.scratch = scratch;
    }

    /// Writes one structure line, continuing multi-line and long text with CONT/CONC.
    pub(crate) fn line(
        &mut self,
        level: usize,
        xref: Option<&str>,
        tag: &str,
        value: ValueRef<'_>,
    ) -> io::Result<()> {
        let text = match value {
            ValueRef::None => {
                self.prefix(level, xref, tag);
                return self.end_line();
            }
            ValueRef::Pointer(p) => {
                self.prefix(level, xref, tag);
                self.buf.extend_from_slice(b" @");
                self.buf.extend_from_slice(p.as_bytes());
                self.buf.push(b'@');
                return self.end_line();
            }
            ValueRef::Text(t) => t,
        };
        // CR cannot survive a round trip as data: every reader treats it as a line break.
        let normalized;
        let text = if text.contains('\r') {
            normalized = text.replace("\r\n", "\n").replace('\r', "\n");
            normalized.as_str()
        } else {
            text
        };
        for (i, segment) in text.split('\n').enumerate() {
            let (lvl, xr, tg) = if i == 0 {
                (level, xref, tag)
            } else {
                (level + 1, None, "CONT")
            };
            match self.version {
                Version::V70 => {
                    self.prefix(lvl, xr, tg);
                    self.payload(segment);
                    self.end_line()?;
                }
                Version::V551 => {
                    let mut rest = segment;
                    let mut first = true;
                    loop {
                        let (l, x, t) = if first {
                            (lvl, xr, tg)
                        } else {
                            (level + 1, None, "CONC")
                        };
                        let overhead = 8 + x.map_or(0, |x| x.len() + 3) + t.len();
                        let budget = self.max_line.saturating_sub(overhead).max(16);
                        let cut = split_point(rest, budget);
                        self.prefix(l, x, t);
                        self.payload(&rest[..cut]);
                        self.end_line()?;
                        rest = &rest[cut..];
                        first = false;
                        if rest.is_empty() {
                            break;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// `TAG text` (no payload when empty).
    pub(crate) fn text(&mut self, level: usize, tag: &str, text: &str) -> io::Result<()> {
        self.line(level, None, tag, ValueRef::text(text))
    }

    /// `TAG text` when present.
    pub(crate) fn opt(&mut self, level: usize, tag: &str, text: &Option<String>) -> io::Result<()> {
        match text {
            Some(t) => self.text(level, tag, t),
            None => Ok(()),
        }
    }

    /// `TAG @ptr@`.
    pub(crate) fn pointer(&mut self, level: usize, tag: &str, ptr: &str) -> io::Result<()> {
        self.line(level, None, tag, ValueRef::Pointer(ptr))
    }

    /// `TAG` with no payload.
    pub(crate) fn empty(&mut self, level: usize, tag: &str) -> io::Result<()> {
        self.line(level, None, tag, ValueRef::None)
    }

    /// A raw subtree, with the shared-note pointer tag adapted to the output version.
    pub(crate) fn node(&mut self, level: usize, node: &Node) -> io::Result<()> {
        let tag = match (&node.value, node.tag.as_str(), self.version) {
            (Value::Pointer(_), "NOTE", Version::V70) => "SNOTE",
            (Value::Pointer(_), "SNOTE", Version::V551) => "NOTE",
            (_, t, _) => t,
        };
        self.line(level, node.xref.as_deref(), tag, ValueRef::of(&node.value))?;
        self.nodes(level + 1, &node.children)
    }

    /// Raw subtrees.
    pub(crate) fn nodes(&mut self, level: usize, nodes: &[Node]) -> io::Result<()> {
        for n in nodes {
            self.node(level, n)?;
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.write_all(&self.buf)?;
        self.buf.clear();
        self.out.flush()
    }
}

/// Where to cut `s` so the first part fits `budget` escaped bytes, at a char boundary with no
/// space on either side of the cut (5.5.1 readers may trim spaces at line ends). Returns
/// `s.len()` when it fits or no such cut exists.
fn split_point(s: &str, budget: usize) -> usize {
    let weight = |c: char| c.len_utf8() + usize::from(c == '@');
    let mut used = 0;
    let mut fit = 0;
    for (i, c) in s.char_indices() {
        if used + weight(c) > budget {
            break;
        }
        used += weight(c);
        fit = i + c.len_utf8();
    }
    if fit >= s.len() {
        return s.len();
    }
    let bytes = s.as_bytes();
    let ok = |k: usize| {
        k > 0 && k < s.len() && s.is_char_boundary(k) && bytes[k - 1] != b' ' && bytes[k] != b' '
    };
    if let Some(k) = (1..=fit).rev().find(|&k| ok(k)) {
        return k;
    }
    (fit + 1..s.len()).find(|&k| ok(k)).unwrap_or(s.len())
}

/// Hands out cross-reference ids that collide with none in use, in memory that does not
/// grow with the number of records.
///
/// Allocated ids live in their own namespace, `{letter}_{n}` (`I_12` for an individual), so
/// only ids of that form can collide: reserving or writing one raises the counter of its
/// letter past it, and the allocator remembers which runs of numbers it handed out (one run
/// unless such ids are interleaved with allocations), so it can tell when a record arrives
/// with an id it already gave to another one.
#[derive(Debug, Default)]
pub struct XrefAllocator {
    spaces: Vec<Space>,
}

/// The counter of one letter's namespace.
#[derive(Debug)]
struct Space {
    letter: char,
    /// The highest number allocated or reserved so far.
    high: u64,
    /// Inclusive ranges of numbers handed out, in increasing order.
    runs: Vec<(u64, u64)>,
}

/// The letter and number of an id in the allocation namespace, such as `I_12`.
fn in_namespace(id: &str) -> Option<(char, u64)> {
    let (head, digits) = id.split_at_checked(1)?;
    let letter = head.chars().next().filter(char::is_ascii_uppercase)?;
    let digits = digits.strip_prefix('_')?;
    // `I_012` is not `I_12`: only the canonical spelling can equal an allocated id.
    if digits.is_empty() || digits.starts_with('0') || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((letter, digits.parse().ok()?))
}

impl XrefAllocator {
    fn space(&mut self, letter: char) -> &mut Space {
        let i = match self.spaces.iter().position(|s| s.letter == letter) {
            Some(i) => i,
            None => {
                self.spaces.push(Space {
                    letter,
                    high: 0,
                    runs: Vec::new(),
                });
                self.spaces.len() - 1
            }
        };
        &mut self.spaces[i]
    }

    /// Marks ids as taken, so allocation avoids them.
    pub fn reserve<I: IntoIterator<Item = S>, S: AsRef<str>>(&mut self, ids: I) {
        for id in ids {
            if let Some((letter, n)) = in_namespace(id.as_ref()) {
                let space = self.space(letter);
                space.high = space.high.max(n);
            }
        }
    }

    /// Whether this allocator has handed out `id`.
    pub fn allocated(&self, id: &str) -> bool {
        let Some((letter, n)) = in_namespace(id) else {
            return false;
        };
        self.spaces
            .iter()
            .find(|s| s.letter == letter)
            .is_some_and(|s| s.runs.iter().any(|&(a, b)| (a..=b).contains(&n)))
    }

    /// A fresh id such as `I_12` for an individual (the letter is the tag's first letter);
    /// `None` once an input id such as `I_18446744073709551615` has used up the letter's numbers.
    pub fn allocate(&mut self, tag: &str) -> Option<String> {
        let letter = tag
            .chars()
            .next()
            .map(|c| c.to_ascii_uppercase())
            .filter(char::is_ascii_uppercase)
            .unwrap_or('X');
        let space = self.space(letter);
        let n = space.high.checked_add(1)?;
        space.high = n;
        match space.runs.last_mut() {
            Some((_, end)) if *end + 1 == n => *end = n,
            _ => space.runs.push((n, n)),
        }
        Some(format!("{letter}_{n}"))
    }
}

/// Writes a GEDCOM stream: header, records, trailer.
pub struct GedcomWriter<W: Write> {
    em: Emitter<W>,
    xrefs: XrefAllocator,
}

impl<W: Write> GedcomWriter<W> {
    /// A writer to `out`; it buffers internally, so `out` need not be buffered.
    pub fn new(out: W, options: WriteOptions) -> Self {
        Self {
            em: Emitter::new(out, &options),
            xrefs: XrefAllocator::default(),
        }
    }

    /// Ids that allocated xrefs must avoid (all ids of the data being written). Only ids of
    /// the allocator's form (`I_12`) are remembered, as one counter per letter, so reserving
    /// a whole file's ids costs no memory.
    pub fn reserve_xrefs<I: IntoIterator<Item = S>, S: AsRef<str>>(&mut self, ids: I) {
        self.xrefs.reserve(ids);
    }

    /// Writes the header; call once, first.
    pub fn write_header(&mut self, header: &Header) -> io::Result<()> {
        header.emit(&mut self.em)
    }

    /// Writes one record, allocating an xref if it needs one and has none.
    ///
    /// Fails with `InvalidInput` rather than write a duplicate id when the record's xref is
    /// one already allocated to an earlier record; reserving the input's ids first
    /// ([`GedcomWriter::reserve_xrefs`]) prevents that.
    pub fn write_record(&mut self, record: &Record) -> io::Result<()> {
        if let Some(x) = record.xref() {
            if self.xrefs.allocated(x) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "record @{x}@ has the id this writer allocated to an earlier record \
                         without one; reserve the input's ids before writing"
                    ),
                ));
            }
            self.xrefs.reserve([x]);
        }
        let allocated = if self.em.version() == Version::V551 && record.needs_xref() {
            Some(self.xrefs.allocate(record.tag()).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "no free id left for a record without one: the input's ids use up the \
                     allocator's numbers",
                )
            })?)
        } else {
            None
        };
        record.emit(allocated.as_deref(), &mut self.em)
    }

    /// Writes `TRLR`, flushes, and gives the output back.
    pub fn finish(mut self) -> io::Result<W> {
        self.em.empty(0, "TRLR")?;
        self.em.flush()?;
        Ok(self.em.out)
    }
}

/// Writes a whole model.
pub fn write_gedcom<W: Write>(gedcom: &Gedcom, out: W, options: WriteOptions) -> io::Result<W> {
    let mut w = GedcomWriter::new(out, options);
    w.reserve_xrefs(gedcom.records.iter().filter_map(Record::xref));
    w.write_header(&gedcom.header)?;
    for r in &gedcom.records {
        w.write_record(r)?;
    }
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_never_at_a_space() {
        let s = "aaaa bbbb cccc";
        let k = split_point(s, 5);
        assert_eq!(&s[..k], "aaa");
        let k = split_point("a b c d e f", 4);
        assert!(k == 11 || !"a b c d e f".as_bytes()[k - 1].is_ascii_whitespace());
        assert_eq!(split_point("short", 100), 5);
    }

    #[test]
    fn allocator_skips_reserved_ids() {
        let mut a = XrefAllocator::default();
        a.reserve(["I1", "I_2", "I_05", "F_9"]);
        assert_eq!(a.allocate("INDI").as_deref(), Some("I_3"));
        assert_eq!(a.allocate("FAM").as_deref(), Some("F_10"));
        a.reserve(["I_7"]);
        assert_eq!(a.allocate("INDI").as_deref(), Some("I_8"));
        assert!(a.allocated("I_3") && a.allocated("I_8") && a.allocated("F_10"));
        assert!(!a.allocated("I_7") && !a.allocated("I_2") && !a.allocated("I3"));
        assert_eq!(a.allocate("_LOC").as_deref(), Some("X_1"));
    }

    #[test]
    fn allocator_refuses_rather_than_overflow() {
        let mut a = XrefAllocator::default();
        // Beyond u64: cannot equal an allocated id, so it is not tracked.
        a.reserve(["I_99999999999999999999"]);
        assert_eq!(a.allocate("INDI").as_deref(), Some("I_1"));
        a.reserve(["I_18446744073709551615"]);
        assert_eq!(a.allocate("INDI"), None);
        assert_eq!(a.allocate("FAM").as_deref(), Some("F_1"));
    }
}
