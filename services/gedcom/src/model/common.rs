//! Substructures shared by many records: notes, citations, media links, dates, places,
//! addresses, change dates and the identifiers every record may carry.

use super::convert::{push_text, push_with, take_text, take_with};
use crate::date::{DateValue, GenDate};
use crate::node::{Node, Value, recycle_children};
use crate::version::Version;
use crate::writer::Emitter;
use serde::{Deserialize, Serialize};
use std::io::{self, Write};

/// Where a note's text lives.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoteTarget {
    /// Text written in place (`NOTE text`).
    Inline(String),
    /// A pointer to a shared note record (5.5.1 `NOTE @N1@`, 7.0 `SNOTE @N1@`).
    Shared(String),
}

/// A note attached to a structure.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoteRef {
    /// The text or the shared note it points to.
    pub target: NoteTarget,
    /// Unmodelled substructures (7.0 `MIME`, `LANG`, `TRAN`, citations on notes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra: Vec<Node>,
}

impl NoteRef {
    pub(crate) fn from_node(node: Node) -> Result<Self, Node> {
        if node.xref.is_some() {
            return Err(node);
        }
        let fits = match &node.value {
            Value::Pointer(_) => node.tag == "NOTE" || node.tag == "SNOTE",
            Value::Text(_) | Value::None => node.tag == "NOTE",
        };
        if !fits {
            return Err(node);
        }
        let target = match node.value {
            Value::Pointer(p) => NoteTarget::Shared(p),
            Value::Text(t) => NoteTarget::Inline(t),
            Value::None => NoteTarget::Inline(String::new()),
        };
        Ok(Self {
            target,
            extra: node.children,
        })
    }

    pub(crate) fn emit<W: Write>(&self, level: usize, em: &mut Emitter<W>) -> io::Result<()> {
        match &self.target {
            NoteTarget::Inline(t) => em.text(level, "NOTE", t)?,
            NoteTarget::Shared(p) => {
                let tag = if em.version() == Version::V70 {
                    "SNOTE"
                } else {
                    "NOTE"
                };
                em.pointer(level, tag, p)?;
            }
        }
        em.nodes(level + 1, &self.extra)
    }
}

/// `DATA` of a source citation: when the entry was recorded and its text.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CitationData {
    /// `DATE`.
    pub date: Option<DateStructure>,
    /// `TEXT`, one per occurrence.
    pub texts: Vec<String>,
    /// Unmodelled substructures.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra: Vec<Node>,
}

impl CitationData {
    fn from_node(node: Node) -> Result<Self, Node> {
        if node.xref.is_some() || node.value != Value::None {
            return Err(node);
        }
        let mut d = Self::default();
        let mut children = node.children;
        for c in children.drain(..) {
            match c.tag.as_str() {
                "DATE" => take_with(&mut d.date, c, &mut d.extra, DateStructure::from_node),
                "TEXT" => push_text(&mut d.texts, c, &mut d.extra),
                _ => d.extra.push(c),
            }
        }
        recycle_children(children);
        Ok(d)
    }

    fn emit<W: Write>(&self, level: usize, em: &mut Emitter<W>) -> io::Result<()> {
        em.empty(level, "DATA")?;
        if let Some(d) = &self.date {
            d.emit(level + 1, em)?;
        }
        for t in &self.texts {
            em.text(level + 1, "TEXT", t)?;
        }
        em.nodes(level + 1, &self.extra)
    }
}

/// A source citation (`SOUR`), pointing to a source record or (5.5.1) describing one inline.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Citation {
    /// The cited source record.
    pub source: Option<String>,
    /// 5.5.1 inline description, when there is no source record.
    pub description: Option<String>,
    /// `PAGE`: where in the source.
    pub page: Option<String>,
    /// `EVEN`: the event type the source records.
    pub event: Option<String>,
    /// `EVEN.ROLE`: the person's role in that event.
    pub role: Option<String>,
    /// `DATA` (boxed: rare and large).
    pub data: Option<Box<CitationData>>,
    /// `QUAY`: 0 (unreliable) to 3 (primary evidence).
    pub quality: Option<String>,
    /// Notes.
    pub notes: Vec<NoteRef>,
    /// Media links.
    pub media: Vec<MediaLink>,
    /// Unmodelled substructures.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra: Vec<Node>,
}

