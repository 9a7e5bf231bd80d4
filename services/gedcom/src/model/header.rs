//! The `HEAD` record: who wrote the file, for whom, and how.

use super::common::{DateStructure, NoteRef};
use super::convert::{push_text, take_pointer, take_text, take_with};
use crate::node::{Node, Value, recycle_children};
use crate::version::Version;
use crate::writer::{Emitter, ValueRef};
use serde::{Deserialize, Serialize};
use std::io::{self, Write};

/// `HEAD.SOUR`: the program that wrote the file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeaderSource {
    /// The program's registered id.
    pub system: String,
    /// `VERS`.
    pub version: Option<String>,
    /// `NAME`.
    pub name: Option<String>,
    /// Unmodelled substructures (`CORP`, `DATA`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra: Vec<Node>,
}

impl HeaderSource {
    fn from_node(node: Node) -> Result<Self, Node> {
        if node.xref.is_some() || matches!(node.value, Value::Pointer(_)) {
            return Err(node);
        }
        let mut s = Self {
            system: node.value.text().unwrap_or_default().to_owned(),
            ..Self::default()
        };
        let mut children = node.children;
        for c in children.drain(..) {
            match c.tag.as_str() {
                "VERS" => take_text(&mut s.version, c, &mut s.extra),
                "NAME" => take_text(&mut s.name, c, &mut s.extra),
                _ => s.extra.push(c),
            }
        }
        recycle_children(children);
        Ok(s)
    }
}

/// The header record.
///
/// `gedcom_version`, `gedcom_form` and `charset` record what the file said; the writer always
/// writes its own output version, form and UTF-8 instead.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// `GEDC.VERS` as read.
    pub gedcom_version: Option<String>,
    /// `GEDC.FORM` as read (5.5.1 `LINEAGE-LINKED`).
    pub gedcom_form: Option<String>,
    /// `CHAR` as read (the first one; its substructures and any repeats describe the input
    /// bytes only and are not kept).
    pub charset: Option<String>,
    /// `SOUR`.
    pub source: Option<HeaderSource>,
    /// `DEST`.
    pub destination: Option<String>,
    /// `DATE` (with `TIME`): when the file was written.
    pub date: Option<DateStructure>,
    /// `SUBM`.
    pub submitter: Option<String>,
    /// `SUBN` (5.5.1).
    pub submission: Option<String>,
    /// `FILE`: the original file name.
    pub file: Option<String>,
    /// `COPR`.
    pub copyright: Option<String>,
    /// `LANG`.
    pub language: Option<String>,
    /// `PLAC.FORM`: default place hierarchy.
    pub place_form: Option<String>,
    /// `NOTE`.
    pub note: Option<NoteRef>,
    /// 7.0 `SCHMA.TAG` payloads: `_TAG uri` declarations of extension tags.
    pub schema: Vec<String>,
    /// Unmodelled substructures of `GEDC` (5.5.5 `FORM.VERS`, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gedc_extra: Vec<Node>,
    /// Unmodelled substructures.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra: Vec<Node>,
}

