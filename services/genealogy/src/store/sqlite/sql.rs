//! The SQL of the adapter's reads, with arguments that both drivers (sqlx for in-memory
//! databases, rusqlite for files) bind, so the two read paths run the same statements.

use serde_json::Value;

use crate::model::Collection;
use crate::store::changes::MOST_CHANGES;
use crate::store::{Order, Query, Select, StoreError};

/// A bound argument.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Arg {
    /// TEXT.
    Text(String),
    /// INTEGER.
    Int(i64),
    /// REAL.
    Real(f64),
}

impl From<&str> for Arg {
    fn from(s: &str) -> Self {
        Arg::Text(s.to_owned())
    }
}

/// One document by id.
pub(super) const GET: &str =
    "SELECT id, body, sort, updated_at FROM documents WHERE collection = ? AND id = ?";

/// Documents by id: the ids as one JSON array, so any number of them is the same statement.
pub(super) const BY_IDS: &str = "SELECT id, body, sort, updated_at FROM documents \
     WHERE collection = ? AND id IN (SELECT value FROM json_each(?))";

/// The count the triggers of `key_counts` keep for one key (migration 0004), where there is
/// one; counting the range otherwise.
const KEY_COUNT: &str = "SELECT COALESCE(\
     (SELECT n FROM key_counts WHERE collection = ?1 AND key = ?2 AND value = ?3), \
     (SELECT COUNT(*) FROM document_keys WHERE collection = ?1 AND key = ?2 AND value = ?3))";

/// The oldest and newest change kept, `(0, 0)` when none is. Two subqueries: SQLite answers a
/// lone `MIN` or `MAX` from one end of the key, but both in one `SELECT` scan the table.
pub(super) const CHANGE_BOUNDS: &str = "SELECT \
     COALESCE((SELECT MIN(seq) FROM document_changes), 0), \
     COALESCE((SELECT MAX(seq) FROM document_changes), 0)";

/// The ids a collection's changes in `(?1, ?2]` touched, oldest first, at most `?4`
/// ([`MOST_CHANGES`] + 1: one more than a reply lists says there are more).
pub(super) const CHANGED_IDS: &str = "SELECT id FROM document_changes \
     WHERE seq > ?1 AND seq <= ?2 AND collection = ?3 ORDER BY seq LIMIT ?4";

/// A sequence number as read (never negative: AUTOINCREMENT starts at 1).
pub(super) fn mark(seq: i64) -> u64 {
    u64::try_from(seq).unwrap_or(0)
}

/// The arguments of [`CHANGED_IDS`].
pub(super) fn changed_ids_args(collection: Collection, after: u64, upto: u64) -> Vec<Arg> {
    let int = |n: u64| Arg::Int(i64::try_from(n).unwrap_or(i64::MAX));
    vec![
        int(after),
        int(upto),
        collection.as_str().into(),
        int(MOST_CHANGES + 1),
    ]
}

/// The arguments of [`BY_IDS`].
pub(super) fn by_ids_args(collection: &str, ids: &[String]) -> Vec<Arg> {
    let ids = serde_json::to_string(ids).unwrap_or_else(|_| "[]".into());
    vec![collection.into(), Arg::Text(ids)]
}

/// A statement and its arguments.
#[derive(Clone, Debug)]
pub(super) struct Stmt {
    /// The SQL.
    pub sql: String,
    /// Its arguments, in order.
    pub args: Vec<Arg>,
}

/// A query's page statement (`id`, `body`, `sort`, `updated_at`) and its total's.
#[derive(Clone, Debug)]
pub(super) struct Plan {
    /// The page.
    pub page: Stmt,
    /// A single `COUNT` row, run only when the page does not tell the total.
    pub count: Stmt,
    /// Which part of the matches the page is.
    pub window: Window,
}

/// A page's offset and limit.
#[derive(Clone, Copy, Debug)]
pub(super) struct Window {
    offset: u64,
    limit: Option<u64>,
}

