//! SQLite adapter: the embedded default, one file (`<data_dir>/genealogy.db`).
//!
//! Writes, migrations and `ping` run on sqlx. Reads of a file opened with [`SqliteStore::open`]
//! run on rusqlite connections of their own ([`reads`]); a store opened by URL
//! ([`SqliteStore::open_url`], `sqlite::memory:` in tests) reads through sqlx too: an in-memory
//! database exists only inside sqlx's connections. Both read paths run the same statements
//! ([`sql`]).

mod reads;
mod sql;

use std::borrow::Cow;
use std::ops::ControlFlow;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteRow, SqliteSynchronous,
};
use sqlx::{Arguments as _, Row as _};

use super::changes;
use super::{
    Changes, Document, DocumentStore, Expect, Page, Query, StoreError, TextDocument, TextPage,
    Write,
};
use crate::model::Collection;
use reads::Readers;
use sql::{Arg, Plan};

/// Bytes of the database file SQLite may memory-map.
const MMAP_SIZE: u64 = 1 << 30;
/// Page cache per connection, in KiB.
const CACHE_KIB: i64 = 16 * 1024;
/// How long a statement waits for a lock held by another connection.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The documents port on SQLite.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// Readers of the file, or `None` to read through `pool`.
    readers: Option<Readers>,
}

impl SqliteStore {
    /// Opens (creating if missing) the database file at `path`.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let pool = Self::connect(
            SqliteConnectOptions::new()
                .filename(path)
                .create_if_missing(true),
        )
        .await?;
        // After the writer's pool: it has created the file and put it in WAL mode.
        let readers = Readers::open(path)?;
        Ok(Self {
            pool,
            readers: Some(readers),
        })
    }

    /// Opens a `sqlite:` URL (`sqlite::memory:` for a private in-memory database); reads and
    /// writes both go through sqlx.
    pub async fn open_url(url: &str) -> Result<Self, StoreError> {
        let pool =
            Self::connect(SqliteConnectOptions::from_str(url)?.create_if_missing(true)).await?;
        Ok(Self {
            pool,
            readers: None,
        })
    }

    async fn connect(options: SqliteConnectOptions) -> Result<SqlitePool, StoreError> {
        let options = options
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT)
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
        Ok(pool)
    }
}

impl SqliteStore {
    /// The rows of `sql`, decoded.
    async fn fetch<T: Decode>(
        &self,
        sql: Cow<'static, str>,
        args: Vec<Arg>,
    ) -> Result<Vec<T>, StoreError> {
        if let Some(readers) = &self.readers {
            return readers.run(move |conn| reads::all(conn, &sql, &args)).await;
        }
        rows(&self.pool, sql, args).await
    }

    /// Documents by id.
    async fn by_ids<T: Decode>(
        &self,
        collection: Collection,
        ids: &[String],
    ) -> Result<Vec<T>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let args = sql::by_ids_args(collection.as_str(), ids);
        self.fetch(Cow::Borrowed(sql::BY_IDS), args).await
    }

    /// A query's page and the total.
    async fn page<T: Decode>(&self, q: &Query) -> Result<(Vec<T>, u64), StoreError> {
        if let Some(readers) = &self.readers {
            // Page and count on one connection in one task: one hand-over instead of two.
            let q = q.clone();
            return readers.run(move |conn| reads::page(conn, &q)).await;
        }
        if let Some(count) = sql::key_count(q) {
            // As `reads::page` does, in one transaction so count and page see one snapshot.
            let mut tx = self.pool.begin().await?;
            let total = number(&mut *tx, count).await?;
            let (page, reversed) = sql::page_knowing(q, total)?;
            let mut items: Vec<T> = rows(&mut *tx, page.sql, page.args).await?;
            tx.commit().await?;
            if reversed {
                items.reverse();
            }
            return Ok((items, total));
        }
        let plan = sql::plan(q)?;
        let Plan {
            page,
            count,
            window,
        } = plan;
        let items = self.fetch(Cow::Owned(page.sql), page.args).await?;
        if let Some(total) = window.known_total(items.len()) {
            return Ok((items, total));
        }
        Ok((items, number(&self.pool, count).await?))
    }
}

/// The rows of `sql`, decoded, through sqlx on `db` (the pool, or an open transaction).
async fn rows<'c, T: Decode>(
    db: impl sqlx::SqliteExecutor<'c>,
    sql: impl Into<String>,
    args: Vec<Arg>,
) -> Result<Vec<T>, StoreError> {
    sqlx::query_with(sqlx::AssertSqlSafe(sql.into()), sqlx_args(args)?)
        .fetch_all(db)
        .await?
        .iter()
        .map(T::from_sqlx)
        .collect()
}

/// The single number a count statement selects, through sqlx on `db`.
async fn number<'c>(
    db: impl sqlx::SqliteExecutor<'c>,
    count: sql::Stmt,
) -> Result<u64, StoreError> {
    let total: i64 =
        sqlx::query_scalar_with(sqlx::AssertSqlSafe(count.sql), sqlx_args(count.args)?)
            .fetch_one(db)
            .await?;
    Ok(u64::try_from(total).unwrap_or(0))
}

