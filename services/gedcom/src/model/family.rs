//! Families (`FAM`): partners, children and family events.

use super::common::Common;
use super::convert::{push_pointer, take_pointer, take_text};
use super::event::{Event, is_family_event};
use crate::node::{Node, Value};
use crate::writer::{Emitter, ValueRef};
use serde::{Deserialize, Serialize};
use std::io::{self, Write};

/// A family record: a couple (or single parent) and their children.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Family {
    /// The record's cross-reference id, without `@`s.
    pub xref: Option<String>,
    /// `RESN`.
    pub restriction: Option<String>,
    /// `HUSB`: first partner.
    pub husband: Option<String>,
    /// `WIFE`: second partner.
    pub wife: Option<String>,
    /// `CHIL`, in birth order as the file gives it.
    pub children: Vec<String>,
    /// Events and attributes in file order.
    pub events: Vec<Event>,
    /// `SUBM`.
    pub submitters: Vec<String>,
    /// Ids, notes, citations, media, change dates.
    pub common: Common,
    /// Unmodelled substructures.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra: Vec<Node>,
}

impl Family {
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
        let f = self;
        f.xref = node.xref;
        if node.value != Value::None {
            f.extra.push(Node {
                tag: "_VALUE".into(),
                value: node.value,
                ..Node::default()
            });
        }
        let extra = &mut f.extra;
        for c in children.drain(..) {
            let tag = c.tag.as_str();
            match tag {
                "RESN" => take_text(&mut f.restriction, c, extra),
                "HUSB" => take_pointer(&mut f.husband, c, extra),
                "WIFE" => take_pointer(&mut f.wife, c, extra),
                "CHIL" => push_pointer(&mut f.children, c, extra),
                "SUBM" => push_pointer(&mut f.submitters, c, extra),
                _ if is_family_event(tag) => Event::push_into(&mut f.events, c, extra),
                _ => {
                    if let Some(c) = f.common.accept(c, extra) {
                        extra.push(c);
                    }
                }
            }
        }
        *spare = children;
    }

    pub(crate) fn emit<W: Write>(&self, xref: Option<&str>, em: &mut Emitter<W>) -> io::Result<()> {
        em.line(0, xref, "FAM", ValueRef::None)?;
        em.opt(1, "RESN", &self.restriction)?;
        if let Some(h) = &self.husband {
            em.pointer(1, "HUSB", h)?;
        }
        if let Some(w) = &self.wife {
            em.pointer(1, "WIFE", w)?;
        }
        for c in &self.children {
            em.pointer(1, "CHIL", c)?;
        }
        for e in &self.events {
            e.emit(1, em)?;
        }
        for s in &self.submitters {
            em.pointer(1, "SUBM", s)?;
        }
        self.common.emit(1, em)?;
        em.nodes(1, &self.extra)
    }
}
