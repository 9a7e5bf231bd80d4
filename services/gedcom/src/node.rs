//! The generic GEDCOM tree: what every line becomes before (or instead of) a typed model.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::Deref;

/// A structure's tag. Tags are short, so they live inline instead of on the heap: reading a
/// large file allocates one string less per line.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Tag(TagRepr);

const INLINE: usize = 22;

#[derive(Clone, PartialEq, Eq, Hash)]
enum TagRepr {
    /// A tag from `known_tag`; every other short tag is `Inline`, so each tag has exactly one
    /// representation and the derived equality and hash agree with the string's.
    Static(&'static str),
    Inline {
        len: u8,
        bytes: [u8; INLINE],
    },
    Heap(Box<str>),
}

/// Packs a tag of at most seven bytes and its length into one integer, so that recognising a
/// standard tag is a single `match` on a number.
const fn tag_key(b: &[u8]) -> u64 {
    let mut key = (b.len() as u64) << 56;
    let mut i = 0;
    while i < b.len() && i < 7 {
        key |= (b[i] as u64) << (8 * i);
        i += 1;
    }
    key
}

/// [`tag_key`] for the three- and four-letter tags most lines carry, with plain loads.
#[inline]
fn tag_key_fast(b: &[u8]) -> u64 {
    match *b {
        [x, y, z] => 3 << 56 | u64::from(u16::from_le_bytes([x, y])) | u64::from(z) << 16,
        [w, x, y, z] => 4 << 56 | u64::from(u32::from_le_bytes([w, x, y, z])),
        _ => tag_key(b),
    }
}

/// The standard tags (and the commonest vendor ones), kept as static strings: such a `Tag`
/// needs neither a copy nor UTF-8 validation when it is read back as `&str`. At most seven
/// bytes each, so that [`tag_key`] tells them apart.
const KNOWN_TAGS: [&str; 184] = [
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
    "TEXT", "TIME", "TITL", "TOP", "TRAN", "TRLR", "TYPE", "UID", "VERS", "VOID", "WIDTH", "WIFE",
    "WILL", "WWW", "_AKA", "_APID", "_DATE", "_DEG", "_ELEC", "_EMAIL", "_EXCM", "_FA1", "_FILE",
    "_FREL", "_FSFTID", "_LOC", "_MARNM", "_MILT", "_MREL", "_NAME", "_PHOTO", "_PLAC", "_PRIM",
    "_SCBK", "_SSHOW", "_STAT", "_TEXT", "_TYPE", "_UID", "_URL", "_VALUE", "_WEB",
];

/// [`tag_key`] of each of [`KNOWN_TAGS`].
static KNOWN_KEYS: [u64; KNOWN_TAGS.len()] = {
    let mut keys = [0; KNOWN_TAGS.len()];
    let mut i = 0;
    while i < KNOWN_TAGS.len() {
        keys[i] = tag_key(KNOWN_TAGS[i].as_bytes());
        i += 1;
    }
    keys
};

/// A multiplier under which the keys of [`KNOWN_TAGS`] land in distinct slots of
/// [`TAG_SLOTS`] (found by trying random odd numbers; the table's construction checks it).
const TAG_HASH: u64 = 0x3a47_9870_d6e7_33f9;
const TAG_HASH_BITS: u32 = 11;

#[inline]
const fn tag_slot(key: u64) -> usize {
    (key.wrapping_mul(TAG_HASH) >> (64 - TAG_HASH_BITS)) as usize
}

/// For each hash slot, 1 + the index in [`KNOWN_TAGS`] of the tag hashed there, or 0: a 2 KiB
/// perfect hash table, so that recognising a tag is a multiply, two loads and a compare
/// rather than a search through the list.
static TAG_SLOTS: [u8; 1 << TAG_HASH_BITS] = {
    let mut slots = [0u8; 1 << TAG_HASH_BITS];
    let mut i = 0;
    while i < KNOWN_TAGS.len() {
        let slot = tag_slot(tag_key(KNOWN_TAGS[i].as_bytes()));
        assert!(
            slots[slot] == 0,
            "two known tags share a hash slot: pick another TAG_HASH"
        );
        assert!(KNOWN_TAGS[i].len() <= 7 && i < 255);
        slots[slot] = (i + 1) as u8;
        i += 1;
    }
    slots
};

/// The static string of a tag in [`KNOWN_TAGS`], or `None`.
#[inline]
fn known_tag(s: &str) -> Option<&'static str> {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > 7 {
        return None;
    }
    let key = tag_key_fast(b);
    let index = usize::from(TAG_SLOTS[tag_slot(key)].checked_sub(1)?);
    (KNOWN_KEYS.get(index) == Some(&key)).then(|| KNOWN_TAGS[index])
}

