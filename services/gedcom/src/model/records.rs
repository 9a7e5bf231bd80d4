//! Sources, repositories, shared notes, multimedia objects and submitters.

use super::common::{Address, Common, NoteRef};
use super::convert::{push_text, push_with, take_text, take_with};
use crate::node::{Node, Value, recycle_children};
use crate::version::Version;
use crate::writer::{Emitter, ValueRef};
use serde::{Deserialize, Serialize};
use std::io::{self, Write};

/// Moves a record's unexpected payload into `extra` so it is written back.
fn keep_value(value: Value, extra: &mut Vec<Node>) {
    if value != Value::None {
        extra.push(Node {
            tag: "_VALUE".into(),
            value,
            ..Node::default()
        });
    }
}

/// `REPO` inside a source: where the source is held.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepositoryCitation {
    /// The repository record, if linked.
    pub repository: Option<String>,
    /// `CALN`: call numbers.
    pub call_numbers: Vec<String>,
    /// Notes.
    pub notes: Vec<NoteRef>,
    /// Unmodelled substructures (`CALN.MEDI`, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra: Vec<Node>,
}

impl RepositoryCitation {
    fn from_node(node: Node) -> Result<Self, Node> {
        if node.xref.is_some() || matches!(node.value, Value::Text(_)) {
            return Err(node);
        }
        let mut r = Self {
            repository: node.value.pointer().map(str::to_owned),
            ..Self::default()
        };
        let mut children = node.children;
        for c in children.drain(..) {
            match c.tag.as_str() {
                "CALN" => push_text(&mut r.call_numbers, c, &mut r.extra),
                "NOTE" | "SNOTE" => push_with(&mut r.notes, c, &mut r.extra, NoteRef::from_node),
                _ => r.extra.push(c),
            }
        }
        recycle_children(children);
        Ok(r)
    }

    fn emit<W: Write>(&self, level: usize, em: &mut Emitter<W>) -> io::Result<()> {
        match &self.repository {
            Some(p) => em.pointer(level, "REPO", p)?,
            None => em.empty(level, "REPO")?,
        }
        for c in &self.call_numbers {
            em.text(level + 1, "CALN", c)?;
        }
        for n in &self.notes {
            n.emit(level + 1, em)?;
        }
        em.nodes(level + 1, &self.extra)
    }
}

/// A source record: a book, register, census, web page, ...
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    /// The record's cross-reference id, without `@`s.
    pub xref: Option<String>,
    /// `TITL`.
    pub title: Option<String>,
    /// `AUTH`.
    pub author: Option<String>,
    /// `PUBL`: publication facts.
    pub publication: Option<String>,
    /// `ABBR`: short title.
    pub abbreviation: Option<String>,
    /// `TEXT`: a transcription.
    pub text: Option<String>,
    /// Where it is held.
    pub repositories: Vec<RepositoryCitation>,
    /// Ids, notes, media, change dates.
    pub common: Common,
    /// Unmodelled substructures (`DATA` with `EVEN`/`AGNC`, vendor tags).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra: Vec<Node>,
}

impl Source {
    pub(crate) fn from_node(node: Node) -> Self {
        let mut s = Self {
            xref: node.xref,
            ..Self::default()
        };
        keep_value(node.value, &mut s.extra);
        let extra = &mut s.extra;
        let mut children = node.children;
        for c in children.drain(..) {
            match c.tag.as_str() {
                "TITL" => take_text(&mut s.title, c, extra),
                "AUTH" => take_text(&mut s.author, c, extra),
                "PUBL" => take_text(&mut s.publication, c, extra),
                "ABBR" => take_text(&mut s.abbreviation, c, extra),
                "TEXT" => take_text(&mut s.text, c, extra),
                "REPO" => push_with(&mut s.repositories, c, extra, RepositoryCitation::from_node),
                _ => {
                    if let Some(c) = s.common.accept(c, extra) {
                        extra.push(c);
                    }
                }
            }
        }
        recycle_children(children);
        s
    }

    pub(crate) fn emit<W: Write>(&self, xref: Option<&str>, em: &mut Emitter<W>) -> io::Result<()> {
        em.line(0, xref, "SOUR", ValueRef::None)?;
        em.opt(1, "TITL", &self.title)?;
        em.opt(1, "AUTH", &self.author)?;
        em.opt(1, "PUBL", &self.publication)?;
        em.opt(1, "ABBR", &self.abbreviation)?;
        em.opt(1, "TEXT", &self.text)?;
        for r in &self.repositories {
            r.emit(1, em)?;
        }
        self.common.emit(1, em)?;
        em.nodes(1, &self.extra)
    }
}

