//! Validation beyond what reading needs: pointers, dates, enumerations and unknown tags.
//!
//! Works on the generic trees from [`GedcomReader::next_node`](crate::GedcomReader::next_node),
//! which keep line numbers, one record at a time. Pointer checks need every xref, so memory
//! grows with the number of records (not with their size).

use crate::date::GenDate;
use crate::diagnostic::{Diagnostic, Severity};
use crate::node::{Node, Value};
use crate::reader::{EncodingSource, GedcomReader, ReadError, ReaderOptions};
use crate::version::Version;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::io::Read;

/// Standard tags of 5.5.1 and 7.0; anything else without a leading underscore is suspicious.
const KNOWN_TAGS: &[&str] = &[
    "ABBR", "ADDR", "ADOP", "ADR1", "ADR2", "ADR3", "AFN", "AGE", "AGNC", "ALIA", "ANCE", "ANCI",
    "ANUL", "ASSO", "AUTH", "BAPL", "BAPM", "BARM", "BASM", "BIRT", "BLES", "BLOB", "BURI", "CALN",
    "CAST", "CAUS", "CENS", "CHAN", "CHAR", "CHIL", "CHR", "CHRA", "CITY", "CONC", "CONF", "CONL",
    "CONT", "COPR", "CORP", "CREA", "CREM", "CROP", "CTRY", "DATA", "DATE", "DEAT", "DESC", "DESI",
    "DEST", "DIV", "DIVF", "DSCR", "EDUC", "EMAIL", "EMIG", "ENDL", "ENGA", "EVEN", "EXID", "FACT",
    "FAM", "FAMC", "FAMF", "FAMS", "FAX", "FCOM", "FILE", "FONE", "FORM", "GEDC", "GIVN", "GRAD",
    "HEAD", "HEIGHT", "HUSB", "IDNO", "IMMI", "INDI", "INIL", "LANG", "LATI", "LEFT", "LONG",
    "MAP", "MARB", "MARC", "MARL", "MARR", "MARS", "MEDI", "MIME", "NAME", "NATI", "NATU", "NCHI",
    "NICK", "NMR", "NO", "NOTE", "NPFX", "NSFX", "OBJE", "OCCU", "ORDI", "ORDN", "PAGE", "PEDI",
    "PHON", "PHRASE", "PLAC", "POST", "PROB", "PROP", "PUBL", "QUAY", "REFN", "RELA", "RELI",
    "REPO", "RESI", "RESN", "RETI", "RFN", "RIN", "ROLE", "ROMN", "SCHMA", "SDATE", "SEX", "SLGC",
    "SLGS", "SNOTE", "SOUR", "SPFX", "SSN", "STAE", "STAT", "SUBM", "SUBN", "SURN", "TAG", "TEMP",
    "TEXT", "TIME", "TITL", "TOP", "TRAN", "TRLR", "TYPE", "UID", "VERS", "WIDTH", "WIFE", "WILL",
    "WWW",
];

/// Which record tags a pointer under a given tag may point to.
fn expected_targets(tag: &str) -> Option<&'static [&'static str]> {
    Some(match tag {
        "FAMC" | "FAMS" => &["FAM"],
        "CHIL" | "HUSB" | "WIFE" | "ASSO" | "ALIA" => &["INDI"],
        "SOUR" => &["SOUR"],
        "REPO" => &["REPO"],
        "OBJE" => &["OBJE"],
        "NOTE" | "SNOTE" => &["NOTE", "SNOTE"],
        "SUBM" => &["SUBM"],
        "SUBN" => &["SUBN"],
        _ => return None,
    })
}

/// What `dzinza gedcom check` reports.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    /// The encoding the file was read in.
    pub encoding: String,
    /// How that encoding was chosen.
    pub encoding_source: Option<EncodingSource>,
    /// The version rules used.
    pub version: Option<Version>,
    /// Level-0 records per tag (HEAD included, TRLR not).
    pub counts: BTreeMap<String, u64>,
    /// Every diagnostic, reader's and validator's, in line order.
    pub diagnostics: Vec<Diagnostic>,
    /// Diagnostics per severity.
    pub errors: usize,
    /// Diagnostics per severity.
    pub warnings: usize,
    /// Diagnostics per severity.
    pub infos: usize,
}

impl Report {
    /// Whether the file has errors (what makes `check` exit non-zero).
    pub fn has_errors(&self) -> bool {
        self.errors > 0
    }
}

/// Collects what one pass over the records needs for cross-record checks.
#[derive(Debug, Default)]
pub struct Validator {
    version: Version,
    defined: HashMap<String, (String, u64)>,
    references: Vec<(String, String, u64)>,
    counts: BTreeMap<String, u64>,
    diagnostics: Vec<Diagnostic>,
    per_code: BTreeMap<&'static str, usize>,
    raised: [usize; 3],
}

/// Diagnostics kept per code; the rest are counted, so huge files cannot exhaust memory.
const MAX_PER_CODE: usize = 1000;

impl Validator {
    fn push(&mut self, d: Diagnostic) {
        self.raised[d.severity as usize] += 1;
        let n = self.per_code.entry(d.code).or_insert(0);
        *n += 1;
        if *n <= MAX_PER_CODE {
            self.diagnostics.push(d);
        }
    }

