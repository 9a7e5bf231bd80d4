//! The streaming reader: bytes in, one level-0 record at a time out.

use crate::diagnostic::{Diagnostic, Severity};
use crate::encoding::{self, DecodeIssue, Encoding, LineDecoder};
use crate::escape::{decode_payload, unescape_text};
use crate::line::{LineError, parse_line};
use crate::model::{Gedcom, Header, Record};
use crate::node::{Node, Tag, Value, spare_children};
use crate::source::LineSource;
use crate::version::Version;
use std::io::{self, Read};

/// Failure to read at all; problems with the content are diagnostics, never errors.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The underlying reader failed.
    #[error("reading GEDCOM input: {0}")]
    Io(#[from] io::Error),
}

/// Knobs for the reader; the defaults suit real files.
#[derive(Clone, Debug)]
pub struct ReaderOptions {
    /// Use this encoding instead of detecting one from the BOM and `HEAD.CHAR`.
    pub encoding: Option<Encoding>,
    /// Longer physical lines are truncated (with an error diagnostic) to bound memory.
    pub max_line_bytes: usize,
    /// Deeper structures are attached at this depth (with a warning) to bound recursion.
    pub max_depth: usize,
    /// Identical diagnostics beyond this many per code are counted, not listed.
    pub max_diagnostics_per_code: usize,
}

impl Default for ReaderOptions {
    fn default() -> Self {
        Self {
            encoding: None,
            max_line_bytes: 16 * 1024 * 1024,
            max_depth: 200,
            max_diagnostics_per_code: 100,
        }
    }
}

/// How the encoding was chosen, reported for `dzinza gedcom check`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EncodingSource {
    /// Given by the caller.
    Override,
    /// Byte-order mark or the NUL pattern of UTF-16.
    ByteOrderMark,
    /// `HEAD.CHAR`.
    Declared,
    /// Nothing said; UTF-8 assumed (with Windows-1252 for lines that are not UTF-8).
    Default,
}

/// One decoded physical line, classified.
enum LineEvent {
    Node {
        level: usize,
        node: Node,
    },
    Continuation {
        level: usize,
        conc: bool,
        text: String,
        line: u64,
    },
    Orphan {
        text: String,
        line: u64,
    },
}

/// Reads GEDCOM from any `Read`, one level-0 record at a time.
///
/// Content problems never fail the read: they become [`Diagnostic`]s, collected until the
/// caller takes them with [`GedcomReader::take_diagnostics`].
pub struct GedcomReader<R> {
    src: LineSource<R>,
    decoder: LineDecoder,
    encoding: Encoding,
    encoding_source: EncodingSource,
    version: Version,
    options: ReaderOptions,
    text: String,
    pending: Option<Node>,
    /// An empty list of substructures, with capacity, left by the last typed record built.
    spare: Vec<Node>,
    diagnostics: Vec<Diagnostic>,
    per_code: Vec<(&'static str, usize)>,
    /// Every diagnostic raised per severity (info, warning, error), listed or not.
    raised: [usize; 3],
    records: u64,
    seen_trailer: bool,
    warned_after_trailer: bool,
    finished: bool,
}

impl<R: Read> GedcomReader<R> {
    /// A reader with default options.
    pub fn new(inner: R) -> Result<Self, ReadError> {
        Self::with_options(inner, ReaderOptions::default())
    }