/// A repository record: an archive, library or person holding sources.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Repository {
    /// The record's cross-reference id, without `@`s.
    pub xref: Option<String>,
    /// `NAME`.
    pub name: Option<String>,
    /// `ADDR`.
    pub address: Option<Address>,
    /// `PHON`.
    pub phones: Vec<String>,
    /// `EMAIL`.
    pub emails: Vec<String>,
    /// `WWW`.
    pub websites: Vec<String>,
    /// Ids, notes, change dates.
    pub common: Common,
    /// Unmodelled substructures.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra: Vec<Node>,
}

impl Repository {
    pub(crate) fn from_node(node: Node) -> Self {
        let mut r = Self {
            xref: node.xref,
            ..Self::default()
        };
        keep_value(node.value, &mut r.extra);
        let extra = &mut r.extra;
        let mut children = node.children;
        for c in children.drain(..) {
            match c.tag.as_str() {
                "NAME" => take_text(&mut r.name, c, extra),
                "ADDR" => take_with(&mut r.address, c, extra, Address::from_node),
                "PHON" => push_text(&mut r.phones, c, extra),
                "EMAIL" => push_text(&mut r.emails, c, extra),
                "WWW" => push_text(&mut r.websites, c, extra),
                _ => {
                    if let Some(c) = r.common.accept(c, extra) {
                        extra.push(c);
                    }
                }
            }
        }
        recycle_children(children);
        r
    }

    pub(crate) fn emit<W: Write>(&self, xref: Option<&str>, em: &mut Emitter<W>) -> io::Result<()> {
        em.line(0, xref, "REPO", ValueRef::None)?;
        em.opt(1, "NAME", &self.name)?;
        if let Some(a) = &self.address {
            a.emit(1, em)?;
        }
        for p in &self.phones {
            em.text(1, "PHON", p)?;
        }
        for e in &self.emails {
            em.text(1, "EMAIL", e)?;
        }
        for w in &self.websites {
            em.text(1, "WWW", w)?;
        }
        self.common.emit(1, em)?;
        em.nodes(1, &self.extra)
    }
}

/// A shared note record (5.5.1 `0 @N1@ NOTE text`, 7.0 `0 @N1@ SNOTE text`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoteRecord {
    /// The record's cross-reference id, without `@`s.
    pub xref: Option<String>,
    /// The note's text (lines separated by `\n`).
    pub text: String,
    /// 7.0 `MIME`: text/plain or text/html.
    pub mime: Option<String>,
    /// 7.0 `LANG`.
    pub language: Option<String>,
    /// Ids, citations, change dates.
    pub common: Common,
    /// Unmodelled substructures (`TRAN`, vendor tags).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra: Vec<Node>,
}

impl NoteRecord {
    pub(crate) fn from_node(node: Node) -> Self {
        let mut n = Self {
            xref: node.xref,
            ..Self::default()
        };
        match node.value {
            Value::Text(t) => n.text = t,
            Value::None => {}
            v @ Value::Pointer(_) => keep_value(v, &mut n.extra),
        }
        let extra = &mut n.extra;
        let mut children = node.children;
        for c in children.drain(..) {
            match c.tag.as_str() {
                "MIME" => take_text(&mut n.mime, c, extra),
                "LANG" => take_text(&mut n.language, c, extra),
                _ => {
                    if let Some(c) = n.common.accept(c, extra) {
                        extra.push(c);
                    }
                }
            }
        }
        recycle_children(children);
        n
    }

    pub(crate) fn emit<W: Write>(&self, xref: Option<&str>, em: &mut Emitter<W>) -> io::Result<()> {
        let tag = if em.version() == Version::V70 {
            "SNOTE"
        } else {
            "NOTE"
        };
        em.line(0, xref, tag, ValueRef::text(&self.text))?;
        em.opt(1, "MIME", &self.mime)?;
        em.opt(1, "LANG", &self.language)?;
        self.common.emit(1, em)?;
        em.nodes(1, &self.extra)
    }
}

/// One file of a multimedia record.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaFile {
    /// `FILE`: path or URL.
    pub path: String,
    /// `FORM`: format such as `jpg` (5.5.1) or `image/jpeg` (7.0).
    pub format: Option<String>,
    /// `FORM.TYPE` (5.5.1) or `FORM.MEDI` (7.0): photo, document, audio, ...
    pub media_type: Option<String>,
    /// `TITL`.
    pub title: Option<String>,
    /// Unmodelled substructures.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra: Vec<Node>,
}

impl MediaFile {
    fn from_node(node: Node) -> Result<Self, Node> {
        if node.xref.is_some() || matches!(node.value, Value::Pointer(_)) {
            return Err(node);
        }
        let mut f = Self {
            path: node.value.text().unwrap_or_default().to_owned(),
            ..Self::default()
        };
        let mut children = node.children;
        for c in children.drain(..) {
            match c.tag.as_str() {
                "FORM"
                    if f.format.is_none()
                        && c.xref.is_none()
                        && matches!(c.value, Value::Text(_))
                        && c.children.len() <= 1
                        && c.children
                            .iter()
                            .all(|t| (t.tag == "TYPE" || t.tag == "MEDI") && t.is_plain_text()) =>
                {
                    f.format = c.value.text().map(str::to_owned);
                    f.media_type = c
                        .children
                        .first()
                        .and_then(|t| t.value.text())
                        .map(str::to_owned);
                }
                "TITL" => take_text(&mut f.title, c, &mut f.extra),
                _ => f.extra.push(c),
            }
        }
        recycle_children(children);
        Ok(f)
    }

