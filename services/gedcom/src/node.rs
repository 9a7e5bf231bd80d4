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
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<str>),
}

impl Tag {
    /// The tag as a string slice.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            // Built only from `&str`, so the bytes are always valid UTF-8.
            TagRepr::Inline { len, bytes } => {
                std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default()
            }
            TagRepr::Heap(s) => s,
        }
    }
}

impl From<&str> for Tag {
    fn from(s: &str) -> Self {
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
