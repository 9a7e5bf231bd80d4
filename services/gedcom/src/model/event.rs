//! Events and attributes of individuals and families.

use super::common::{Address, Common, DateStructure, Place};
use super::convert::{take_text, take_with};
use crate::node::{Node, Tag, Value, recycle_children};
use crate::writer::{Emitter, ValueRef};
use serde::{Deserialize, Serialize};
use std::io::{self, Write};

/// Individual event tags of 5.5.1 and 7.0.
pub const INDIVIDUAL_EVENTS: &[&str] = &[
    "BIRT", "CHR", "DEAT", "BURI", "CREM", "ADOP", "BAPM", "BARM", "BASM", "BLES", "CHRA", "CONF",
    "FCOM", "ORDN", "NATU", "EMIG", "IMMI", "CENS", "PROB", "WILL", "GRAD", "RETI", "EVEN",
];
/// Individual attribute tags of 5.5.1 and 7.0.
pub const INDIVIDUAL_ATTRIBUTES: &[&str] = &[
    "CAST", "DSCR", "EDUC", "IDNO", "NATI", "NCHI", "NMR", "OCCU", "PROP", "RELI", "RESI", "SSN",
    "TITL", "FACT",
];
/// Family event and attribute tags of 5.5.1 and 7.0.
pub const FAMILY_EVENTS: &[&str] = &[
    "ANUL", "CENS", "DIV", "DIVF", "ENGA", "MARB", "MARC", "MARR", "MARL", "MARS", "RESI", "EVEN",
    "NCHI", "FACT",
];

/// Whether `tag` is in `INDIVIDUAL_EVENTS` or `INDIVIDUAL_ATTRIBUTES`; a `match` on the bytes
/// instead of a scan of both lists, since every child of every `INDI` asks.
pub(crate) fn is_individual_event(tag: &str) -> bool {
    matches!(
        tag,
        "BIRT"
            | "CHR"
            | "DEAT"
            | "BURI"
            | "CREM"
            | "ADOP"
            | "BAPM"
            | "BARM"
            | "BASM"
            | "BLES"
            | "CHRA"
            | "CONF"
            | "FCOM"
            | "ORDN"
            | "NATU"
            | "EMIG"
            | "IMMI"
            | "CENS"
            | "PROB"
            | "WILL"
            | "GRAD"
            | "RETI"
            | "EVEN"
            | "CAST"
            | "DSCR"
            | "EDUC"
            | "IDNO"
            | "NATI"
            | "NCHI"
            | "NMR"
            | "OCCU"
            | "PROP"
            | "RELI"
            | "RESI"
            | "SSN"
            | "TITL"
            | "FACT"
    )
}

/// Whether `tag` is in `FAMILY_EVENTS` (a `match`, as `is_individual_event`).
pub(crate) fn is_family_event(tag: &str) -> bool {
    matches!(
        tag,
        "ANUL"
            | "CENS"
            | "DIV"
            | "DIVF"
            | "ENGA"
            | "MARB"
            | "MARC"
            | "MARR"
            | "MARL"
            | "MARS"
            | "RESI"
            | "EVEN"
            | "NCHI"
            | "FACT"
    )
}

/// An event (birth, marriage, ...) or attribute (occupation, residence, ...).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// The tag, e.g. `BIRT` or `OCCU`.
    pub tag: Tag,
    /// The payload: `Y` for "it happened", or the attribute's value.
    pub value: Option<String>,
    /// `TYPE`: what kind of generic `EVEN`/`FACT`, or a refinement.
    pub kind: Option<String>,
    /// `DATE`.
    pub date: Option<DateStructure>,
    /// `PLAC`.
    pub place: Option<Place>,
    /// `ADDR` (boxed: rare and large).
    pub address: Option<Box<Address>>,
    /// `AGE` of the individual at the event.
    pub age: Option<String>,
    /// `HUSB.AGE` in a family event.
    pub husband_age: Option<String>,
    /// `WIFE.AGE` in a family event.
    pub wife_age: Option<String>,
    /// `CAUS`.
    pub cause: Option<String>,
    /// `AGNC`: the responsible authority.
    pub agency: Option<String>,
    /// `RELI`: religious affiliation.
    pub religion: Option<String>,
    /// `RESN`: restriction notice.
    pub restriction: Option<String>,
    /// `FAMC` of a birth, christening or adoption: the family the child was born into.
    pub family: Option<String>,
    /// Notes, citations, media and ids.
    pub common: Common,
    /// Unmodelled substructures.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra: Vec<Node>,
}

