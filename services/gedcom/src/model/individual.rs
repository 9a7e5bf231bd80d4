//! Individuals (`INDI`) with their names, links to families and associations.

use super::common::{Citation, Common, NoteRef};
use super::convert::{push_pointer, push_with, take_text};
use super::event::{Event, is_individual_event};
use crate::node::{Node, Value, recycle_children};
use crate::writer::{Emitter, ValueRef};
use serde::{Deserialize, Serialize};
use std::io::{self, Write};

/// A personal name with its pieces.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonalName {
    /// The full name with the surname between slashes: `John /Smith/ Jr.`.
    pub value: Option<String>,
    /// `TYPE`: birth, married, aka, ...
    pub kind: Option<String>,
    /// `NPFX`.
    pub prefix: Option<String>,
    /// `GIVN`.
    pub given: Option<String>,
    /// `NICK`.
    pub nickname: Option<String>,
    /// `SPFX`: surname prefix such as `van`.
    pub surname_prefix: Option<String>,
    /// `SURN`.
    pub surname: Option<String>,
    /// `NSFX`.
    pub suffix: Option<String>,
    /// Notes.
    pub notes: Vec<NoteRef>,
    /// Citations.
    pub citations: Vec<Citation>,
    /// Unmodelled substructures (`FONE`, `ROMN`, 7.0 `TRAN`, vendor tags).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra: Vec<Node>,
}

impl PersonalName {
    fn from_node(node: Node) -> Result<Self, Node> {
        if node.xref.is_some() || matches!(node.value, Value::Pointer(_)) {
            return Err(node);
        }
        let mut n = Self {
            value: match node.value {
                Value::Text(t) => Some(t),
                _ => None,
            },
            ..Self::default()
        };
        let mut children = node.children;
        for c in children.drain(..) {
            let slot = match c.tag.as_str() {
                "TYPE" => &mut n.kind,
                "NPFX" => &mut n.prefix,
                "GIVN" => &mut n.given,
                "NICK" => &mut n.nickname,
                "SPFX" => &mut n.surname_prefix,
                "SURN" => &mut n.surname,
                "NSFX" => &mut n.suffix,
                "NOTE" | "SNOTE" => {
                    push_with(&mut n.notes, c, &mut n.extra, NoteRef::from_node);
                    continue;
                }
                "SOUR" => {
                    push_with(&mut n.citations, c, &mut n.extra, Citation::from_node);
                    continue;
                }
                _ => {
                    n.extra.push(c);
                    continue;
                }
            };
            take_text(slot, c, &mut n.extra);
        }
        recycle_children(children);
        Ok(n)
    }

    fn emit<W: Write>(&self, level: usize, em: &mut Emitter<W>) -> io::Result<()> {
        em.line(level, None, "NAME", ValueRef::opt(&self.value))?;
        let l = level + 1;
        em.opt(l, "TYPE", &self.kind)?;
        em.opt(l, "NPFX", &self.prefix)?;
        em.opt(l, "GIVN", &self.given)?;
        em.opt(l, "NICK", &self.nickname)?;
        em.opt(l, "SPFX", &self.surname_prefix)?;
        em.opt(l, "SURN", &self.surname)?;
        em.opt(l, "NSFX", &self.suffix)?;
        for n in &self.notes {
            n.emit(l, em)?;
        }
        for c in &self.citations {
            c.emit(l, em)?;
        }
        em.nodes(l, &self.extra)
    }

    /// The surname: `SURN`, or the part of the value between slashes.
    pub fn surname(&self) -> Option<&str> {
        self.surname.as_deref().or_else(|| {
            let v = self.value.as_deref()?;
            let start = v.find('/')?;
            let end = v[start + 1..].find('/').map_or(v.len(), |e| start + 1 + e);
            Some(v[start + 1..end].trim()).filter(|s| !s.is_empty())
        })
    }

    /// The given names: `GIVN`, or the part of the value before the surname.
    pub fn given(&self) -> Option<&str> {
        self.given.as_deref().or_else(|| {
            let v = self.value.as_deref()?;
            Some(v[..v.find('/').unwrap_or(v.len())].trim()).filter(|s| !s.is_empty())
        })
    }
}

