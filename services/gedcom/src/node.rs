//! The generic GEDCOM tree: what every line becomes before (or instead of) a typed model.

use serde::{Deserialize, Serialize};

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
    pub tag: String,
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
    pub fn new(tag: impl Into<String>, value: Value) -> Self {
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