impl Citation {
    pub(crate) fn from_node(node: Node) -> Result<Self, Node> {
        if node.xref.is_some() {
            return Err(node);
        }
        let mut c = Self::default();
        match node.value {
            Value::Pointer(p) => c.source = Some(p),
            Value::Text(t) => c.description = Some(t),
            Value::None => {}
        }
        let mut children = node.children;
        for ch in children.drain(..) {
            match ch.tag.as_str() {
                "PAGE" => take_text(&mut c.page, ch, &mut c.extra),
                "EVEN" if c.event.is_none() && ch.xref.is_none() => {
                    let ok = matches!(ch.value, Value::Text(_))
                        && ch
                            .children
                            .iter()
                            .all(|r| r.tag == "ROLE" && r.is_plain_text())
                        && ch.children.len() <= 1;
                    if ok {
                        c.event = ch.value.into_text();
                        c.role = ch
                            .children
                            .into_iter()
                            .next()
                            .and_then(|r| r.value.into_text());
                    } else {
                        c.extra.push(ch);
                    }
                }
                "DATA" => take_with(&mut c.data, ch, &mut c.extra, |n| {
                    CitationData::from_node(n).map(Box::new)
                }),
                "QUAY" => take_text(&mut c.quality, ch, &mut c.extra),
                "NOTE" | "SNOTE" => push_with(&mut c.notes, ch, &mut c.extra, NoteRef::from_node),
                "OBJE" => push_with(&mut c.media, ch, &mut c.extra, MediaLink::from_node),
                _ => c.extra.push(ch),
            }
        }
        recycle_children(children);
        Ok(c)
    }

    pub(crate) fn emit<W: Write>(&self, level: usize, em: &mut Emitter<W>) -> io::Result<()> {
        match (&self.source, &self.description) {
            (Some(p), _) => em.pointer(level, "SOUR", p)?,
            (None, Some(t)) => em.text(level, "SOUR", t)?,
            (None, None) => em.empty(level, "SOUR")?,
        }
        // A pointer citation that also had text cannot be written as both; keep the text as
        // a substructure rather than drop it.
        if let (Some(_), Some(t)) = (&self.source, &self.description) {
            em.text(level + 1, "_TEXT", t)?;
        }
        em.opt(level + 1, "PAGE", &self.page)?;
        if let Some(e) = &self.event {
            em.text(level + 1, "EVEN", e)?;
            em.opt(level + 2, "ROLE", &self.role)?;
        }
        if let Some(d) = &self.data {
            d.emit(level + 1, em)?;
        }
        em.opt(level + 1, "QUAY", &self.quality)?;
        for n in &self.notes {
            n.emit(level + 1, em)?;
        }
        for m in &self.media {
            m.emit(level + 1, em)?;
        }
        em.nodes(level + 1, &self.extra)
    }
}

/// A link to a multimedia record (`OBJE @O1@`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaLink {
    /// The multimedia record.
    pub target: String,
    /// Unmodelled substructures (7.0 `CROP`, `TITL`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra: Vec<Node>,
}

impl MediaLink {
    pub(crate) fn from_node(node: Node) -> Result<Self, Node> {
        if node.xref.is_some() {
            return Err(node);
        }
        match node.value {
            Value::Pointer(target) => Ok(Self {
                target,
                extra: node.children,
            }),
            value => Err(Node { value, ..node }),
        }
    }

    pub(crate) fn emit<W: Write>(&self, level: usize, em: &mut Emitter<W>) -> io::Result<()> {
        em.pointer(level, "OBJE", &self.target)?;
        em.nodes(level + 1, &self.extra)
    }
}