/// `FAMC`: the individual is a child of a family.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChildLink {
    /// The family.
    pub family: String,
    /// `PEDI`: birth, adopted, foster, sealing, ...
    pub pedigree: Option<String>,
    /// `STAT`: challenged, disproven, proven.
    pub status: Option<String>,
    /// Notes.
    pub notes: Vec<NoteRef>,
    /// Unmodelled substructures.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra: Vec<Node>,
}

/// `FAMS`: the individual is a spouse or partner in a family.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpouseLink {
    /// The family.
    pub family: String,
    /// Notes.
    pub notes: Vec<NoteRef>,
    /// Unmodelled substructures.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra: Vec<Node>,
}

/// `ASSO`: a relationship to another individual that is not family (godparent, witness).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Association {
    /// The associated individual.
    pub target: String,
    /// 5.5.1 `RELA`: the relationship in words.
    pub relation: Option<String>,
    /// 7.0 `ROLE`.
    pub role: Option<String>,
    /// Notes.
    pub notes: Vec<NoteRef>,
    /// Citations.
    pub citations: Vec<Citation>,
    /// Unmodelled substructures.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra: Vec<Node>,
}

/// A link's target pointer moved out of the node, or the node back when it is not a link.
fn link_target(mut node: Node) -> Result<(String, Vec<Node>), Node> {
    match (&node.xref, &mut node.value) {
        (None, Value::Pointer(p)) => Ok((std::mem::take(p), node.children)),
        _ => Err(node),
    }
}

impl ChildLink {
    fn from_node(node: Node) -> Result<Self, Node> {
        let (family, children) = link_target(node)?;
        let mut l = Self {
            family,
            ..Self::default()
        };
        let mut children = children;
        for c in children.drain(..) {
            match c.tag.as_str() {
                "PEDI" => take_text(&mut l.pedigree, c, &mut l.extra),
                "STAT" => take_text(&mut l.status, c, &mut l.extra),
                "NOTE" | "SNOTE" => push_with(&mut l.notes, c, &mut l.extra, NoteRef::from_node),
                _ => l.extra.push(c),
            }
        }
        recycle_children(children);
        Ok(l)
    }
}

impl SpouseLink {
    fn from_node(node: Node) -> Result<Self, Node> {
        let (family, children) = link_target(node)?;
        let mut l = Self {
            family,
            ..Self::default()
        };
        let mut children = children;
        for c in children.drain(..) {
            match c.tag.as_str() {
                "NOTE" | "SNOTE" => push_with(&mut l.notes, c, &mut l.extra, NoteRef::from_node),
                _ => l.extra.push(c),
            }
        }
        recycle_children(children);
        Ok(l)
    }
}

impl Association {
    fn from_node(node: Node) -> Result<Self, Node> {
        let (target, children) = link_target(node)?;
        let mut a = Self {
            target,
            ..Self::default()
        };
        let mut children = children;
        for c in children.drain(..) {
            match c.tag.as_str() {
                "RELA" => take_text(&mut a.relation, c, &mut a.extra),
                "ROLE" => take_text(&mut a.role, c, &mut a.extra),
                "NOTE" | "SNOTE" => push_with(&mut a.notes, c, &mut a.extra, NoteRef::from_node),
                "SOUR" => push_with(&mut a.citations, c, &mut a.extra, Citation::from_node),
                _ => a.extra.push(c),
            }
        }
        recycle_children(children);
        Ok(a)
    }
}

/// An individual record.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Individual {
    /// The record's cross-reference id, without `@`s.
    pub xref: Option<String>,
    /// `RESN`: locked, privacy, confidential.
    pub restriction: Option<String>,
    /// Names, preferred first.
    pub names: Vec<PersonalName>,
    /// `SEX`: M, F, U or X.
    pub sex: Option<String>,
    /// Events and attributes in file order.
    pub events: Vec<Event>,
    /// Families the individual is a child in.
    pub child_of: Vec<ChildLink>,
    /// Families the individual is a spouse or partner in.
    pub spouse_of: Vec<SpouseLink>,
    /// Associations.
    pub associations: Vec<Association>,
    /// `ALIA`: other records that may be the same person.
    pub aliases: Vec<String>,
    /// `SUBM`: submitters interested in this person.
    pub submitters: Vec<String>,
    /// Ids, notes, citations, media, change dates.
    pub common: Common,
    /// Unmodelled substructures (LDS ordinances, vendor tags, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra: Vec<Node>,
}