    /// A reader with the given options; reads ahead to detect the encoding and version.
    pub fn with_options(mut inner: R, options: ReaderOptions) -> Result<Self, ReadError> {
        let mut prefix = Vec::with_capacity(4);
        (&mut inner).take(4).read_to_end(&mut prefix)?;
        let sniffed = encoding::sniff(&prefix);
        let transcode = match options.encoding.unwrap_or(sniffed.encoding) {
            e @ (Encoding::Utf16Le | Encoding::Utf16Be)
                if options.encoding.is_some() || sniffed.certain =>
            {
                Some(if e == Encoding::Utf16Le {
                    encoding_rs::UTF_16LE
                } else {
                    encoding_rs::UTF_16BE
                })
            }
            _ => None,
        };
        let bom_len = match (options.encoding, transcode.is_some()) {
            (Some(e), _) if e != sniffed.encoding => 0,
            _ => sniffed.bom_len,
        };
        let mut src = LineSource::new(inner, prefix, bom_len, transcode, options.max_line_bytes);
        let (declared_char, declared_vers) = scan_header(src.peek_buffered(64 * 1024)?);
        let version = declared_vers
            .as_deref()
            .map_or(Version::V551, Version::from_vers);
        let mut diagnostics = Vec::new();
        let declared = declared_char.as_deref().and_then(Encoding::from_char_value);
        if let Some(value) = declared_char.as_deref()
            && declared.is_none()
        {
            diagnostics.push(Diagnostic::file(
                Severity::Warning,
                "unknown-charset",
                format!("HEAD.CHAR {value:?} is not a known character set; reading as UTF-8"),
            ));
        }
        let (encoding, encoding_source) = if let Some(e) = options.encoding {
            (e, EncodingSource::Override)
        } else if sniffed.certain {
            if let Some(d) = declared
                && d != sniffed.encoding
                && !(d.is_utf16() && sniffed.encoding.is_utf16())
            {
                diagnostics.push(Diagnostic::file(
                    Severity::Warning,
                    "charset-mismatch",
                    format!(
                        "HEAD.CHAR says {d} but the byte-order mark says {}; using the latter",
                        sniffed.encoding
                    ),
                ));
            }
            (sniffed.encoding, EncodingSource::ByteOrderMark)
        } else {
            match declared {
                Some(d) if d.is_utf16() => {
                    diagnostics.push(Diagnostic::file(
                        Severity::Warning,
                        "charset-mismatch",
                        "HEAD.CHAR says UNICODE but the file is not UTF-16; reading as UTF-8",
                    ));
                    (Encoding::Utf8, EncodingSource::Declared)
                }
                Some(d) => (d, EncodingSource::Declared),
                None if version == Version::V70 => (Encoding::Utf8, EncodingSource::Declared),
                None => (Encoding::Utf8, EncodingSource::Default),
            }
        };
        // The charset warnings above are all warnings.
        let raised = [0, diagnostics.len(), 0];
        Ok(Self {
            src,
            decoder: LineDecoder::new(encoding),
            encoding,
            encoding_source,
            version,
            options,
            text: String::new(),
            pending: None,
            spare: Vec::new(),
            diagnostics,
            per_code: Vec::new(),
            raised,
            records: 0,
            seen_trailer: false,
            warned_after_trailer: false,
            finished: false,
        })
    }

    /// The encoding in use.
    pub fn encoding(&self) -> Encoding {
        self.encoding
    }

    /// How the encoding was chosen.
    pub fn encoding_source(&self) -> EncodingSource {
        self.encoding_source
    }

    /// The version family from `HEAD.GEDC.VERS` (5.5.1 rules if absent).
    pub fn version(&self) -> Version {
        self.version
    }

    /// Bytes consumed from the input so far, for progress bars.
    pub fn bytes_read(&self) -> u64 {
        self.src.bytes_read
    }

    /// Diagnostics collected so far, removing them from the reader.
    pub fn take_diagnostics(&mut self) -> Vec<Diagnostic> {
        std::mem::take(&mut self.diagnostics)
    }

    /// How many diagnostics of each severity were raised so far, including those only
    /// counted: `(errors, warnings, infos)`.
    pub fn raised(&self) -> (usize, usize, usize) {
        (self.raised[2], self.raised[1], self.raised[0])
    }

    fn diag(&mut self, d: Diagnostic) {
        self.raised[d.severity as usize] += 1;
        let limit = self.options.max_diagnostics_per_code;
        let count = match self.per_code.iter_mut().find(|(c, _)| *c == d.code) {
            Some((_, n)) => {
                *n += 1;
                *n
            }
            None => {
                self.per_code.push((d.code, 1));
                1
            }
        };
        if count <= limit {
            self.diagnostics.push(d);
        }
    }

    /// Reads and classifies the next non-empty physical line.
    fn read_line(&mut self) -> Result<Option<LineEvent>, ReadError> {
        let mut pending = Vec::new();
        loop {
            let Some(phys) = self.src.next_line()? else {
                return Ok(None);
            };
            let number = phys.number;
            if phys.truncated {
                pending.push(Diagnostic::at(
                    number,
                    Severity::Error,
                    "line-truncated",
                    format!(
                        "line longer than {} bytes; the rest was dropped",
                        self.options.max_line_bytes
                    ),
                ));
            }
            // Fast path: valid UTF-8 that the encoding passes through is parsed in place.
            let direct = match phys.text {
                Some(t) => Some(t),
                None => std::str::from_utf8(phys.bytes).ok(),
            }
            .filter(|s| self.encoding.is_utf8_compatible() || s.is_ascii());
            let text = match direct {
                Some(s) => s,
                None => {
                    let issue = self.decoder.decode(phys.bytes, &mut self.text);
                    if let Some(d) = decode_diagnostic(issue, number, self.encoding) {
                        pending.push(d);
                    }
                    self.text.as_str()
                }
            };
            let event = classify(text, number, self.version, &mut pending);
            if !pending.is_empty() {
                for d in std::mem::take(&mut pending) {
                    self.diag(d);
                }
            }
            if let Some(event) = event {
                return Ok(Some(event));
            }
        }
    }

