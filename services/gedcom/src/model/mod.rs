//! The typed model: records and the substructures genealogy programs use, with everything
//! else kept as raw [`Node`]s where it appeared.

mod common;
mod convert;
mod event;
mod family;
mod header;
mod individual;
mod records;

pub use common::{
    Address, ChangeDate, Citation, CitationData, Common, DateStructure, MediaLink, NoteRef,
    NoteTarget, Place, Refn,
};
pub use event::{Event, FAMILY_EVENTS, INDIVIDUAL_ATTRIBUTES, INDIVIDUAL_EVENTS};
pub use family::Family;
pub use header::{Header, HeaderSource};
pub use individual::{Association, ChildLink, Individual, PersonalName, SpouseLink};
pub use records::{
    MediaFile, Multimedia, NoteRecord, Repository, RepositoryCitation, Source, Submitter,
};

use crate::node::Node;
use crate::writer::Emitter;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{self, Write};

/// One level-0 record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Record {
    /// `HEAD`.
    Header(Box<Header>),
    /// `SUBM`.
    Submitter(Box<Submitter>),
    /// `INDI`.
    Individual(Box<Individual>),
    /// `FAM`.
    Family(Box<Family>),
    /// `SOUR`.
    Source(Box<Source>),
    /// `REPO`.
    Repository(Box<Repository>),
    /// 5.5.1 `NOTE` record / 7.0 `SNOTE`.
    Note(Box<NoteRecord>),
    /// `OBJE`.
    Media(Box<Multimedia>),
    /// Anything else (`SUBN`, vendor and extension records), kept verbatim.
    Other(Node),
}

impl Record {
    /// Builds the typed record from a generic tree.
    pub fn from_node(node: Node) -> Self {
        Self::from_node_recycling(node, &mut Vec::new())
    }

    /// `from_node` for the reader: an individual's or family's emptied list of substructures
    /// is left in `spare`, so the next record is assembled without allocating one (a record's
    /// list is too large for the allocator's fast path).
    pub(crate) fn from_node_recycling(node: Node, spare: &mut Vec<Node>) -> Self {
        match node.tag.as_str() {
            "HEAD" => Record::Header(Box::new(Header::from_node(node))),
            "SUBM" => Record::Submitter(Box::new(Submitter::from_node(node))),
            "INDI" => Record::Individual(Individual::from_node(node, spare)),
            "FAM" => Record::Family(Family::from_node(node, spare)),
            "SOUR" => Record::Source(Box::new(Source::from_node(node))),
            "REPO" => Record::Repository(Box::new(Repository::from_node(node))),
            "NOTE" | "SNOTE" => Record::Note(Box::new(NoteRecord::from_node(node))),
            "OBJE" => Record::Media(Box::new(Multimedia::from_node(node))),
            _ => Record::Other(node),
        }
    }

    /// The record's cross-reference id.
    pub fn xref(&self) -> Option<&str> {
        match self {
            Record::Header(_) => None,
            Record::Submitter(r) => r.xref.as_deref(),
            Record::Individual(r) => r.xref.as_deref(),
            Record::Family(r) => r.xref.as_deref(),
            Record::Source(r) => r.xref.as_deref(),
            Record::Repository(r) => r.xref.as_deref(),
            Record::Note(r) => r.xref.as_deref(),
            Record::Media(r) => r.xref.as_deref(),
            Record::Other(n) => n.xref.as_deref(),
        }
    }

    /// The level-0 tag this record is written with in 5.5.1.
    pub fn tag(&self) -> &str {
        match self {
            Record::Header(_) => "HEAD",
            Record::Submitter(_) => "SUBM",
            Record::Individual(_) => "INDI",
            Record::Family(_) => "FAM",
            Record::Source(_) => "SOUR",
            Record::Repository(_) => "REPO",
            Record::Note(_) => "NOTE",
            Record::Media(_) => "OBJE",
            Record::Other(n) => &n.tag,
        }
    }

    /// Whether writing needs an xref that the record lacks (every typed record but the header).
    pub(crate) fn needs_xref(&self) -> bool {
        !matches!(self, Record::Header(_) | Record::Other(_)) && self.xref().is_none()
    }

    pub(crate) fn emit<W: Write>(&self, xref: Option<&str>, em: &mut Emitter<W>) -> io::Result<()> {
        let xref = xref.or(self.xref());
        match self {
            Record::Header(h) => h.emit(em),
            Record::Submitter(r) => r.emit(xref, em),
            Record::Individual(r) => r.emit(xref, em),
            Record::Family(r) => r.emit(xref, em),
            Record::Source(r) => r.emit(xref, em),
            Record::Repository(r) => r.emit(xref, em),
            Record::Note(r) => r.emit(xref, em),
            Record::Media(r) => r.emit(xref, em),
            Record::Other(n) => em.node(0, n),
        }
    }
}

/// A whole file in memory: the header and the other records in file order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gedcom {
    /// The header.
    pub header: Header,
    /// Every record but the header and trailer, in file order.
    pub records: Vec<Record>,
}

impl Gedcom {
    /// How many records of each level-0 tag there are besides the header (shared notes are
    /// counted as `NOTE` whichever version wrote them).
    pub fn counts(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for r in &self.records {
            *counts.entry(r.tag().to_owned()).or_insert(0) += 1;
        }
        counts
    }

    /// The individuals.
    pub fn individuals(&self) -> impl Iterator<Item = &Individual> {
        self.records.iter().filter_map(|r| match r {
            Record::Individual(i) => Some(&**i),
            _ => None,
        })
    }

    /// The families.
    pub fn families(&self) -> impl Iterator<Item = &Family> {
        self.records.iter().filter_map(|r| match r {
            Record::Family(f) => Some(&**f),
            _ => None,
        })
    }
}