/// A `DATE` with its time (in headers and change dates) and 7.0 phrase.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DateStructure {
    /// The date.
    pub date: GenDate,
    /// `TIME`.
    pub time: Option<String>,
    /// 7.0 `PHRASE`: the date as the source worded it.
    pub phrase: Option<String>,
    /// Unmodelled substructures.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra: Vec<Node>,
}

impl DateStructure {
    pub(crate) fn from_node(node: Node) -> Result<Self, Node> {
        if node.xref.is_some() || matches!(node.value, Value::Pointer(_)) {
            return Err(node);
        }
        let text = match node.value {
            Value::Text(t) => t,
            _ => String::new(),
        };
        let mut d = Self {
            date: GenDate::parse_owned(text),
            ..Self::default()
        };
        let mut children = node.children;
        for c in children.drain(..) {
            match c.tag.as_str() {
                "TIME" => take_text(&mut d.time, c, &mut d.extra),
                "PHRASE" => take_text(&mut d.phrase, c, &mut d.extra),
                _ => d.extra.push(c),
            }
        }
        recycle_children(children);
        Ok(d)
    }

    pub(crate) fn emit<W: Write>(&self, level: usize, em: &mut Emitter<W>) -> io::Result<()> {
        let version = em.version();
        let mut phrase = self.phrase.clone();
        let mut text = self.date.text_for(version);
        match (version, self.date.value(), &self.phrase) {
            // 7.0 has no INT or (phrase) forms: the wording moves to PHRASE.
            (
                Version::V70,
                DateValue::Interpreted { phrase: p, .. } | DateValue::Phrase { phrase: p },
                None,
            ) => {
                phrase = Some(p.clone());
            }
            // 5.5.1 has no PHRASE: fold it back into INT / (phrase) where the grammar allows.
            (Version::V551, DateValue::Exact { .. }, Some(p)) => {
                text = format!("INT {text} ({p})");
                phrase = None;
            }
            (Version::V551, DateValue::Empty, Some(p)) => {
                text = format!("({p})");
                phrase = None;
            }
            _ => {}
        }
        em.line(level, None, "DATE", crate::writer::ValueRef::text(&text))?;
        em.opt(level + 1, "TIME", &self.time)?;
        em.opt(level + 1, "PHRASE", &phrase)?;
        em.nodes(level + 1, &self.extra)
    }
}

/// A place name with its coordinates.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Place {
    /// The jurisdictions, smallest first, comma-separated as written.
    pub name: Option<String>,
    /// `FORM`: what each jurisdiction is.
    pub form: Option<String>,
    /// `MAP.LATI`, e.g. `N18.150944`.
    pub latitude: Option<String>,
    /// `MAP.LONG`, e.g. `E168.150944`.
    pub longitude: Option<String>,
    /// Notes.
    pub notes: Vec<NoteRef>,
    /// Unmodelled substructures.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra: Vec<Node>,
}

impl Place {
    pub(crate) fn from_node(node: Node) -> Result<Self, Node> {
        if node.xref.is_some() || matches!(node.value, Value::Pointer(_)) {
            return Err(node);
        }
        let mut p = Self {
            name: node.value.into_text(),
            ..Self::default()
        };
        let mut children = node.children;
        for c in children.drain(..) {
            match c.tag.as_str() {
                "FORM" => take_text(&mut p.form, c, &mut p.extra),
                "MAP"
                    if p.latitude.is_none()
                        && c.xref.is_none()
                        && c.value == Value::None
                        && c.children.len() == 2
                        && c.children[0].tag == "LATI"
                        && c.children[1].tag == "LONG"
                        && c.children.iter().all(Node::is_plain_text) =>
                {
                    let mut coordinates = c.children.into_iter().map(|n| n.value.into_text());
                    p.latitude = coordinates.next().flatten();
                    p.longitude = coordinates.next().flatten();
                }
                "NOTE" | "SNOTE" => push_with(&mut p.notes, c, &mut p.extra, NoteRef::from_node),
                _ => p.extra.push(c),
            }
        }
        recycle_children(children);
        Ok(p)
    }