/// `HUSB`/`WIFE` holding only an `AGE`.
fn spouse_age(node: &Node) -> Option<String> {
    let fits = node.xref.is_none() && node.value == Value::None && node.children.len() == 1;
    let age = node.children.first()?;
    (fits && age.tag == "AGE" && age.is_plain_text())
        .then(|| age.value.text().map(str::to_owned))?
}

impl Event {
    /// Adds the event `node` holds to `list`, or keeps the node in `extra` if it is not one.
    /// Built in its slot of `list`: an `Event` is several hundred bytes, and building it on the
    /// stack and moving it in copied it twice.
    pub(crate) fn push_into(list: &mut Vec<Self>, node: Node, extra: &mut Vec<Node>) {
        if !Self::fits(&node) {
            extra.push(node);
            return;
        }
        list.push(Self::default());
        if let Some(e) = list.last_mut() {
            e.fill(node);
        }
    }

    fn fits(node: &Node) -> bool {
        node.xref.is_none() && !matches!(node.value, Value::Pointer(_))
    }

    /// Fills a default event from a node that `fits`.
    fn fill(&mut self, node: Node) {
        let e = self;
        e.tag = node.tag;
        e.value = match node.value {
            Value::Text(t) => Some(t),
            _ => None,
        };
        let extra = &mut e.extra;
        let mut children = node.children;
        for c in children.drain(..) {
            match c.tag.as_str() {
                "TYPE" => take_text(&mut e.kind, c, extra),
                "DATE" => take_with(&mut e.date, c, extra, DateStructure::from_node),
                "PLAC" => take_with(&mut e.place, c, extra, Place::from_node),
                "ADDR" => take_with(&mut e.address, c, extra, |n| {
                    Address::from_node(n).map(Box::new)
                }),
                "AGE" => take_text(&mut e.age, c, extra),
                "HUSB" if e.husband_age.is_none() && spouse_age(&c).is_some() => {
                    e.husband_age = spouse_age(&c)
                }
                "WIFE" if e.wife_age.is_none() && spouse_age(&c).is_some() => {
                    e.wife_age = spouse_age(&c)
                }
                "CAUS" => take_text(&mut e.cause, c, extra),
                "AGNC" => take_text(&mut e.agency, c, extra),
                "RELI" => take_text(&mut e.religion, c, extra),
                "RESN" => take_text(&mut e.restriction, c, extra),
                "FAMC" if e.family.is_none() && c.is_plain_pointer() => {
                    e.family = c.value.into_pointer();
                }
                _ => {
                    if let Some(c) = e.common.accept(c, extra) {
                        extra.push(c);
                    }
                }
            }
        }
        recycle_children(children);
    }

    pub(crate) fn emit<W: Write>(&self, level: usize, em: &mut Emitter<W>) -> io::Result<()> {
        em.line(level, None, &self.tag, ValueRef::opt(&self.value))?;
        let l = level + 1;
        em.opt(l, "TYPE", &self.kind)?;
        if let Some(d) = &self.date {
            d.emit(l, em)?;
        }
        if let Some(p) = &self.place {
            p.emit(l, em)?;
        }
        if let Some(a) = &self.address {
            a.emit(l, em)?;
        }
        em.opt(l, "AGE", &self.age)?;
        if let Some(age) = &self.husband_age {
            em.empty(l, "HUSB")?;
            em.text(l + 1, "AGE", age)?;
        }
        if let Some(age) = &self.wife_age {
            em.empty(l, "WIFE")?;
            em.text(l + 1, "AGE", age)?;
        }
        em.opt(l, "CAUS", &self.cause)?;
        em.opt(l, "AGNC", &self.agency)?;
        em.opt(l, "RELI", &self.religion)?;
        em.opt(l, "RESN", &self.restriction)?;
        if let Some(f) = &self.family {
            em.pointer(l, "FAMC", f)?;
        }
        self.common.emit(l, em)?;
        em.nodes(l, &self.extra)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_tag_matches_agree_with_the_lists() {
        let mut all: Vec<&str> = INDIVIDUAL_EVENTS
            .iter()
            .chain(INDIVIDUAL_ATTRIBUTES)
            .chain(FAMILY_EVENTS)
            .copied()
            .collect();
        all.extend([
            "NAME", "SEX", "FAMS", "BIR", "BIRTH", "MAR", "", "_MILT", "marr",
        ]);
        for tag in all {
            let individual =
                INDIVIDUAL_EVENTS.contains(&tag) || INDIVIDUAL_ATTRIBUTES.contains(&tag);
            assert_eq!(is_individual_event(tag), individual, "{tag}");
            assert_eq!(is_family_event(tag), FAMILY_EVENTS.contains(&tag), "{tag}");
        }
    }
}