impl Tag {
    /// The tag as a string slice.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            TagRepr::Static(s) => s,
            // Built only from `&str`, so the bytes are always valid UTF-8.
            TagRepr::Inline { len, bytes } => {
                std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default()
            }
            TagRepr::Heap(s) => s,
        }
    }
}

impl From<&str> for Tag {
    #[inline]
    fn from(s: &str) -> Self {
        if let Some(known) = known_tag(s) {
            return Tag(TagRepr::Static(known));
        }
        if s.len() <= INLINE {
            let mut bytes = [0; INLINE];
            bytes[..s.len()].copy_from_slice(s.as_bytes());
            // `s.len() <= INLINE < 256`, so the length fits.
            Tag(TagRepr::Inline {
                len: s.len() as u8,
                bytes,
            })
        } else {
            Tag(TagRepr::Heap(s.into()))
        }
    }
}

impl From<String> for Tag {
    fn from(s: String) -> Self {
        if s.len() <= INLINE {
            Tag::from(s.as_str())
        } else {
            Tag(TagRepr::Heap(s.into_boxed_str()))
        }
    }
}

impl From<Tag> for String {
    fn from(t: Tag) -> Self {
        t.as_str().to_owned()
    }
}

#[cfg(test)]
mod tag_tests {
    use super::*;

    #[test]
    fn known_and_unknown_tags_compare_by_text() {
        for t in [
            "INDI",
            "_UID",
            "_FSFTID",
            "INDIX",
            "_X",
            "",
            "I\0",
            "\u{e9}T",
            "A_LONG_VENDOR_TAG_OF_30_BYTES",
        ] {
            let tag = Tag::from(t);
            assert_eq!(tag.as_str(), t);
            assert_eq!(tag, Tag::from(t.to_owned()));
        }
        assert!(matches!(Tag::from("INDI").0, TagRepr::Static("INDI")));
        assert!(matches!(Tag::from("INDJ").0, TagRepr::Inline { .. }));
        // The length is part of the key: a NUL-padded tag is not the standard one.
        assert_ne!(Tag::from("SEX\0"), Tag::from("SEX"));
        assert_eq!(known_tag("SEX\0"), None);
        for t in [
            "A", "AB", "SEX", "INDI", "\u{e9}", "_UID", "HEIGHT", "_FSFTID", "\0\0\0", "ZZZZ",
        ] {
            assert_eq!(tag_key_fast(t.as_bytes()), tag_key(t.as_bytes()), "{t:?}");
        }
    }

    #[test]
    fn every_known_tag_is_found_and_nothing_else() {
        for t in KNOWN_TAGS {
            assert_eq!(known_tag(t), Some(t));
        }
        for t in [
            "",
            "X",
            "INDIV",
            "BIRTH",
            "_UIDX",
            "HEAD\0",
            "SOURC",
            "A_LONG_TAG",
            "indi",
        ] {
            assert_eq!(known_tag(t), None, "{t:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn the_hash_table_agrees_with_the_list(t in "[A-Z_0-9]{1,8}") {
            proptest::prop_assert_eq!(known_tag(&t), KNOWN_TAGS.iter().copied().find(|k| *k == t));
        }
    }
}

impl Default for Tag {
    fn default() -> Self {
        Tag::from("")
    }
}

impl Deref for Tag {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Tag {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq<str> for Tag {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Tag {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl Serialize for Tag {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Tag {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Tag::from)
    }
}

/// A line's payload after CONC/CONT assembly and `@` unescaping.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "lowercase")]
pub enum Value {
    /// No payload.
    #[default]
    None,
    /// Text; multi-line text uses `\n` between lines. Never empty.
    Text(String),
    /// A pointer to a record, without the surrounding `@`s (`@I1@` is `I1`).
    Pointer(String),
}

impl Value {
    /// The text, if this is text.
    pub fn text(&self) -> Option<&str> {
        match self {
            Value::Text(t) => Some(t),
            _ => None,
        }
    }

    /// The pointer target, if this is a pointer.
    pub fn pointer(&self) -> Option<&str> {
        match self {
            Value::Pointer(p) => Some(p),
            _ => None,
        }
    }

    /// The text, moved out, if this is text.
    pub fn into_text(self) -> Option<String> {
        match self {
            Value::Text(t) => Some(t),
            _ => None,
        }
    }

    /// The pointer target, moved out, if this is a pointer.
    pub fn into_pointer(self) -> Option<String> {
        match self {
            Value::Pointer(p) => Some(p),
            _ => None,
        }
    }