    pub(crate) fn emit<W: Write>(&self, level: usize, em: &mut Emitter<W>) -> io::Result<()> {
        em.line(
            level,
            None,
            "PLAC",
            crate::writer::ValueRef::opt(&self.name),
        )?;
        em.opt(level + 1, "FORM", &self.form)?;
        if let (Some(la), Some(lo)) = (&self.latitude, &self.longitude) {
            em.empty(level + 1, "MAP")?;
            em.text(level + 2, "LATI", la)?;
            em.text(level + 2, "LONG", lo)?;
        }
        for n in &self.notes {
            n.emit(level + 1, em)?;
        }
        em.nodes(level + 1, &self.extra)
    }
}

/// A postal address.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    /// The whole address as lines of text.
    pub text: Option<String>,
    /// `ADR1`.
    pub line1: Option<String>,
    /// `ADR2`.
    pub line2: Option<String>,
    /// `ADR3`.
    pub line3: Option<String>,
    /// `CITY`.
    pub city: Option<String>,
    /// `STAE`.
    pub state: Option<String>,
    /// `POST`.
    pub postal_code: Option<String>,
    /// `CTRY`.
    pub country: Option<String>,
    /// Unmodelled substructures.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra: Vec<Node>,
}

impl Address {
    pub(crate) fn from_node(node: Node) -> Result<Self, Node> {
        if node.xref.is_some() || matches!(node.value, Value::Pointer(_)) {
            return Err(node);
        }
        let mut a = Self {
            text: node.value.into_text(),
            ..Self::default()
        };
        let mut children = node.children;
        for c in children.drain(..) {
            let slot = match c.tag.as_str() {
                "ADR1" => &mut a.line1,
                "ADR2" => &mut a.line2,
                "ADR3" => &mut a.line3,
                "CITY" => &mut a.city,
                "STAE" => &mut a.state,
                "POST" => &mut a.postal_code,
                "CTRY" => &mut a.country,
                _ => {
                    a.extra.push(c);
                    continue;
                }
            };
            take_text(slot, c, &mut a.extra);
        }
        recycle_children(children);
        Ok(a)
    }

    pub(crate) fn emit<W: Write>(&self, level: usize, em: &mut Emitter<W>) -> io::Result<()> {
        em.line(
            level,
            None,
            "ADDR",
            crate::writer::ValueRef::opt(&self.text),
        )?;
        em.opt(level + 1, "ADR1", &self.line1)?;
        em.opt(level + 1, "ADR2", &self.line2)?;
        em.opt(level + 1, "ADR3", &self.line3)?;
        em.opt(level + 1, "CITY", &self.city)?;
        em.opt(level + 1, "STAE", &self.state)?;
        em.opt(level + 1, "POST", &self.postal_code)?;
        em.opt(level + 1, "CTRY", &self.country)?;
        em.nodes(level + 1, &self.extra)
    }
}

/// `CHAN` or 7.0 `CREA`: when a record was changed or created.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeDate {
    /// `DATE` with `TIME`.
    pub date: Option<DateStructure>,
    /// Notes.
    pub notes: Vec<NoteRef>,
    /// Unmodelled substructures.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra: Vec<Node>,
}

impl ChangeDate {
    pub(crate) fn from_node(node: Node) -> Result<Self, Node> {
        if node.xref.is_some() || node.value != Value::None {
            return Err(node);
        }
        let mut c = Self::default();
        let mut children = node.children;
        for ch in children.drain(..) {
            match ch.tag.as_str() {
                "DATE" => take_with(&mut c.date, ch, &mut c.extra, DateStructure::from_node),
                "NOTE" | "SNOTE" => push_with(&mut c.notes, ch, &mut c.extra, NoteRef::from_node),
                _ => c.extra.push(ch),
            }
        }
        recycle_children(children);
        Ok(c)
    }