impl Header {
    pub(crate) fn from_node(node: Node) -> Self {
        let mut h = Self::default();
        if node.value != Value::None || node.xref.is_some() {
            h.extra.push(Node {
                tag: "_VALUE".into(),
                value: node.value,
                ..Node::default()
            });
        }
        let extra = &mut h.extra;
        let mut children = node.children;
        for c in children.drain(..) {
            match c.tag.as_str() {
                "GEDC"
                    if h.gedcom_version.is_none() && c.xref.is_none() && c.value == Value::None =>
                {
                    for g in c.children {
                        // VERS and FORM describe the input's format; the writer writes its
                        // own, so repeats (and 5.5.5's FORM.VERS) are not kept.
                        match g.tag.as_str() {
                            "VERS" if h.gedcom_version.is_none() => {
                                h.gedcom_version = g.value.text().map(str::to_owned)
                            }
                            "FORM" if h.gedcom_form.is_none() => {
                                h.gedcom_form = g.value.text().map(str::to_owned)
                            }
                            "VERS" | "FORM" => {}
                            _ => h.gedc_extra.push(g),
                        }
                    }
                }
                // The writer always writes UTF-8 and its own CHAR, so the input's character
                // set (and its VERS) describe bytes that no longer exist; a second CHAR kept
                // as an extra would make readers decode UTF-8 output as something else.
                "CHAR" => {
                    if h.charset.is_none() {
                        h.charset = c.value.text().map(str::to_owned);
                    }
                }
                "SOUR" => take_with(&mut h.source, c, extra, HeaderSource::from_node),
                "DEST" => take_text(&mut h.destination, c, extra),
                "DATE" => take_with(&mut h.date, c, extra, DateStructure::from_node),
                "SUBM" => take_pointer(&mut h.submitter, c, extra),
                "SUBN" => take_pointer(&mut h.submission, c, extra),
                "FILE" => take_text(&mut h.file, c, extra),
                "COPR" => take_text(&mut h.copyright, c, extra),
                "LANG" => take_text(&mut h.language, c, extra),
                "PLAC"
                    if h.place_form.is_none()
                        && c.xref.is_none()
                        && c.value == Value::None
                        && c.children.len() == 1
                        && c.children[0].tag == "FORM"
                        && c.children[0].is_plain_text() =>
                {
                    h.place_form = c.children[0].value.text().map(str::to_owned);
                }
                "NOTE" | "SNOTE" => take_with(&mut h.note, c, extra, NoteRef::from_node),
                "SCHMA" if h.schema.is_empty() && c.xref.is_none() && c.value == Value::None => {
                    for t in c.children {
                        if t.tag == "TAG" {
                            push_text(&mut h.schema, t, extra);
                        } else {
                            extra.push(t);
                        }
                    }
                }
                _ => extra.push(c),
            }
        }
        recycle_children(children);
        h
    }

    /// Writes the header for `em`'s version: its own `GEDC`, and `CHAR UTF-8` in 5.5.1.
    pub(crate) fn emit<W: Write>(&self, em: &mut Emitter<W>) -> io::Result<()> {
        let version = em.version();
        em.line(0, None, "HEAD", ValueRef::None)?;
        em.empty(1, "GEDC")?;
        em.text(2, "VERS", version.vers())?;
        if version == Version::V551 {
            em.text(2, "FORM", "LINEAGE-LINKED")?;
        }
        em.nodes(2, &self.gedc_extra)?;
        if !self.schema.is_empty() {
            em.empty(1, "SCHMA")?;
            for t in &self.schema {
                em.text(2, "TAG", t)?;
            }
        }
        if version == Version::V551 {
            em.text(1, "CHAR", "UTF-8")?;
        }
        if let Some(s) = &self.source {
            em.text(1, "SOUR", &s.system)?;
            em.opt(2, "VERS", &s.version)?;
            em.opt(2, "NAME", &s.name)?;
            em.nodes(2, &s.extra)?;
        }
        em.opt(1, "DEST", &self.destination)?;
        if let Some(d) = &self.date {
            d.emit(1, em)?;
        }
        if let Some(s) = &self.submitter {
            em.pointer(1, "SUBM", s)?;
        }
        if let Some(s) = &self.submission {
            em.pointer(1, "SUBN", s)?;
        }
        em.opt(1, "FILE", &self.file)?;
        em.opt(1, "COPR", &self.copyright)?;
        em.opt(1, "LANG", &self.language)?;
        if let Some(f) = &self.place_form {
            em.empty(1, "PLAC")?;
            em.text(2, "FORM", f)?;
        }
        if let Some(n) = &self.note {
            n.emit(1, em)?;
        }
        em.nodes(1, &self.extra)
    }

    /// Sets the fields the writer controls to what it writes for `version`, so that a header
    /// read back from written output compares equal.
    pub fn normalize_for(&mut self, version: Version) {
        self.gedcom_version = Some(version.vers().to_owned());
        self.gedcom_form = (version == Version::V551).then(|| "LINEAGE-LINKED".to_owned());
        self.charset = (version == Version::V551).then(|| "UTF-8".to_owned());
    }
}
