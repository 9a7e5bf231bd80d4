//! SQLite adapter: the embedded default, one file (`<data_dir>/genealogy.db`).

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteRow, SqliteSynchronous,
};
use sqlx::{Arguments as _, Row as _, Sqlite};

use super::{
    Document, DocumentStore, Expect, Order, Page, Query, Select, StoreError, TextDocument,
    TextPage, Write,
};
use crate::model::Collection;

/// Bytes of the database file SQLite may memory-map.
const MMAP_SIZE: u64 = 1 << 30;
/// Page cache per connection, in KiB.
const CACHE_KIB: i64 = 16 * 1024;

/// The documents port on SQLite.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if missing) the database file at `path`.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        Self::connect(
            SqliteConnectOptions::new()
                .filename(path)
                .create_if_missing(true),
        )
        .await
    }

    /// Opens a `sqlite:` URL (`sqlite::memory:` for a private in-memory database).
    pub async fn open_url(url: &str) -> Result<Self, StoreError> {
        Self::connect(SqliteConnectOptions::from_str(url)?.create_if_missing(true)).await
    }

    async fn connect(options: SqliteConnectOptions) -> Result<Self, StoreError> {
        let options = options
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            // Reads through a memory map instead of a pread copy per page, and a larger page
            // cache per connection (the default 2 MB makes a pedigree or a page of a 100,000
            // person tree re-read most of its pages from the OS on every call).
            .pragma("mmap_size", MMAP_SIZE.to_string())
            .pragma("cache_size", (-CACHE_KIB).to_string())
            .pragma("temp_store", "memory");
        let in_memory = options.get_filename() == Path::new(":memory:");
        let pool = SqlitePoolOptions::new()
            // An in-memory database lives in one connection; more would each see an empty one.
            .max_connections(if in_memory { 1 } else { 8 })
            .connect_with(options)
            .await?;
        Ok(Self { pool })
    }
}

impl SqliteStore {
    /// The rows of documents by id.
    async fn rows_by_id(
        &self,
        collection: Collection,
        ids: &[String],
    ) -> Result<Vec<SqliteRow>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids = serde_json::to_string(ids).unwrap_or_else(|_| "[]".into());
        let rows = sqlx::query(
            "SELECT id, body, sort, updated_at FROM documents \
             WHERE collection = ? AND id IN (SELECT value FROM json_each(?))",
        )
        .bind(collection.as_str())
        .bind(ids)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    /// The rows of a query's page (`id`, `body`, `sort`, `updated_at`) and the total.
    async fn rows_of(&self, q: &Query) -> Result<(Vec<SqliteRow>, u64), StoreError> {
        let mut args = SqliteArguments::default();
        let cond = where_clause(q, &mut args)?;
        let count_args = args.clone();
        let repeat = may_repeat(&q.select);
        // The page is chosen on the keys alone (the sort string is in the key rows, so a
        // listing is a covering index range) and only its documents are read: an offset skips
        // index entries, not documents. Field filters and update order need the documents.
        let needs_doc =
            !q.fields.is_empty() || matches!(q.order, Order::Updated | Order::UpdatedDesc);
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
        add(&mut args, limit)?;
        add(&mut args, offset)?;
        add(&mut args, q.collection.as_str().to_owned())?;
        let sql = format!(
            "SELECT d.id AS id, d.body AS body, d.sort AS sort, d.updated_at AS updated_at \
             FROM (SELECT k.id AS id, {sort_expr} AS s, {updated} AS u FROM {from} \
             WHERE {cond}{group} ORDER BY {inner_order} LIMIT ? OFFSET ?) p \
             JOIN documents d ON d.collection = ? AND d.id = p.id ORDER BY {outer_order}"
        );
        let rows = sqlx::query_with(sqlx::AssertSqlSafe(sql), args)
            .fetch_all(&self.pool)
            .await?;
        // A short page (that is not past the end) tells the total without counting.
        let fetched = u64::try_from(rows.len()).unwrap_or(u64::MAX);
        let short = q.limit.is_none_or(|l| fetched < l);
        if short && (fetched > 0 || q.offset == 0) {
            return Ok((rows, q.offset + fetched));
        }
        // One key and nothing else: the count the triggers of `key_counts` keep, where there
        // is one (migration 0004); counting the range otherwise.
        if let (Select::Any(pairs), true) = (&q.select, q.narrow.is_empty() && q.fields.is_empty())
            && let [(key, value)] = pairs.as_slice()
        {
            let total: i64 = sqlx::query_scalar(
                "SELECT COALESCE(\
                 (SELECT n FROM key_counts WHERE collection = ?1 AND key = ?2 AND value = ?3), \
                 (SELECT COUNT(*) FROM document_keys WHERE collection = ?1 AND key = ?2 AND value = ?3))",
            )
            .bind(q.collection.as_str())
            .bind(key)
            .bind(value)
            .fetch_one(&self.pool)
            .await?;
            return Ok((rows, u64::try_from(total).unwrap_or(0)));
        }
        let count_sql = if repeat {
            format!("SELECT COUNT(*) FROM (SELECT 1 FROM {from} WHERE {cond}{group})")
        } else {
            format!("SELECT COUNT(*) FROM {from} WHERE {cond}")
        };
        let total: i64 = sqlx::query_scalar_with(sqlx::AssertSqlSafe(count_sql), count_args)
            .fetch_one(&self.pool)
            .await?;
        Ok((rows, u64::try_from(total).unwrap_or(0)))
    }
}