    pub(crate) fn emit<W: Write>(
        &self,
        level: usize,
        tag: &str,
        em: &mut Emitter<W>,
    ) -> io::Result<()> {
        em.empty(level, tag)?;
        if let Some(d) = &self.date {
            d.emit(level + 1, em)?;
        }
        for n in &self.notes {
            n.emit(level + 1, em)?;
        }
        em.nodes(level + 1, &self.extra)
    }
}

/// `REFN`: a user reference number with its type.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refn {
    /// The number.
    pub value: String,
    /// `TYPE`.
    pub kind: Option<String>,
}

impl Refn {
    fn from_node(node: Node) -> Result<Self, Node> {
        let fits = node.xref.is_none()
            && matches!(node.value, Value::Text(_))
            && node.children.len() <= 1
            && node
                .children
                .iter()
                .all(|c| c.tag == "TYPE" && c.is_plain_text());
        if !fits {
            return Err(node);
        }
        let kind = node
            .children
            .first()
            .and_then(|c| c.value.text())
            .map(str::to_owned);
        match node.value {
            Value::Text(value) => Ok(Self { value, kind }),
            other => Err(Node {
                value: other,
                ..node
            }),
        }
    }
}

/// Identifiers, notes, citations, media and change dates that any record may carry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Common {
    /// `REFN`.
    pub refns: Vec<Refn>,
    /// `RIN`: the writing program's record id.
    pub rin: Option<String>,
    /// `_UID` (5.5.1 vendors) or `UID` (7.0): a globally unique id.
    pub uids: Vec<String>,
    /// Notes.
    pub notes: Vec<NoteRef>,
    /// Source citations.
    pub citations: Vec<Citation>,
    /// Media links.
    pub media: Vec<MediaLink>,
    /// `CHAN` (boxed: rare and large, it would bloat every record and event).
    pub changed: Option<Box<ChangeDate>>,
    /// 7.0 `CREA`.
    pub created: Option<Box<ChangeDate>>,
}

impl Common {
    /// Takes a child that belongs here; gives it back otherwise.
    pub(crate) fn accept(&mut self, node: Node, extra: &mut Vec<Node>) -> Option<Node> {
        match node.tag.as_str() {
            "REFN" => push_with(&mut self.refns, node, extra, Refn::from_node),
            "RIN" => take_text(&mut self.rin, node, extra),
            "_UID" | "UID" => push_text(&mut self.uids, node, extra),
            "NOTE" | "SNOTE" => push_with(&mut self.notes, node, extra, NoteRef::from_node),
            "SOUR" => push_with(&mut self.citations, node, extra, Citation::from_node),
            "OBJE" => push_with(&mut self.media, node, extra, MediaLink::from_node),
            "CHAN" => take_with(&mut self.changed, node, extra, |n| {
                ChangeDate::from_node(n).map(Box::new)
            }),
            "CREA" => take_with(&mut self.created, node, extra, |n| {
                ChangeDate::from_node(n).map(Box::new)
            }),
            _ => return Some(node),
        }
        None
    }

    pub(crate) fn emit<W: Write>(&self, level: usize, em: &mut Emitter<W>) -> io::Result<()> {
        for r in &self.refns {
            em.text(level, "REFN", &r.value)?;
            em.opt(level + 1, "TYPE", &r.kind)?;
        }
        em.opt(level, "RIN", &self.rin)?;
        let uid_tag = if em.version() == Version::V70 {
            "UID"
        } else {
            "_UID"
        };
        for u in &self.uids {
            em.text(level, uid_tag, u)?;
        }
        for n in &self.notes {
            n.emit(level, em)?;
        }
        for c in &self.citations {
            c.emit(level, em)?;
        }
        for m in &self.media {
            m.emit(level, em)?;
        }
        if let Some(c) = &self.changed {
            c.emit(level, "CHAN", em)?;
        }
        if let Some(c) = &self.created {
            c.emit(level, "CREA", em)?;
        }
        Ok(())
    }
}