    /// The next level-0 record as a generic tree (line numbers kept), or `None` at the end.
    ///
    /// `TRLR` is consumed here and never returned.
    pub fn next_node(&mut self) -> Result<Option<Node>, ReadError> {
        loop {
            let Some(root) = self.next_tree()? else {
                if !self.finished {
                    self.finished = true;
                    self.finish();
                }
                return Ok(None);
            };
            if self.seen_trailer && !self.warned_after_trailer {
                self.warned_after_trailer = true;
                self.diag(Diagnostic::at(
                    root.line,
                    Severity::Warning,
                    "after-trailer",
                    "records after TRLR; read anyway",
                ));
            }
            if root.tag == "TRLR" {
                self.seen_trailer = true;
                if root.value != Value::None || !root.children.is_empty() {
                    self.diag(Diagnostic::at(
                        root.line,
                        Severity::Warning,
                        "trailer-content",
                        "TRLR has a payload or substructures; they were dropped",
                    ));
                }
                continue;
            }
            if self.records == 0 && root.tag != "HEAD" {
                self.diag(Diagnostic::at(
                    root.line,
                    Severity::Warning,
                    "missing-head",
                    "the file does not start with a HEAD record",
                ));
            }
            self.records += 1;
            return Ok(Some(root));
        }
    }

    /// The next level-0 record in the typed model, or `None` at the end.
    pub fn next_record(&mut self) -> Result<Option<Record>, ReadError> {
        let Some(node) = self.next_node()? else {
            return Ok(None);
        };
        Ok(Some(Record::from_node_recycling(node, &mut self.spare)))
    }

    fn finish(&mut self) {
        if !self.seen_trailer {
            self.diag(Diagnostic::file(
                Severity::Warning,
                "missing-trailer",
                "the file has no TRLR record",
            ));
        }
        if self.src.had_replacements {
            self.diag(Diagnostic::file(
                Severity::Warning,
                "invalid-utf16",
                "malformed UTF-16 was replaced by U+FFFD",
            ));
        }
        let limit = self.options.max_diagnostics_per_code;
        let suppressed: Vec<_> = self
            .per_code
            .iter()
            .filter(|(_, n)| *n > limit)
            .copied()
            .collect();
        for (code, n) in suppressed {
            self.diagnostics.push(Diagnostic::file(
                Severity::Info,
                "suppressed",
                format!("{} more `{code}` diagnostics not listed", n - limit),
            ));
        }
    }