impl Individual {
    /// Builds the record; the emptied `node.children` (its capacity kept) is left in `spare`
    /// for the reader's next record.
    ///
    /// Built in place in its box: a record is several hundred bytes, and building it on the
    /// stack and moving it into the box copied it.
    pub(crate) fn from_node(node: Node, spare: &mut Vec<Node>) -> Box<Self> {
        let mut record = Box::<Self>::default();
        record.fill(node, spare);
        record
    }

    fn fill(&mut self, mut node: Node, spare: &mut Vec<Node>) {
        let mut children = std::mem::take(&mut node.children);
        let i = self;
        i.xref = node.xref;
        if node.value != Value::None {
            i.extra.push(Node {
                tag: "_VALUE".into(),
                value: node.value,
                ..Node::default()
            });
        }
        let extra = &mut i.extra;
        for c in children.drain(..) {
            let tag = c.tag.as_str();
            match tag {
                "NAME" => {
                    // Nearly everyone has one name, and four (`Vec`'s first growth) are past
                    // the allocator's per-thread cache.
                    if i.names.capacity() == 0 {
                        i.names.reserve_exact(1);
                    }
                    push_with(&mut i.names, c, extra, PersonalName::from_node)
                }
                "SEX" => take_text(&mut i.sex, c, extra),
                "RESN" => take_text(&mut i.restriction, c, extra),
                "FAMC" => push_with(&mut i.child_of, c, extra, ChildLink::from_node),
                "FAMS" => push_with(&mut i.spouse_of, c, extra, SpouseLink::from_node),
                "ASSO" => push_with(&mut i.associations, c, extra, Association::from_node),
                "ALIA" => push_pointer(&mut i.aliases, c, extra),
                "SUBM" => push_pointer(&mut i.submitters, c, extra),
                _ if is_individual_event(tag) => {
                    Event::push_into(&mut i.events, c, extra);
                }
                _ => {
                    if let Some(c) = i.common.accept(c, extra) {
                        extra.push(c);
                    }
                }
            }
        }
        *spare = children;
    }

    pub(crate) fn emit<W: Write>(&self, xref: Option<&str>, em: &mut Emitter<W>) -> io::Result<()> {
        em.line(0, xref, "INDI", ValueRef::None)?;
        em.opt(1, "RESN", &self.restriction)?;
        for n in &self.names {
            n.emit(1, em)?;
        }
        em.opt(1, "SEX", &self.sex)?;
        for e in &self.events {
            e.emit(1, em)?;
        }
        for l in &self.child_of {
            em.pointer(1, "FAMC", &l.family)?;
            em.opt(2, "PEDI", &l.pedigree)?;
            em.opt(2, "STAT", &l.status)?;
            for n in &l.notes {
                n.emit(2, em)?;
            }
            em.nodes(2, &l.extra)?;
        }
        for l in &self.spouse_of {
            em.pointer(1, "FAMS", &l.family)?;
            for n in &l.notes {
                n.emit(2, em)?;
            }
            em.nodes(2, &l.extra)?;
        }
        for a in &self.associations {
            em.pointer(1, "ASSO", &a.target)?;
            em.opt(2, "RELA", &a.relation)?;
            em.opt(2, "ROLE", &a.role)?;
            for n in &a.notes {
                n.emit(2, em)?;
            }
            for c in &a.citations {
                c.emit(2, em)?;
            }
            em.nodes(2, &a.extra)?;
        }
        for a in &self.aliases {
            em.pointer(1, "ALIA", a)?;
        }
        for s in &self.submitters {
            em.pointer(1, "SUBM", s)?;
        }
        self.common.emit(1, em)?;
        em.nodes(1, &self.extra)
    }

    /// The first event with the given tag, e.g. `BIRT`.
    pub fn event(&self, tag: &str) -> Option<&Event> {
        self.events.iter().find(|e| e.tag == tag)
    }
}