fn decode_text(row: &SqliteRow) -> Result<TextDocument, StoreError> {
    Ok(TextDocument {
        id: row.try_get("id")?,
        body: row.try_get("body")?,
    })
}

fn decode(row: &SqliteRow) -> Result<Document, StoreError> {
    let id: String = row.try_get("id")?;
    let body: String = row.try_get("body")?;
    let body: Value =
        serde_json::from_str(&body).map_err(|e| StoreError::Corrupt(id.clone(), e.to_string()))?;
    Ok(Document {
        id,
        body,
        keys: Vec::new(),
        sort: row.try_get("sort")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// The WHERE clause (over `k` joined to `d`) and its arguments for a query.
fn where_clause(q: &Query, args: &mut SqliteArguments) -> Result<String, StoreError> {
    let mut sql = String::from("k.collection = ?");
    add(args, q.collection.as_str().to_owned())?;
    match &q.select {
        Select::Any(pairs) => {
            sql.push_str(" AND (");
            sql.push_str(&pairs_cond("k", pairs, args)?);
            sql.push(')');
        }
        Select::Prefix { key, prefix } => {
            // A half-open range keeps the prefix match on the index (LIKE would not, and would
            // treat % and _ in names as wildcards).
            sql.push_str(" AND k.key = ? AND k.value >= ? AND k.value < ?");
            add(args, key.clone())?;
            add(args, prefix.clone())?;
            add(args, format!("{prefix}\u{10FFFF}"))?;
        }
    }
    for group in &q.narrow {
        sql.push_str(
            " AND EXISTS (SELECT 1 FROM document_keys n WHERE n.collection = k.collection \
             AND n.id = k.id AND (",
        );
        sql.push_str(&pairs_cond("n", group, args)?);
        sql.push_str("))");
    }
    for (field, value) in &q.fields {
        // Field names come from code, never from requests; check anyway so a path can never
        // be smuggled into the JSON path expression.
        if !field.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(StoreError::Corrupt(field.clone(), "bad field name".into()));
        }
        sql.push_str(&format!(" AND json_extract(d.body, '$.{field}') = ?"));
        match value {
            Value::String(s) => add(args, s.clone())?,
            Value::Bool(b) => add(args, i64::from(*b))?,
            Value::Number(n) => add(args, n.as_f64().unwrap_or_default())?,
            other => add(args, other.to_string())?,
        }
    }
    Ok(sql)
}

/// `alias` has one of `pairs`: per key, one equality or (several values) one `IN` over a JSON
/// array, so that any number of values is one index seek each and the same SQL text (cached as a
/// prepared statement), where an `OR` per pair would hit SQLite's expression depth limit (1000).
fn pairs_cond(
    alias: &str,
    pairs: &[(String, String)],
    args: &mut SqliteArguments,
) -> Result<String, StoreError> {
    let mut keys: Vec<(&str, Vec<&str>)> = Vec::new();
    for (k, v) in pairs {
        match keys.iter_mut().find(|(key, _)| key == k) {
            Some((_, values)) => values.push(v),
            None => keys.push((k, vec![v])),
        }
    }
    if keys.is_empty() {
        return Ok("0".into());
    }
    let mut parts = Vec::with_capacity(keys.len());
    for (key, values) in keys {
        add(args, key.to_owned())?;
        if let [one] = values.as_slice() {
            parts.push(format!("({alias}.key = ? AND {alias}.value = ?)"));
            add(args, (*one).to_owned())?;
        } else {
            parts.push(format!(
                "({alias}.key = ? AND {alias}.value IN (SELECT value FROM json_each(?)))"
            ));
            add(
                args,
                serde_json::to_string(&values).unwrap_or_else(|_| "[]".into()),
            )?;
        }
    }
    Ok(parts.join(" OR "))
}

fn add<'q, T>(args: &mut SqliteArguments, v: T) -> Result<(), StoreError>
where
    T: 'q + Send + sqlx::Encode<'q, Sqlite> + sqlx::Type<Sqlite>,
{
    args.add(v)
        .map_err(|e| StoreError::Database(sqlx::Error::Encode(e)))
}

/// Whether one document can match the starting set more than once.
fn may_repeat(select: &Select) -> bool {
    match select {
        Select::Any(pairs) => pairs.len() > 1,
        Select::Prefix { .. } => true,
    }
}

#[async_trait]
impl DocumentStore for SqliteStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        // A migrations table of its own, like auth and jobs, so the services can share a database.
        let mut migrator = sqlx::migrate!("./migrations/sqlite");
        migrator.dangerous_set_table_name("_sqlx_migrations_genealogy");
        migrator.run(&self.pool).await?;
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn get(&self, collection: Collection, id: &str) -> Result<Option<Document>, StoreError> {
        let row = sqlx::query(
            "SELECT id, body, sort, updated_at FROM documents WHERE collection = ? AND id = ?",
        )
        .bind(collection.as_str())
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(decode).transpose()
    }

    async fn get_many(
        &self,
        collection: Collection,
        ids: &[String],
    ) -> Result<Vec<Document>, StoreError> {
        self.rows_by_id(collection, ids)
            .await?
            .iter()
            .map(decode)
            .collect()
    }

    async fn get_many_text(
        &self,
        collection: Collection,
        ids: &[String],
    ) -> Result<Vec<TextDocument>, StoreError> {
        self.rows_by_id(collection, ids)
            .await?
            .iter()
            .map(decode_text)
            .collect()
    }

    async fn find(&self, q: &Query) -> Result<Page, StoreError> {
        let (rows, total) = self.rows_of(q).await?;
        Ok(Page {
            items: rows.iter().map(decode).collect::<Result<_, _>>()?,
            total,
        })
    }

    async fn find_text(&self, q: &Query) -> Result<TextPage, StoreError> {
        let (rows, total) = self.rows_of(q).await?;
        Ok(TextPage {
            items: rows.iter().map(decode_text).collect::<Result<_, _>>()?,
            total,
        })
    }

    async fn commit(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        // IMMEDIATE takes the write lock up front: checking preconditions and then writing
        // inside a deferred transaction could fail to upgrade under concurrent writers.
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        for w in writes {
            let coll = w.collection.as_str();
            if w.expect != Expect::Any {
                let current: Option<String> = sqlx::query_scalar(
                    "SELECT body FROM documents WHERE collection = ? AND id = ?",
                )
                .bind(coll)
                .bind(&w.id)
                .fetch_optional(&mut *tx)
                .await?;
                let current: Option<Value> = current.and_then(|b| serde_json::from_str(&b).ok());
                let ok = match (&w.expect, &current) {
                    (Expect::Absent, None) => true,
                    (Expect::Body(want), Some(have)) => want == have,
                    _ => false,
                };
                if !ok {
                    return Err(StoreError::Conflict {
                        collection: w.collection,
                        id: w.id,
                    });
                }
            }
            sqlx::query("DELETE FROM document_keys WHERE collection = ? AND id = ?")
                .bind(coll)
                .bind(&w.id)
                .execute(&mut *tx)
                .await?;
            match w.doc {
                None => {
                    sqlx::query("DELETE FROM documents WHERE collection = ? AND id = ?")
                        .bind(coll)
                        .bind(&w.id)
                        .execute(&mut *tx)
                        .await?;
                }
                Some(doc) => {
                    sqlx::query(
                        "INSERT INTO documents (collection, id, body, sort, updated_at) \
                         VALUES (?, ?, ?, ?, ?) ON CONFLICT (collection, id) DO UPDATE SET \
                         body = excluded.body, sort = excluded.sort, \
                         updated_at = excluded.updated_at",
                    )
                    .bind(coll)
                    .bind(&w.id)
                    .bind(doc.body.to_string())
                    .bind(&doc.sort)
                    .bind(doc.updated_at)
                    .execute(&mut *tx)
                    .await?;
                    for (key, value) in &doc.keys {
                        sqlx::query(
                            "INSERT OR IGNORE INTO document_keys (collection, key, value, sort, id) \
                             VALUES (?, ?, ?, ?, ?)",
                        )
                        .bind(coll)
                        .bind(key)
                        .bind(value)
                        .bind(&doc.sort)
                        .bind(&w.id)
                        .execute(&mut *tx)
                        .await?;
                    }
                }
            }
        }
        tx.commit().await?;
        Ok(())
    }
}
