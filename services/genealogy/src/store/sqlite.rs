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

use super::{Document, DocumentStore, Expect, Order, Page, Query, Select, StoreError, Write};
use crate::model::Collection;

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
            .busy_timeout(Duration::from_secs(10));
        let in_memory = options.get_filename() == Path::new(":memory:");
        let pool = SqlitePoolOptions::new()
            // An in-memory database lives in one connection; more would each see an empty one.
            .max_connections(if in_memory { 1 } else { 8 })
            .connect_with(options)
            .await?;
        Ok(Self { pool })
    }
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
            sql.push_str(&pair_list("k", pairs.len()));
            sql.push(')');
            for (k, v) in pairs {
                add(args, k.clone())?;
                add(args, v.clone())?;
            }
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
        sql.push_str(&pair_list("n", group.len()));
        sql.push_str("))");
        for (k, v) in group {
            add(args, k.clone())?;
            add(args, v.clone())?;
        }
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

fn pair_list(alias: &str, n: usize) -> String {
    if n == 0 {
        return "0".into();
    }
    vec![format!("({alias}.key = ? AND {alias}.value = ?)"); n].join(" OR ")
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
        rows.iter().map(decode).collect()
    }

    async fn find(&self, q: &Query) -> Result<Page, StoreError> {
        let mut args = SqliteArguments::default();
        let cond = where_clause(q, &mut args)?;
        let count_args = args.clone();
        let from = "FROM document_keys k JOIN documents d \
                    ON d.collection = k.collection AND d.id = k.id";
        let repeat = may_repeat(&q.select);
        let group = if repeat { " GROUP BY k.id" } else { "" };
        let sort_expr = if repeat { "MIN(k.sort)" } else { "k.sort" };
        let order = match q.order {
            Order::Sort => format!("{sort_expr} ASC, k.id ASC"),
            Order::SortDesc => format!("{sort_expr} DESC, k.id DESC"),
            Order::UpdatedDesc => "d.updated_at DESC, k.id DESC".into(),
            Order::Updated => "d.updated_at ASC, k.id ASC".into(),
        };
        let limit = q.limit.map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX));
        let offset = i64::try_from(q.offset).unwrap_or(i64::MAX);
        add(&mut args, limit)?;
        add(&mut args, offset)?;
        let sql = format!(
            "SELECT d.id AS id, d.body AS body, d.sort AS sort, d.updated_at AS updated_at \
             {from} WHERE {cond}{group} ORDER BY {order} LIMIT ? OFFSET ?"
        );
        let rows = sqlx::query_with(sqlx::AssertSqlSafe(sql), args)
            .fetch_all(&self.pool)
            .await?;
        let items = rows.iter().map(decode).collect::<Result<Vec<_>, _>>()?;
        let count_sql = if repeat {
            format!("SELECT COUNT(DISTINCT k.id) {from} WHERE {cond}")
        } else {
            format!("SELECT COUNT(*) {from} WHERE {cond}")
        };
        let total: i64 = sqlx::query_scalar_with(sqlx::AssertSqlSafe(count_sql), count_args)
            .fetch_one(&self.pool)
            .await?;
        Ok(Page {
            items,
            total: u64::try_from(total).unwrap_or(0),
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