    /// Assembles the lines of one level-0 record into a tree.
    fn next_tree(&mut self) -> Result<Option<Node>, ReadError> {
        let root = match self.pending.take() {
            Some(root) => root,
            None => loop {
                // Matched in place rather than through `?`, which copied every event once more.
                match self.read_line() {
                    Err(e) => return Err(e),
                    Ok(None) => return Ok(None),
                    Ok(Some(LineEvent::Node { level, node })) => {
                        if level != 0 {
                            self.diag(Diagnostic::at(
                                node.line,
                                Severity::Warning,
                                "level-jump",
                                format!("record starts at level {level}; read as level 0"),
                            ));
                        }
                        break node;
                    }
                    Ok(Some(LineEvent::Continuation {
                        line, conc, text, ..
                    })) => {
                        self.diag(Diagnostic::at(
                            line,
                            Severity::Warning,
                            "orphan-continuation",
                            "CONC/CONT outside any record; kept as its own record",
                        ));
                        let tag = if conc { "CONC" } else { "CONT" };
                        break Node {
                            line,
                            ..Node::new(tag, Value::from_text(Some(text)))
                        };
                    }
                    Ok(Some(LineEvent::Orphan { text, line })) => {
                        self.diag(Diagnostic::at(
                            line,
                            Severity::Error,
                            "no-level",
                            format!(
                                "line {text:?} outside any record has no level number; skipped"
                            ),
                        ));
                    }
                }
            },
        };
        let max_depth = self.options.max_depth.max(1);
        let mut root = root;
        // Records typically hold a dozen substructures; growing 0 → 4 → 8 → 16 would copy them.
        if root.children.capacity() == 0 {
            root.children = std::mem::take(&mut self.spare);
        }
        root.children.reserve(16);
        // The open structures are always the chain of last children from the root, so each
        // node is moved once, straight into its parent, instead of onto a stack of open
        // nodes and from there into its parent when it closes. `open` is the depth of the
        // deepest structure still open (the root is depth 0); the chain may run deeper, into
        // structures already closed.
        let mut open = 0usize;
        loop {
            match self.read_line() {
                Err(e) => return Err(e),
                Ok(None) => break,
                Ok(Some(LineEvent::Node { level, node })) => {
                    if level == 0 {
                        self.pending = Some(node);
                        break;
                    }
                    let mut depth = level;
                    if depth > open + 1 {
                        self.diag(Diagnostic::at(
                            node.line,
                            Severity::Warning,
                            "level-jump",
                            format!(
                                "level {level} follows level {open}; attached to the line above"
                            ),
                        ));
                        depth = open + 1;
                    }
                    if depth > max_depth {
                        self.diag(Diagnostic::at(
                            node.line,
                            Severity::Warning,
                            "too-deep",
                            format!("nesting deeper than {max_depth} levels; attached at level {max_depth}"),
                        ));
                        depth = max_depth;
                    }
                    let parent = open_at(&mut root, depth - 1);
                    if parent.children.capacity() == 0 {
                        parent.children = spare_children();
                    }
                    parent.children.push(node);
                    open = depth;
                }
                Ok(Some(LineEvent::Continuation {
                    level: 0,
                    conc,
                    text,
                    line,
                })) => {
                    // A level-0 CONC/CONT continues nothing; keeping it as its own record
                    // (as at the start of a file) makes writing it back stable.
                    self.diag(Diagnostic::at(
                        line,
                        Severity::Warning,
                        "orphan-continuation",
                        "CONC/CONT at level 0; kept as its own record",
                    ));
                    let tag = if conc { "CONC" } else { "CONT" };
                    self.pending = Some(Node {
                        line,
                        ..Node::new(tag, Value::from_text(Some(text)))
                    });
                    break;
                }
                Ok(Some(LineEvent::Continuation {
                    level,
                    conc,
                    text,
                    line,
                })) => {
                    let depth = level.min(open + 1);
                    if level != depth {
                        self.diag(Diagnostic::at(
                            line,
                            Severity::Warning,
                            "level-jump",
                            format!("CONC/CONT at level {level} continues the line above"),
                        ));
                    }
                    // The line continues the structure one level up, closing any deeper.
                    open = depth - 1;
                    let target = open_at(&mut root, open);
                    if let Value::Pointer(_) = target.value {
                        self.diag(Diagnostic::at(
                            line,
                            Severity::Warning,
                            "continued-pointer",
                            "CONC/CONT after a pointer; kept as a substructure",
                        ));
                        let tag = if conc { "CONC" } else { "CONT" };
                        target.children.push(Node {
                            line,
                            ..Node::new(tag, Value::from_text(Some(text)))
                        });
                    } else {
                        append(&mut target.value, conc, &text);
                    }
                }
                Ok(Some(LineEvent::Orphan { text, line })) => {
                    self.diag(Diagnostic::at(
                        line,
                        Severity::Warning,
                        "no-level",
                        "line without a level number; read as a continuation (CONT) of the line above",
                    ));
                    let target = open_at(&mut root, open);
                    if let Value::Pointer(_) = target.value {
                        target.children.push(Node {
                            line,
                            ..Node::new("CONT", Value::from_text(Some(text)))
                        });
                    } else {
                        append(&mut target.value, false, &text);
                    }
                }
            }
        }
        Ok(Some(root))
    }
}

/// The open structure at `depth` below `root` (0 is the root itself): the end of the chain of
/// last children. The chain is at least as long as the open depth, so the walk never stops
/// early; if it did, the deepest structure reached is returned.
#[inline]
fn open_at(root: &mut Node, depth: usize) -> &mut Node {
    let mut node = root;
    for _ in 0..depth {
        if node.children.is_empty() {
            break;
        }
        let last = node.children.len() - 1;
        node = &mut node.children[last];
    }
    node
}

impl<R: Read> Iterator for GedcomReader<R> {
    type Item = Result<Record, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_record().transpose()
    }
}

/// The diagnostic for a line that did not decode cleanly.
fn decode_diagnostic(
    issue: Option<DecodeIssue>,
    number: u64,
    encoding: Encoding,
) -> Option<Diagnostic> {
    Some(match issue? {
        DecodeIssue::FellBackTo1252 => Diagnostic::at(
            number,
            Severity::Warning,
            "invalid-utf8",
            format!("bytes are not valid {encoding}; read as Windows-1252"),
        ),
        DecodeIssue::UndefinedAnsel(n) => Diagnostic::at(
            number,
            Severity::Warning,
            "undefined-ansel",
            format!("{n} byte(s) undefined in ANSEL replaced by U+FFFD"),
        ),
        DecodeIssue::NonAsciiUtf8 => Diagnostic::at(
            number,
            Severity::Info,
            "non-ascii",
            "file declares ASCII but this line holds UTF-8; read as UTF-8",
        ),
    })
}