    fn emit<W: Write>(&self, level: usize, em: &mut Emitter<W>) -> io::Result<()> {
        em.text(level, "FILE", &self.path)?;
        if let Some(form) = &self.format {
            em.text(level + 1, "FORM", form)?;
            let medi = if em.version() == Version::V70 {
                "MEDI"
            } else {
                "TYPE"
            };
            em.opt(level + 2, medi, &self.media_type)?;
        }
        em.opt(level + 1, "TITL", &self.title)?;
        em.nodes(level + 1, &self.extra)
    }
}

/// A multimedia object record.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Multimedia {
    /// The record's cross-reference id, without `@`s.
    pub xref: Option<String>,
    /// `RESN`.
    pub restriction: Option<String>,
    /// The files.
    pub files: Vec<MediaFile>,
    /// Ids, notes, citations, change dates.
    pub common: Common,
    /// Unmodelled substructures (5.5 `BLOB`, `FORM`/`TITL` at record level, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra: Vec<Node>,
}

impl Multimedia {
    pub(crate) fn from_node(node: Node) -> Self {
        let mut m = Self {
            xref: node.xref,
            ..Self::default()
        };
        keep_value(node.value, &mut m.extra);
        let extra = &mut m.extra;
        let mut children = node.children;
        for c in children.drain(..) {
            match c.tag.as_str() {
                "RESN" => take_text(&mut m.restriction, c, extra),
                "FILE" => push_with(&mut m.files, c, extra, MediaFile::from_node),
                _ => {
                    if let Some(c) = m.common.accept(c, extra) {
                        extra.push(c);
                    }
                }
            }
        }
        recycle_children(children);
        m
    }

    pub(crate) fn emit<W: Write>(&self, xref: Option<&str>, em: &mut Emitter<W>) -> io::Result<()> {
        em.line(0, xref, "OBJE", ValueRef::None)?;
        em.opt(1, "RESN", &self.restriction)?;
        for f in &self.files {
            f.emit(1, em)?;
        }
        self.common.emit(1, em)?;
        em.nodes(1, &self.extra)
    }
}

/// A submitter record: who contributed the data.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Submitter {
    /// The record's cross-reference id, without `@`s.
    pub xref: Option<String>,
    /// `NAME`.
    pub name: Option<String>,
    /// `ADDR`.
    pub address: Option<Address>,
    /// `PHON`.
    pub phones: Vec<String>,
    /// `EMAIL`.
    pub emails: Vec<String>,
    /// `WWW`.
    pub websites: Vec<String>,
    /// `LANG`: preferred languages.
    pub languages: Vec<String>,
    /// Ids, notes, media, change dates.
    pub common: Common,
    /// Unmodelled substructures.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra: Vec<Node>,
}

impl Submitter {
    pub(crate) fn from_node(node: Node) -> Self {
        let mut s = Self {
            xref: node.xref,
            ..Self::default()
        };
        keep_value(node.value, &mut s.extra);
        let extra = &mut s.extra;
        let mut children = node.children;
        for c in children.drain(..) {
            match c.tag.as_str() {
                "NAME" => take_text(&mut s.name, c, extra),
                "ADDR" => take_with(&mut s.address, c, extra, Address::from_node),
                "PHON" => push_text(&mut s.phones, c, extra),
                "EMAIL" => push_text(&mut s.emails, c, extra),
                "WWW" => push_text(&mut s.websites, c, extra),
                "LANG" => push_text(&mut s.languages, c, extra),
                _ => {
                    if let Some(c) = s.common.accept(c, extra) {
                        extra.push(c);
                    }
                }
            }
        }
        recycle_children(children);
        s
    }

    pub(crate) fn emit<W: Write>(&self, xref: Option<&str>, em: &mut Emitter<W>) -> io::Result<()> {
        em.line(0, xref, "SUBM", ValueRef::None)?;
        em.opt(1, "NAME", &self.name)?;
        if let Some(a) = &self.address {
            a.emit(1, em)?;
        }
        for p in &self.phones {
            em.text(1, "PHON", p)?;
        }
        for e in &self.emails {
            em.text(1, "EMAIL", e)?;
        }
        for w in &self.websites {
            em.text(1, "WWW", w)?;
        }
        for l in &self.languages {
            em.text(1, "LANG", l)?;
        }
        self.common.emit(1, em)?;
        em.nodes(1, &self.extra)
    }
}