    /// A validator for files of the given version.
    pub fn new(version: Version) -> Self {
        Self {
            version,
            ..Self::default()
        }
    }

    /// Checks one level-0 record.
    pub fn visit(&mut self, record: &Node) {
        *self.counts.entry(record.tag.to_string()).or_insert(0) += 1;
        if let Some(x) = &record.xref {
            if let Some((_, first)) = self.defined.get(x) {
                self.push(Diagnostic::at(
                    record.line,
                    Severity::Error,
                    "duplicate-xref",
                    format!("@{x}@ is already defined on line {first}"),
                ));
            } else {
                self.defined
                    .insert(x.clone(), (record.tag.to_string(), record.line));
            }
        } else if self.version == Version::V551
            && matches!(
                record.tag.as_str(),
                "INDI" | "FAM" | "SOUR" | "REPO" | "OBJE" | "SUBM" | "NOTE"
            )
        {
            self.push(Diagnostic::at(
                record.line,
                Severity::Warning,
                "missing-xref",
                format!("{} record without a cross-reference id", record.tag),
            ));
        }
        let mut stack: Vec<(&Node, usize)> = record.children.iter().map(|c| (c, 1)).collect();
        self.check_tag(record, 0);
        while let Some((node, depth)) = stack.pop() {
            self.check_node(node, depth);
            stack.extend(node.children.iter().map(|c| (c, depth + 1)));
        }
    }

    fn check_tag(&mut self, node: &Node, depth: usize) {
        let tag = node.tag.as_str();
        if !tag.starts_with('_') && !KNOWN_TAGS.contains(&tag) {
            self.push(Diagnostic::at(
                node.line,
                Severity::Warning,
                "unknown-tag",
                format!("{tag} at level {depth} is not a standard tag; kept as is"),
            ));
        }
    }

    fn check_node(&mut self, node: &Node, depth: usize) {
        self.check_tag(node, depth);
        match &node.value {
            Value::Pointer(p) if p != "VOID" => {
                self.references
                    .push((p.clone(), node.tag.to_string(), node.line));
            }
            Value::Text(t) if node.tag == "DATE" && !GenDate::parse(t).is_valid() => {
                self.push(Diagnostic::at(
                    node.line,
                    Severity::Warning,
                    "invalid-date",
                    format!("{t:?} is not a valid GEDCOM date; kept as text"),
                ));
            }
            Value::Text(t)
                if node.tag == "SEX"
                    && depth == 1
                    && !matches!(t.as_str(), "M" | "F" | "U" | "X") =>
            {
                self.push(Diagnostic::at(
                    node.line,
                    Severity::Warning,
                    "invalid-sex",
                    format!("SEX {t:?} is not one of M, F, U, X"),
                ));
            }
            _ => {}
        }
    }

    /// Resolves pointers; returns record counts, the listed diagnostics, and how many of each
    /// severity were raised in all, listed or not (`[info, warning, error]`).
    pub fn finish(mut self) -> (BTreeMap<String, u64>, Vec<Diagnostic>, [usize; 3]) {
        for (target, tag, line) in std::mem::take(&mut self.references) {
            match self.defined.get(&target) {
                None => self.push(Diagnostic::at(
                    line,
                    Severity::Error,
                    "dangling-pointer",
                    format!("{tag} points to @{target}@, which is not defined"),
                )),
                Some((kind, _)) => {
                    if let Some(expected) = expected_targets(&tag)
                        && !expected.contains(&kind.as_str())
                    {
                        self.push(Diagnostic::at(
                            line,
                            Severity::Warning,
                            "pointer-type",
                            format!("{tag} points to @{target}@, a {kind} record"),
                        ));
                    }
                }
            }
        }
        for (code, n) in std::mem::take(&mut self.per_code) {
            if n > MAX_PER_CODE {
                self.diagnostics.push(Diagnostic::file(
                    Severity::Info,
                    "suppressed",
                    format!("{} more `{code}` diagnostics not listed", n - MAX_PER_CODE),
                ));
            }
        }
        (self.counts, self.diagnostics, self.raised)
    }
}

/// Reads and validates a whole stream; `on_record` is called after each record with the
/// bytes read so far (for progress bars).
pub fn check<R: Read>(
    input: R,
    options: ReaderOptions,
    mut on_record: impl FnMut(u64),
) -> Result<Report, ReadError> {
    let mut reader = GedcomReader::with_options(input, options)?;
    let mut validator = Validator::new(reader.version());
    let mut diagnostics = Vec::new();
    while let Some(node) = reader.next_node()? {
        validator.visit(&node);
        diagnostics.append(&mut reader.take_diagnostics());
        on_record(reader.bytes_read());
    }
    diagnostics.append(&mut reader.take_diagnostics());
    let (reader_errors, reader_warnings, reader_infos) = reader.raised();
    let (counts, mut more, totals) = validator.finish();
    diagnostics.append(&mut more);
    diagnostics.sort_by_key(|d| d.line.unwrap_or(0));
    Ok(Report {
        encoding: reader.encoding().name().to_owned(),
        encoding_source: Some(reader.encoding_source()),
        version: Some(reader.version()),
        counts,
        errors: reader_errors + totals[2],
        warnings: reader_warnings + totals[1],
        infos: reader_infos + totals[0],
        diagnostics,
    })
}