impl Window {
    /// The total when the page tells it: a short page that is not past the end.
    pub fn known_total(self, fetched: usize) -> Option<u64> {
        let fetched = u64::try_from(fetched).unwrap_or(u64::MAX);
        let short = self.limit.is_none_or(|l| fetched < l);
        (short && (fetched > 0 || self.offset == 0)).then_some(self.offset + fetched)
    }
}

/// The statements of a query.
pub(super) fn plan(q: &Query) -> Result<Plan, StoreError> {
    let mut args = Vec::new();
    let cond = where_clause(q, &mut args)?;
    let count_args = args.clone();
    let repeat = may_repeat(&q.select);
    // The page is chosen on the keys alone (the sort string is in the key rows, so a
    // listing is a covering index range) and only its documents are read: an offset skips
    // index entries, not documents. Field filters and update order need the documents.
    let needs_doc = !q.fields.is_empty() || matches!(q.order, Order::Updated | Order::UpdatedDesc);
    let from = if needs_doc {
        "document_keys k JOIN documents d ON d.collection = k.collection AND d.id = k.id"
    } else {
        "document_keys k"
    };
    // `+k.id`: grouping on the bare column lets SQLite satisfy it by scanning the whole
    // collection in `document_keys_by_document` order instead of seeking the selected keys.
    let group = if repeat { " GROUP BY +k.id" } else { "" };
    let sort_expr = if repeat { "MIN(k.sort)" } else { "k.sort" };
    let updated = if needs_doc { "d.updated_at" } else { "0" };
    let (inner_order, outer_order) = match q.order {
        Order::Sort => ("s ASC, id ASC", "p.s ASC, p.id ASC"),
        Order::SortDesc => ("s DESC, id DESC", "p.s DESC, p.id DESC"),
        Order::UpdatedDesc => ("u DESC, id DESC", "p.u DESC, p.id DESC"),
        Order::Updated => ("u ASC, id ASC", "p.u ASC, p.id ASC"),
    };
    let limit = q.limit.map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX));
    let offset = i64::try_from(q.offset).unwrap_or(i64::MAX);
    args.push(Arg::Int(limit));
    args.push(Arg::Int(offset));
    args.push(q.collection.as_str().into());
    let page = Stmt {
        sql: format!(
            "SELECT d.id AS id, d.body AS body, d.sort AS sort, d.updated_at AS updated_at \
             FROM (SELECT k.id AS id, {sort_expr} AS s, {updated} AS u FROM {from} \
             WHERE {cond}{group} ORDER BY {inner_order} LIMIT ? OFFSET ?) p \
             JOIN documents d ON d.collection = ? AND d.id = p.id ORDER BY {outer_order}"
        ),
        args,
    };
    let count = if let Some(count) = key_count(q) {
        count
    } else if repeat {
        Stmt {
            sql: format!("SELECT COUNT(*) FROM (SELECT 1 FROM {from} WHERE {cond}{group})"),
            args: count_args,
        }
    } else {
        Stmt {
            sql: format!("SELECT COUNT(*) FROM {from} WHERE {cond}"),
            args: count_args,
        }
    };
    Ok(Plan {
        page,
        count,
        window: Window {
            offset: q.offset,
            limit: q.limit,
        },
    })
}

/// The one key and value a query selects by, when that is all it asks.
fn single_key(q: &Query) -> Option<(&str, &str)> {
    match (&q.select, q.narrow.is_empty() && q.fields.is_empty()) {
        (Select::Any(pairs), true) => match pairs.as_slice() {
            [(key, value)] => Some((key, value)),
            _ => None,
        },
        _ => None,
    }
}

/// The count of a query that selects by one key and value alone: kept ahead by migration
/// 0004's triggers where it can be, so it costs one lookup and can be known before the page.
pub(super) fn key_count(q: &Query) -> Option<Stmt> {
    let (key, value) = single_key(q)?;
    Some(Stmt {
        sql: KEY_COUNT.to_owned(),
        args: vec![q.collection.as_str().into(), key.into(), value.into()],
    })
}