/// Splits a decoded line and builds its node, or reports why it cannot be used.
#[inline]
fn classify(
    text: &str,
    number: u64,
    version: Version,
    pending: &mut Vec<Diagnostic>,
) -> Option<LineEvent> {
    match parse_line(text) {
        Ok(parts) => {
            if parts.leading_whitespace {
                pending.push(Diagnostic::at(
                    number,
                    Severity::Warning,
                    "leading-whitespace",
                    "whitespace before the level number ignored",
                ));
            }
            // Bytes bound characters from above, so most lines skip the count.
            if version == Version::V551 && text.len() > 255 && text.chars().count() > 255 {
                pending.push(Diagnostic::at(
                    number,
                    Severity::Warning,
                    "line-too-long",
                    "line longer than the 255 characters GEDCOM 5.5.1 allows; kept whole",
                ));
            }
            if parts.xref.is_none() && (parts.tag == "CONC" || parts.tag == "CONT") {
                Some(LineEvent::Continuation {
                    level: parts.level,
                    conc: parts.tag == "CONC",
                    text: parts
                        .payload
                        .map(|p| unescape_text(p, version))
                        .unwrap_or_default(),
                    line: number,
                })
            } else {
                let node = Node {
                    tag: Tag::from(parts.tag),
                    xref: parts.xref.map(str::to_owned),
                    value: decode_payload(parts.payload, version),
                    children: Vec::new(),
                    line: number,
                };
                Some(LineEvent::Node {
                    level: parts.level,
                    node,
                })
            }
        }
        Err(LineError::NoLevel) => Some(LineEvent::Orphan {
            text: text.to_owned(),
            line: number,
        }),
        Err(LineError::NoTag) => {
            pending.push(Diagnostic::at(
                number,
                Severity::Error,
                "no-tag",
                format!("line {text:?} has a level but no tag; skipped"),
            ));
            None
        }
    }
}

/// Adds a CONC (same line) or CONT (new line) payload to a text value.
fn append(value: &mut Value, conc: bool, text: &str) {
    let mut s = match std::mem::take(value) {
        Value::Text(t) => t,
        _ => String::new(),
    };
    if !conc {
        s.push('\n');
    }
    s.push_str(text);
    *value = Value::from_text(Some(s));
}

/// Finds `HEAD.CHAR` and `HEAD.GEDC.VERS` in the first bytes of the file.
fn scan_header(bytes: &[u8]) -> (Option<String>, Option<String>) {
    let mut charset = None;
    let mut vers = None;
    let mut in_gedc = false;
    let mut seen_record = false;
    for raw in bytes.split(|&b| b == b'\n' || b == b'\r') {
        let text = String::from_utf8_lossy(raw);
        let Ok(parts) = parse_line(&text) else {
            continue;
        };
        match parts.level {
            0 if seen_record => break,
            0 => seen_record = true,
            1 => {
                in_gedc = parts.tag == "GEDC";
                if parts.tag == "CHAR" && charset.is_none() {
                    charset = parts.payload.map(str::to_owned);
                }
            }
            2 if in_gedc && parts.tag == "VERS" && vers.is_none() => {
                vers = parts.payload.map(str::to_owned);
            }
            _ => {}
        }
    }
    (charset, vers)
}

/// Reads a whole file into memory; for large files prefer iterating a [`GedcomReader`].
pub fn read_gedcom<R: Read>(inner: R) -> Result<(Gedcom, Vec<Diagnostic>), ReadError> {
    read_gedcom_with(inner, ReaderOptions::default())
}

/// [`read_gedcom`] with options.
pub fn read_gedcom_with<R: Read>(
    inner: R,
    options: ReaderOptions,
) -> Result<(Gedcom, Vec<Diagnostic>), ReadError> {
    let mut reader = GedcomReader::with_options(inner, options)?;
    let mut header = None;
    let mut records = Vec::new();
    while let Some(record) = reader.next_record()? {
        match record {
            Record::Header(h) if header.is_none() => header = Some(*h),
            other => records.push(other),
        }
    }
    let diagnostics = reader.take_diagnostics();
    Ok((
        Gedcom {
            header: header.unwrap_or_else(Header::default),
            records,
        },
        diagnostics,
    ))
}