    /// Text from an optional string; empty strings mean no payload, as on the wire.
    pub fn from_text(t: Option<String>) -> Self {
        match t {
            Some(t) if !t.is_empty() => Value::Text(t),
            _ => Value::None,
        }
    }
}

/// One GEDCOM structure with its substructures, kept exactly as read.
///
/// Used for everything the typed model does not know (vendor `_TAGS`, extension tags,
/// unexpected substructures), so that writing a file back loses nothing.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Node {
    /// The tag, such as `BIRT` or `_MYTAG`.
    pub tag: Tag,
    /// The cross-reference id this structure defines, without `@`s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xref: Option<String>,
    /// The payload.
    #[serde(default)]
    pub value: Value,
    /// Substructures in file order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<Node>,
    /// Physical line the structure started on (0 when built in memory); not part of equality.
    #[serde(skip)]
    pub line: u64,
}

impl PartialEq for Node {
    fn eq(&self, other: &Self) -> bool {
        self.tag == other.tag
            && self.xref == other.xref
            && self.value == other.value
            && self.children == other.children
    }
}

impl Eq for Node {}

impl Node {
    /// A node with a tag and a value and no children.
    pub fn new(tag: impl Into<Tag>, value: Value) -> Self {
        Self {
            tag: tag.into(),
            value,
            ..Self::default()
        }
    }

    /// Whether the node is a plain `TAG text` line with nothing attached.
    pub(crate) fn is_plain_text(&self) -> bool {
        self.xref.is_none() && self.children.is_empty() && matches!(self.value, Value::Text(_))
    }

    /// Whether the node is a plain `TAG @ptr@` line with nothing attached.
    pub(crate) fn is_plain_pointer(&self) -> bool {
        self.xref.is_none() && self.children.is_empty() && matches!(self.value, Value::Pointer(_))
    }

    /// Total number of structures in this subtree, itself included.
    pub fn count(&self) -> usize {
        let mut n = 0;
        let mut stack = vec![self];
        while let Some(node) = stack.pop() {
            n += 1;
            stack.extend(node.children.iter());
        }
        n
    }
}

/// Most lists of substructures the reader builds (a name's pieces, an event's date and
/// place) live only until the typed record takes them apart: keeping the emptied lists for
/// the next record saves an allocation, a growth and a free per structure with
/// substructures. The pool is per thread and bounded, so memory stays independent of the
/// input's size.
const POOL_LISTS: usize = 64;
/// Lists that grew beyond this many slots are freed rather than kept.
const POOL_MAX_CAPACITY: usize = 32;
/// Slots in a list the pool had none to give for (the size `Vec` grows to on a first push).
const FRESH_CAPACITY: usize = 4;

thread_local! {
    static SPARE_LISTS: std::cell::RefCell<Vec<Vec<Node>>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// An empty list of substructures with room for a few, from the pool when it has one.
#[inline]
pub(crate) fn spare_children() -> Vec<Node> {
    SPARE_LISTS
        .try_with(|pool| pool.try_borrow_mut().ok().and_then(|mut p| p.pop()))
        .ok()
        .flatten()
        .unwrap_or_else(|| Vec::with_capacity(FRESH_CAPACITY))
}

/// Gives a list whose substructures were taken out back to the pool (or frees it).
#[inline]
pub(crate) fn recycle_children(mut list: Vec<Node>) {
    if list.capacity() == 0 || list.capacity() > POOL_MAX_CAPACITY {
        return;
    }
    list.clear();
    let _ = SPARE_LISTS.try_with(|pool| {
        if let Ok(mut p) = pool.try_borrow_mut()
            && p.len() < POOL_LISTS
        {
            p.push(list);
        }
    });
}

#[cfg(test)]
mod pool_tests {
    use super::*;

    #[test]
    fn recycled_lists_come_back_empty_and_the_pool_is_bounded() {
        let mut list = spare_children();
        assert!(list.is_empty() && list.capacity() >= 1);
        list.push(Node::new("DATE", Value::Text("1 JAN 1900".into())));
        let ptr = list.as_ptr();
        recycle_children(list);
        let again = spare_children();
        assert!(again.is_empty());
        assert_eq!(
            again.as_ptr(),
            ptr,
            "the recycled buffer is handed out again"
        );
        // Far more lists than the pool keeps: the surplus is freed, not hoarded.
        let many: Vec<Vec<Node>> = (0..POOL_LISTS * 3).map(|_| spare_children()).collect();
        for l in many {
            recycle_children(l);
        }
        recycle_children(Vec::with_capacity(POOL_MAX_CAPACITY + 1));
        let kept = SPARE_LISTS.with(|p| p.borrow().len());
        assert!(kept <= POOL_LISTS, "{kept}");
        assert!(SPARE_LISTS.with(|p| p.borrow().iter().all(|l| l.capacity() <= POOL_MAX_CAPACITY)));
    }
}
