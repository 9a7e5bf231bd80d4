//! Moving children of a generic node into typed fields, or into `extra` when they do not fit.
//!
//! A child fits a scalar field only when it is a plain line (no xref, no substructures) and the
//! field is still empty; anything else is kept whole in `extra`, so reading never drops data.

use crate::node::{Node, Value};

/// Fills `slot` with a plain text child, or keeps the child in `extra`.
pub(crate) fn take_text(slot: &mut Option<String>, node: Node, extra: &mut Vec<Node>) {
    if slot.is_none()
        && node.is_plain_text()
        && let Value::Text(t) = node.value
    {
        *slot = Some(t);
        return;
    }
    extra.push(node);
}

/// Fills `slot` with a plain pointer child, or keeps the child in `extra`.
pub(crate) fn take_pointer(slot: &mut Option<String>, node: Node, extra: &mut Vec<Node>) {
    if slot.is_none()
        && node.is_plain_pointer()
        && let Value::Pointer(p) = node.value
    {
        *slot = Some(p);
        return;
    }
    extra.push(node);
}

/// Adds a plain text child to `list`, or keeps the child in `extra`.
pub(crate) fn push_text(list: &mut Vec<String>, node: Node, extra: &mut Vec<Node>) {
    if node.is_plain_text()
        && let Value::Text(t) = node.value
    {
        list.push(t);
        return;
    }
    extra.push(node);
}

/// Adds a plain pointer child to `list`, or keeps the child in `extra`.
pub(crate) fn push_pointer(list: &mut Vec<String>, node: Node, extra: &mut Vec<Node>) {
    if node.is_plain_pointer()
        && let Value::Pointer(p) = node.value
    {
        list.push(p);
        return;
    }
    extra.push(node);
}

/// Adds a structure built by `build` to `list`, or keeps the node in `extra` if it does not fit.
pub(crate) fn push_with<T>(
    list: &mut Vec<T>,
    node: Node,
    extra: &mut Vec<Node>,
    build: impl FnOnce(Node) -> Result<T, Node>,
) {
    match build(node) {
        Ok(v) => list.push(v),
        Err(n) => extra.push(n),
    }
}

/// Fills `slot` with a structure built by `build`, or keeps the node in `extra`.
pub(crate) fn take_with<T>(
    slot: &mut Option<T>,
    node: Node,
    extra: &mut Vec<Node>,
    build: impl FnOnce(Node) -> Result<T, Node>,
) {
    if slot.is_some() {
        extra.push(node);
        return;
    }
    match build(node) {
        Ok(v) => *slot = Some(v),
        Err(n) => extra.push(n),
    }
}