/// How a result row becomes a document, on either driver.
trait Decode: Sized + Send + 'static {
    /// From a rusqlite row of `id, body, sort, updated_at`.
    fn from_rusqlite(row: &rusqlite::Row<'_>) -> Result<Self, StoreError>;
    /// From a sqlx row with those columns.
    fn from_sqlx(row: &SqliteRow) -> Result<Self, StoreError>;
}

impl Decode for TextDocument {
    fn from_rusqlite(row: &rusqlite::Row<'_>) -> Result<Self, StoreError> {
        Ok(TextDocument {
            id: row.get(0)?,
            body: row.get(1)?,
        })
    }

    fn from_sqlx(row: &SqliteRow) -> Result<Self, StoreError> {
        Ok(TextDocument {
            id: row.try_get("id")?,
            body: row.try_get("body")?,
        })
    }
}

impl Decode for Document {
    fn from_rusqlite(row: &rusqlite::Row<'_>) -> Result<Self, StoreError> {
        let id: String = row.get(0)?;
        // Parsed from the borrowed text: the body is not kept as a string.
        let body = match row.get_ref(1)? {
            rusqlite::types::ValueRef::Text(text) => serde_json::from_slice::<Value>(text),
            other => {
                return Err(StoreError::Corrupt(
                    id,
                    format!("body is {:?}, not text", other.data_type()),
                ));
            }
        }
        .map_err(|e| StoreError::Corrupt(id.clone(), e.to_string()))?;
        Ok(Document {
            id,
            body,
            keys: Vec::new(),
            sort: row.get(2)?,
            updated_at: row.get(3)?,
        })
    }

    fn from_sqlx(row: &SqliteRow) -> Result<Self, StoreError> {
        let id: String = row.try_get("id")?;
        let body: String = row.try_get("body")?;
        let body: Value = serde_json::from_str(&body)
            .map_err(|e| StoreError::Corrupt(id.clone(), e.to_string()))?;
        Ok(Document {
            id,
            body,
            keys: Vec::new(),
            sort: row.try_get("sort")?,
            updated_at: row.try_get("updated_at")?,
        })
    }
}

/// sqlx arguments for `args`.
fn sqlx_args(args: Vec<Arg>) -> Result<SqliteArguments, StoreError> {
    let mut out = SqliteArguments::default();
    for arg in args {
        match arg {
            Arg::Text(s) => out.add(s),
            Arg::Int(i) => out.add(i),
            Arg::Real(f) => out.add(f),
        }
        .map_err(|e| StoreError::Database(sqlx::Error::Encode(e)))?;
    }
    Ok(out)
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
        let args = vec![collection.as_str().into(), id.into()];
        Ok(self.fetch(Cow::Borrowed(sql::GET), args).await?.pop())
    }

    async fn get_many(
        &self,
        collection: Collection,
        ids: &[String],
    ) -> Result<Vec<Document>, StoreError> {
        self.by_ids(collection, ids).await
    }

    async fn get_many_text(
        &self,
        collection: Collection,
        ids: &[String],
    ) -> Result<Vec<TextDocument>, StoreError> {
        self.by_ids(collection, ids).await
    }

    async fn find(&self, q: &Query) -> Result<Page, StoreError> {
        let (items, total) = self.page(q).await?;
        Ok(Page { items, total })
    }

    async fn find_text(&self, q: &Query) -> Result<TextPage, StoreError> {
        let (items, total) = self.page(q).await?;
        Ok(TextPage { items, total })
    }

    async fn changes(
        &self,
        collection: Collection,
        since: Option<u64>,
    ) -> Result<Option<Changes>, StoreError> {
        if !changes::TRACKED.contains(&collection) {
            return Ok(None);
        }
        if let Some(readers) = &self.readers {
            let read = move |conn: &rusqlite::Connection| reads::changes(conn, collection, since);
            return readers.run(read).await.map(Some);
        }
        // As `reads::changes`, in one transaction so bounds and ids see one snapshot.
        let mut tx = self.pool.begin().await?;
        let (oldest, newest): (i64, i64) = sqlx::query_as(sql::CHANGE_BOUNDS)
            .fetch_one(&mut *tx)
            .await?;
        let out = match changes::change_read(since, sql::mark(oldest), sql::mark(newest)).to_read()
        {
            ControlFlow::Break(answer) => answer,
            ControlFlow::Continue((after, upto)) => {
                let args = sqlx_args(sql::changed_ids_args(collection, after, upto))?;
                let ids: Vec<String> = sqlx::query_scalar_with(sql::CHANGED_IDS, args)
                    .fetch_all(&mut *tx)
                    .await?;
                changes::changes_of(ids, upto)
            }
        };
        tx.commit().await?;
        Ok(Some(out))
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

#[cfg(test)]
mod tests;
