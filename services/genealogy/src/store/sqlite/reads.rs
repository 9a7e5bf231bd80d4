//! Reads of a database file on rusqlite connections of their own, each read one blocking call
//! (in place on a multi-threaded runtime, see [`Readers::run`]).
//!
//! sqlx runs every SQLite connection on a worker thread and hands each row to the async task
//! over a channel, as owned values: a pedigree reads thousands of rows, and those hand-overs
//! (thread wake-ups, copies) took more time than SQLite itself. Here a whole read, page and
//! total, runs on one connection in one blocking call and comes back as decoded documents.
//! Writes stay on sqlx; WAL lets these connections read beside its writer, and each statement
//! reads the latest committed state, so a read after a commit sees it.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::types::{ToSqlOutput, Value as SqlValue, ValueRef};
use rusqlite::{Connection, OpenFlags, ToSql};
use tokio::runtime::{Handle, RuntimeFlavor};
use tokio::sync::Semaphore;

use super::sql::{self, Arg, Stmt};
use super::{BUSY_TIMEOUT, CACHE_KIB, Decode, MMAP_SIZE};
use crate::model::Collection;
use crate::store::changes;
use crate::store::{Changes, Query, StoreError};

/// Connections reading at once (as many as the sqlx pool has).
const READERS: usize = 8;
/// Prepared statements kept per connection: the fixed ones and the shapes of listing queries.
const STATEMENTS: usize = 64;

/// A small pool of read-only connections to one database file.
#[derive(Clone, Debug)]
pub(super) struct Readers {
    inner: Arc<Pool>,
}

#[derive(Debug)]
struct Pool {
    path: PathBuf,
    /// Connections not in use, most recently used last (its page cache is the warmest).
    idle: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
}

impl Readers {
    /// Readers of the file at `path`, which the writer has created already; one connection
    /// is opened now so that a file that cannot be read fails here rather than on first use.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let first = connect(path)?;
        Ok(Readers {
            inner: Arc::new(Pool {
                path: path.to_owned(),
                idle: Mutex::new(vec![first]),
                permits: Arc::new(Semaphore::new(READERS)),
            }),
        })
    }

    /// Runs `read` on a pooled connection: in place on a multi-threaded runtime, else in a
    /// blocking task.
    ///
    /// In place, the worker thread's other tasks move to another worker while it reads, and
    /// the rows are then decoded by the thread that read them. Handing each read to a blocking
    /// thread and back cost a cold pedigree (a read per generation, a thousand documents) about
    /// a fifth of its time on a two-core machine: wake-ups across cores, and rows copied on
    /// one core and decoded on the other.
    pub async fn run<T, F>(&self, read: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        // Waiting for a permit here, not in the blocking task, keeps a burst of reads from
        // occupying blocking threads that only wait.
        let permit = Arc::clone(&self.inner.permits)
            .acquire_owned()
            .await
            .map_err(|e| StoreError::Config(format!("read pool closed: {e}")))?;
        let pool = Arc::clone(&self.inner);
        let task = move || {
            let _permit = permit;
            let conn = match pool.take() {
                Some(conn) => conn,
                None => connect(&pool.path)?,
            };
            let out = read(&conn);
            pool.give(conn);
            out
        };
        // `block_in_place` panics on a current-thread runtime (tests, tools).
        let threaded =
            Handle::try_current().is_ok_and(|h| h.runtime_flavor() == RuntimeFlavor::MultiThread);
        if threaded {
            return tokio::task::block_in_place(task);
        }
        tokio::task::spawn_blocking(task).await?
    }
}

impl Pool {
    fn take(&self) -> Option<Connection> {
        // A panic elsewhere while holding the lock cannot leave the list half-changed (push and
        // pop only), so a poisoned lock is still usable.
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
    }

    fn give(&self, conn: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < READERS {
            idle.push(conn);
        }
    }
}

/// A read connection with the writer's settings and writes refused.
fn connect(path: &Path) -> Result<Connection, StoreError> {
    // Read-write (never creating the file) with `query_only` rather than a read-only open, so
    // that SQLite handles the WAL and its shared memory as for the writer's connections.
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL; PRAGMA mmap_size = {MMAP_SIZE}; \
         PRAGMA cache_size = -{CACHE_KIB}; PRAGMA temp_store = memory; PRAGMA query_only = 1;"
    ))?;
    conn.set_prepared_statement_cache_capacity(STATEMENTS);
    Ok(conn)
}

impl ToSql for Arg {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Arg::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Arg::Int(i) => ToSqlOutput::Owned(SqlValue::Integer(*i)),
            Arg::Real(f) => ToSqlOutput::Owned(SqlValue::Real(*f)),
        })
    }
}

/// The rows of `sql`, decoded.
pub(super) fn all<T: Decode>(
    conn: &Connection,
    sql: &str,
    args: &[Arg],
) -> Result<Vec<T>, StoreError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(rusqlite::params_from_iter(args))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(T::from_rusqlite(row)?);
    }
    Ok(out)
}

/// A query's page and its total.
pub(super) fn page<T: Decode>(conn: &Connection, q: &Query) -> Result<(Vec<T>, u64), StoreError> {
    if let Some(count) = sql::key_count(q) {
        // Total first, to read a deep page from the nearer end; one snapshot for both.
        let tx = conn.unchecked_transaction()?;
        let total = count_of(conn, &count)?;
        let (page, reversed) = sql::page_knowing(q, total)?;
        let mut items = all(conn, &page.sql, &page.args)?;
        tx.finish()?;
        if reversed {
            items.reverse();
        }
        return Ok((items, total));
    }
    let plan = sql::plan(q)?;
    let items = all(conn, &plan.page.sql, &plan.page.args)?;
    if let Some(total) = plan.window.known_total(items.len()) {
        return Ok((items, total));
    }
    Ok((items, count_of(conn, &plan.count)?))
}

/// The changes to `collection` after `since` (see [`crate::store::DocumentStore::changes`]),
/// bounds and ids from one snapshot.
pub(super) fn changes(
    conn: &Connection,
    collection: Collection,
    since: Option<u64>,
) -> Result<Changes, StoreError> {
    let tx = conn.unchecked_transaction()?;
    let (oldest, newest): (i64, i64) = conn
        .prepare_cached(sql::CHANGE_BOUNDS)?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let (oldest, newest) = (sql::mark(oldest), sql::mark(newest));
    let out = match changes::change_read(since, oldest, newest).to_read() {
        ControlFlow::Break(answer) => answer,
        ControlFlow::Continue((after, upto)) => {
            let args = sql::changed_ids_args(collection, after, upto);
            let mut stmt = conn.prepare_cached(sql::CHANGED_IDS)?;
            let ids = stmt
                .query_map(rusqlite::params_from_iter(&args), |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            changes::changes_of(ids, upto)
        }
    };
    tx.finish()?;
    Ok(out)
}

/// The single number a count statement selects.
fn count_of(conn: &Connection, count: &Stmt) -> Result<u64, StoreError> {
    let total: i64 = conn
        .prepare_cached(&count.sql)?
        .query_row(rusqlite::params_from_iter(&count.args), |r| r.get(0))?;
    Ok(u64::try_from(total).unwrap_or(0))
}