/// The page statement of a query whose total is known, and whether its rows come back
/// reversed (a deep window is read from the nearer end: [`Query::from_the_end`]).
pub(super) fn page_knowing(q: &Query, total: u64) -> Result<(Stmt, bool), StoreError> {
    let near = q.from_the_end(total);
    Ok((plan(near.as_ref().unwrap_or(q))?.page, near.is_some()))
}

/// The WHERE clause (over `k` joined to `d`) and its arguments for a query.
fn where_clause(q: &Query, args: &mut Vec<Arg>) -> Result<String, StoreError> {
    let mut sql = String::from("k.collection = ?");
    args.push(q.collection.as_str().into());
    match &q.select {
        Select::Any(pairs) => {
            sql.push_str(" AND (");
            sql.push_str(&pairs_cond("k", pairs, args));
            sql.push(')');
        }
        Select::Prefix { key, prefix } => {
            // A half-open range keeps the prefix match on the index (LIKE would not, and would
            // treat % and _ in names as wildcards).
            sql.push_str(" AND k.key = ? AND k.value >= ? AND k.value < ?");
            args.push(key.as_str().into());
            args.push(prefix.as_str().into());
            args.push(Arg::Text(format!("{prefix}\u{10FFFF}")));
        }
    }
    for group in &q.narrow {
        sql.push_str(
            " AND EXISTS (SELECT 1 FROM document_keys n WHERE n.collection = k.collection \
             AND n.id = k.id AND (",
        );
        sql.push_str(&pairs_cond("n", group, args));
        sql.push_str("))");
    }
    for (field, value) in &q.fields {
        // Field names come from code, never from requests; check anyway so a path can never
        // be smuggled into the JSON path expression.
        if !field.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(StoreError::Corrupt(field.clone(), "bad field name".into()));
        }
        sql.push_str(&format!(" AND json_extract(d.body, '$.{field}') = ?"));
        args.push(match value {
            Value::String(s) => Arg::Text(s.clone()),
            Value::Bool(b) => Arg::Int(i64::from(*b)),
            Value::Number(n) => Arg::Real(n.as_f64().unwrap_or_default()),
            other => Arg::Text(other.to_string()),
        });
    }
    Ok(sql)
}

/// `alias` has one of `pairs`: per key, one equality or (several values) one `IN` over a JSON
/// array, so that any number of values is one index seek each and the same SQL text (cached as a
/// prepared statement), where an `OR` per pair would hit SQLite's expression depth limit (1000).
fn pairs_cond(alias: &str, pairs: &[(String, String)], args: &mut Vec<Arg>) -> String {
    let mut keys: Vec<(&str, Vec<&str>)> = Vec::new();
    for (k, v) in pairs {
        match keys.iter_mut().find(|(key, _)| key == k) {
            Some((_, values)) => values.push(v),
            None => keys.push((k, vec![v])),
        }
    }
    if keys.is_empty() {
        return "0".into();
    }
    let mut parts = Vec::with_capacity(keys.len());
    for (key, values) in keys {
        args.push(key.into());
        if let [one] = values.as_slice() {
            parts.push(format!("({alias}.key = ? AND {alias}.value = ?)"));
            args.push((*one).into());
        } else {
            parts.push(format!(
                "({alias}.key = ? AND {alias}.value IN (SELECT value FROM json_each(?)))"
            ));
            args.push(Arg::Text(
                serde_json::to_string(&values).unwrap_or_else(|_| "[]".into()),
            ));
        }
    }
    parts.join(" OR ")
}

/// Whether one document can match the starting set more than once.
fn may_repeat(select: &Select) -> bool {
    match select {
        Select::Any(pairs) => pairs.len() > 1,
        Select::Prefix { .. } => true,
    }
}
