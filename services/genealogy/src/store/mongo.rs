//! MongoDB adapter: the cluster's documents store, one MongoDB collection per [`Collection`].
//!
//! A stored document is `{_id, body, keys, sort, updated_at}`: `body` is the JSON body as BSON
//! (object keys that BSON or MongoDB cannot hold verbatim are escaped, see [`escape_key`]),
//! `keys` is the array of index pairs as `"key\u{1f}value"` strings so that one multikey index
//! serves every selection, prefix search and narrowing, and `sort` / `updated_at` order listings.
//! [`DocumentStore::commit`] runs as one multi-document transaction (snapshot reads, majority
//! writes), retried as a whole on the server's transient transaction errors (write conflicts), so
//! it needs a replica set or a sharded cluster, as MongoDB transactions do. Commits that write
//! vitals also append to a change log in the same transaction ([`DocumentStore::changes`]).

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures_util::TryStreamExt as _;
use mongodb::bson::{Bson, Document as BsonDocument, doc};
use mongodb::error::{ErrorKind, TRANSIENT_TRANSACTION_ERROR, UNKNOWN_TRANSACTION_COMMIT_RESULT};
use mongodb::options::{ClientOptions, IndexOptions, ReadConcern, ReturnDocument, WriteConcern};
use mongodb::{Client, ClientSession, Database, IndexModel};
use serde_json::{Map, Number, Value};

use super::changes::{self, KEPT_CHANGES, MOST_CHANGES};
use super::{
    Changes, Document, DocumentStore, Expect, Order, Page, Query, Select, StoreError, Write,
};
use crate::model::Collection;

/// Separates a key from its value in the `keys` array; key names never contain it.
const SEP: char = '\u{1f}';
/// Database used when the URL names none.
pub const DEFAULT_DATABASE: &str = "dzinza";
/// Ids per `$in` list: keeps every filter far below the 16 MiB BSON document limit.
const IN_CHUNK: usize = 10_000;
/// How long a commit keeps retrying transient transaction errors (the driver's own
/// `with_transaction` uses the same window).
const RETRY_WINDOW: Duration = Duration::from_secs(120);
/// Where this adapter records which schema steps it applied.
const MIGRATIONS: &str = "_dzinza_migrations";
/// The schema step [`DocumentStore::migrate`] brings a database to (2: the change log's
/// collections).
const SCHEMA_VERSION: i64 = 2;
/// The change log of the tracked collections ([`changes::TRACKED`]): `{_id: seq, collection,
/// id}`, `seq` numbering changes in commit order (see [`MongoStore::log_changes`]).
const CHANGES: &str = "_dzinza_document_changes";
/// Where the change log's last sequence number is kept: `{_id: CHANGES, seq}`.
const COUNTERS: &str = "_dzinza_counters";
/// The change log is trimmed when its numbers cross a multiple of this.
const TRIM_EVERY: i64 = 1000;
/// MongoDB's `NamespaceExists` error code (a collection created concurrently).
const NAMESPACE_EXISTS: i32 = 48;

/// The documents port on MongoDB.
#[derive(Clone, Debug)]
pub struct MongoStore {
    client: Client,
    db: Database,
}

impl MongoStore {
    /// Connects to `url` (`mongodb://` or `mongodb+srv://`), using the database the URL names,
    /// or [`DEFAULT_DATABASE`]. Nothing is sent until the first operation.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::open(url, None).await
    }

    /// Connects to `url` and uses `database` whatever the URL names (tests use one database each).
    pub async fn connect_database(url: &str, database: &str) -> Result<Self, StoreError> {
        Self::open(url, Some(database)).await
    }

    async fn open(url: &str, database: Option<&str>) -> Result<Self, StoreError> {
        let mut options = ClientOptions::parse(url)
            .await
            .map_err(|e| StoreError::Config(redact(url, &e.to_string())))?;
        options
            .app_name
            .get_or_insert_with(|| "dzinza-genealogy".to_owned());
        let name = database
            .map(str::to_owned)
            .or_else(|| options.default_database.clone())
            .unwrap_or_else(|| DEFAULT_DATABASE.to_owned());
        let client = Client::with_options(options)
            .map_err(|e| StoreError::Config(redact(url, &e.to_string())))?;
        let db = client.database(&name);
        Ok(Self { client, db })
    }

    /// The database this store uses.
    pub fn database_name(&self) -> &str {
        self.db.name()
    }

    fn coll(&self, c: Collection) -> mongodb::Collection<BsonDocument> {
        self.db.collection(c.as_str())
    }

    /// Creates the collection unless it exists: a transaction may not create one implicitly on
    /// every server version, and a concurrent `migrate` may create it first.
    async fn ensure_collection(&self, name: &str, existing: &[String]) -> Result<(), StoreError> {
        if existing.iter().any(|e| e == name) {
            return Ok(());
        }
        match self.db.create_collection(name).await {
            Ok(()) => Ok(()),
            Err(e) if command_code(&e) == Some(NAMESPACE_EXISTS) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Refuses a deployment that cannot run transactions (a standalone server), with a message an
    /// operator can act on instead of the server's "Transaction numbers are only allowed ...".
    async fn check_transactions(&self) -> Result<(), StoreError> {
        let hello = self.db.run_command(doc! {"hello": 1}).await?;
        let replica_set = hello.get("setName").is_some();
        let mongos = matches!(hello.get("msg"), Some(Bson::String(m)) if m == "isdbgrid");
        if replica_set || mongos {
            Ok(())
        } else {
            Err(StoreError::Config(
                "the MongoDB server is a standalone server; genealogy commits need transactions, \
                 so use a replica set (a single-node one will do) or a sharded cluster"
                    .into(),
            ))
        }
    }

    /// The documents of `q`'s window (its offset and limit) in its order.
    async fn window(
        coll: &mongodb::Collection<BsonDocument>,
        filter: BsonDocument,
        q: &Query,
    ) -> Result<Vec<BsonDocument>, StoreError> {
        if q.limit == Some(0) {
            // MongoDB reads a limit of 0 as "no limit".
            return Ok(Vec::new());
        }
        let mut find = coll
            .find(filter)
            .sort(sort_of(q.order))
            .projection(doc! {"keys": 0});
        if q.offset > 0 {
            find = find.skip(q.offset);
        }
        if let Some(limit) = q.limit {
            find = find.limit(i64::try_from(limit).unwrap_or(i64::MAX));
        }
        Ok(find.await?.try_collect().await?)
    }

    async fn find_docs(&self, q: &Query) -> Result<(Vec<BsonDocument>, u64), StoreError> {
        let filter = filter_of(q)?;
        let coll = self.coll(q.collection);
        if q.offset > 0 && q.limit.is_some() {
            // A window past the start: count first, then read it from the nearer end (a skip
            // walks every entry it skips, and the total is needed anyway).
            let total = coll.count_documents(filter.clone()).await?;
            let near = q.from_the_end(total);
            let mut items = Self::window(&coll, filter, near.as_ref().unwrap_or(q)).await?;
            if near.is_some() {
                items.reverse();
            }
            return Ok((items, total));
        }
        let items = Self::window(&coll, filter.clone(), q).await?;
        // A short page (that is not past the end) tells the total without counting.
        let fetched = u64::try_from(items.len()).unwrap_or(u64::MAX);
        let short = q.limit.is_none_or(|l| fetched < l);
        if short && (fetched > 0 || q.offset == 0) {
            return Ok((items, q.offset + fetched));
        }
        let total = coll.count_documents(filter).await?;
        Ok((items, total))
    }

    /// One attempt at a commit inside the session's open transaction: reads the documents the
    /// preconditions name, checks them in write order against what the earlier writes of the
    /// same commit left, then replaces every touched document (delete and insert per collection,
    /// so a commit is a few round trips however many documents it writes).
    async fn apply(
        &self,
        session: &mut ClientSession,
        writes: &[Write],
        plan: &Plan,
    ) -> Result<(), Failure> {
        let mut current: HashMap<(Collection, &str), Option<Value>> = HashMap::new();
        for (collection, ids) in &plan.reads {
            for chunk in ids.chunks(IN_CHUNK) {
                // The map borrows the ids of the plan; a set finds them (an import checks
                // every new document's absence: a scan per found id would be quadratic).
                let wanted: HashSet<&str> = chunk.iter().map(String::as_str).collect();
                let mut cursor = self
                    .coll(*collection)
                    .find(doc! {"_id": {"$in": chunk}})
                    .projection(doc! {"body": 1})
                    .session(&mut *session)
                    .await?;
                while let Some(found) = cursor.next(&mut *session).await {
                    let found = found?;
                    let id = id_of(&found)?;
                    let body = body_of(&id, &found)?;
                    if let Some(key) = wanted.get(id.as_str()) {
                        current.insert((*collection, *key), Some(body));
                    }
                }
            }
        }
        for w in writes {
            let key = (w.collection, w.id.as_str());
            if w.expect != Expect::Any {
                let have = current.get(&key).and_then(Option::as_ref);
                let ok = match (&w.expect, have) {
                    (Expect::Absent, None) => true,
                    (Expect::Body(want), Some(have)) => want == have,
                    _ => false,
                };
                if !ok {
                    return Err(Failure::Conflict {
                        collection: w.collection,
                        id: w.id.clone(),
                    });
                }
            }
            current.insert(key, w.doc.as_ref().map(|d| d.body.clone()));
        }
        for (collection, ids, docs) in &plan.replace {
            let coll = self.coll(*collection);
            for chunk in ids.chunks(IN_CHUNK) {
                coll.delete_many(doc! {"_id": {"$in": chunk}})
                    .session(&mut *session)
                    .await?;
            }
            if !docs.is_empty() {
                coll.insert_many(docs).session(&mut *session).await?;
            }
        }
        self.log_changes(session, writes).await
    }

    /// Appends the writes of tracked collections to the change log, in the commit's
    /// transaction, and trims the log to the latest [`KEPT_CHANGES`].
    ///
    /// The numbers come from one counter document that every such commit increments: a
    /// concurrent commit's increment is a write conflict until this one commits (and is then
    /// retried), so numbers are handed out in commit order, as SQLite's single writer does.
    async fn log_changes(
        &self,
        session: &mut ClientSession,
        writes: &[Write],
    ) -> Result<(), Failure> {
        let logged: Vec<&Write> = writes
            .iter()
            .filter(|w| changes::TRACKED.contains(&w.collection))
            .collect();
        if logged.is_empty() {
            return Ok(());
        }
        let n = i64::try_from(logged.len()).unwrap_or(i64::MAX);
        let counter = self
            .db
            .collection::<BsonDocument>(COUNTERS)
            .find_one_and_update(doc! {"_id": CHANGES}, doc! {"$inc": {"seq": n}})
            .upsert(true)
            .return_document(ReturnDocument::After)
            .session(&mut *session)
            .await?;
        let last = counter_seq(counter.as_ref()).ok_or_else(|| {
            Failure::Store(StoreError::Corrupt(
                CHANGES.into(),
                "the change counter holds no number".into(),
            ))
        })?;
        let log = self.db.collection::<BsonDocument>(CHANGES);
        let entries: Vec<BsonDocument> = logged
            .iter()
            .zip((last - n + 1)..)
            .map(|(w, seq)| doc! {"_id": seq, "collection": w.collection.as_str(), "id": &w.id})
            .collect();
        log.insert_many(entries).session(&mut *session).await?;
        // Trimmed when the numbers cross a thousand, not on every commit: the log holds 10,000
        // to 11,000 changes, and most commits touch it with two inserts only.
        let kept = i64::try_from(KEPT_CHANGES).unwrap_or(i64::MAX);
        if last > kept && (last - n) / TRIM_EVERY != last / TRIM_EVERY {
            log.delete_many(doc! {"_id": {"$lte": last - kept}})
                .session(&mut *session)
                .await?;
        }
        Ok(())
    }

    /// The changes to `collection` after `since`, bounds and ids read in one snapshot (a trim
    /// between them could otherwise hide changes after the mark).
    ///
    /// Only point reads by `_id` decide: the newest change is the counter's, and the changes
    /// after the mark are all kept exactly when the first of them is (trims remove the oldest).
    async fn read_changes(
        &self,
        session: &mut ClientSession,
        collection: Collection,
        since: Option<u64>,
    ) -> Result<Changes, StoreError> {
        let int = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        let counter = self
            .db
            .collection::<BsonDocument>(COUNTERS)
            .find_one(doc! {"_id": CHANGES})
            .session(&mut *session)
            .await?;
        let newest = counter_seq(counter.as_ref()).map_or(0, |seq| u64::try_from(seq).unwrap_or(0));
        let log = self.db.collection::<BsonDocument>(CHANGES);
        // The oldest kept as far as the rules need it: the first change after the mark if it
        // is still there, else none that could serve (the mark is older than what is kept).
        let oldest = match since {
            Some(after) if after < newest => {
                let first = log
                    .find_one(doc! {"_id": int(after + 1)})
                    .projection(doc! {"_id": 1})
                    .session(&mut *session)
                    .await?;
                first.map_or(u64::MAX, |_| after + 1)
            }
            _ => 0,
        };
        let (after, upto) = match changes::change_read(since, oldest, newest).to_read() {
            ControlFlow::Break(answer) => return Ok(answer),
            ControlFlow::Continue(range) => range,
        };
        let mut cursor = log
            .find(doc! {
                "_id": {"$gt": int(after), "$lte": int(upto)},
                "collection": collection.as_str(),
            })
            .sort(doc! {"_id": 1})
            .limit(int(MOST_CHANGES + 1))
            .projection(doc! {"id": 1})
            .session(&mut *session)
            .await?;
        let mut ids = Vec::new();
        while let Some(found) = cursor.next(&mut *session).await {
            let found = found?;
            match found.get_str("id") {
                Ok(id) => ids.push(id.to_owned()),
                Err(_) => {
                    return Err(StoreError::Corrupt(
                        CHANGES.into(),
                        "a change names no document".into(),
                    ));
                }
            }
        }
        Ok(changes::changes_of(ids, upto))
    }

    /// Commits the session's transaction, retrying while the outcome is unknown.
    async fn commit_session(
        session: &mut ClientSession,
        deadline: Instant,
    ) -> Result<(), mongodb::error::Error> {
        loop {
            match session.commit_transaction().await {
                Ok(()) => return Ok(()),
                Err(e)
                    if e.contains_label(UNKNOWN_TRANSACTION_COMMIT_RESULT)
                        && Instant::now() < deadline =>
                {
                    tracing::debug!(error = %e, "transaction commit result unknown; retrying");
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// What one commit attempt ran into.
enum Failure {
    /// A precondition failed: final, never retried.
    Conflict { collection: Collection, id: String },
    /// The server or the connection failed (a write conflict is retried).
    Mongo(mongodb::error::Error),
    /// A stored document is unreadable.
    Store(StoreError),
}

impl From<mongodb::error::Error> for Failure {
    fn from(e: mongodb::error::Error) -> Self {
        Failure::Mongo(e)
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Failure::Store(e)
    }
}

/// A commit worked out before its transaction: what to read and what to write in the end.
struct Plan {
    /// Per collection, the ids whose current bodies the preconditions need.
    reads: Vec<(Collection, Vec<String>)>,
    /// Per collection, every touched id and the documents left when the commit is done (the
    /// last write of an id wins, as when the writes are applied one after another).
    replace: Vec<(Collection, Vec<String>, Vec<BsonDocument>)>,
}

impl Plan {
    fn new(writes: &[Write]) -> Result<Plan, StoreError> {
        let mut reads: Vec<(Collection, Vec<String>)> = Vec::new();
        let mut read_seen: HashSet<(Collection, &str)> = HashSet::new();
        let mut last: HashMap<(Collection, &str), usize> = HashMap::new();
        for (i, w) in writes.iter().enumerate() {
            let key = (w.collection, w.id.as_str());
            if w.expect != Expect::Any && read_seen.insert(key) {
                entry(&mut reads, w.collection).push(w.id.clone());
            }
            last.insert(key, i);
        }
        let mut replace: Vec<(Collection, Vec<String>, Vec<BsonDocument>)> = Vec::new();
        for (i, w) in writes.iter().enumerate() {
            if last.get(&(w.collection, w.id.as_str())) != Some(&i) {
                continue;
            }
            let slot = match replace.iter_mut().position(|(c, _, _)| *c == w.collection) {
                Some(p) => &mut replace[p],
                None => {
                    replace.push((w.collection, Vec::new(), Vec::new()));
                    let p = replace.len() - 1;
                    &mut replace[p]
                }
            };
            slot.1.push(w.id.clone());
            if let Some(d) = &w.doc {
                slot.2.push(encode(&w.id, d)?);
            }
        }
        Ok(Plan { reads, replace })
    }
}

fn entry(list: &mut Vec<(Collection, Vec<String>)>, c: Collection) -> &mut Vec<String> {
    let p = match list.iter().position(|(have, _)| *have == c) {
        Some(p) => p,
        None => {
            list.push((c, Vec::new()));
            list.len() - 1
        }
    };
    &mut list[p].1
}

/// Whether a failed attempt may be run again as a whole.
fn transient(e: &mongodb::error::Error) -> bool {
    e.contains_label(TRANSIENT_TRANSACTION_ERROR)
}

fn command_code(e: &mongodb::error::Error) -> Option<i32> {
    match e.kind.as_ref() {
        ErrorKind::Command(c) => Some(c.code),
        _ => None,
    }
}

/// `message` with the password of `url` (if any) masked, for errors that may quote the URL.
fn redact(url: &str, message: &str) -> String {
    let password = url
        .split_once("://")
        .map(|(_, rest)| rest)
        .and_then(|rest| rest.rsplit_once('@'))
        .and_then(|(userinfo, _)| userinfo.split_once(':'))
        .map(|(_, password)| password)
        .filter(|p| !p.is_empty());
    match password {
        Some(p) => message.replace(p, "***"),
        None => message.to_owned(),
    }
}

/// The `keys` entry of a pair.
fn key_entry(key: &str, value: &str) -> Result<String, StoreError> {
    if key.contains(SEP) {
        return Err(StoreError::Unsupported(format!(
            "index key name {key:?} contains U+001F"
        )));
    }
    Ok(format!("{key}{SEP}{value}"))
}

/// `{keys: {$in: [...]}}` for any of `pairs` (no pairs: matches nothing, as `$in: []` does).
fn any_of(pairs: &[(String, String)]) -> Result<BsonDocument, StoreError> {
    let mut entries: Vec<String> = pairs
        .iter()
        .map(|(k, v)| key_entry(k, v))
        .collect::<Result<_, _>>()?;
    entries.sort();
    entries.dedup();
    Ok(doc! {"keys": {"$in": entries}})
}

fn filter_of(q: &Query) -> Result<BsonDocument, StoreError> {
    let mut clauses: Vec<BsonDocument> = Vec::new();
    match &q.select {
        Select::Any(pairs) => clauses.push(any_of(pairs)?),
        Select::Prefix { key, prefix } => {
            // A range over one array element (`$elemMatch`): bounds on a multikey field without
            // it may be met by two different elements. A range, not a regex, so it stays on the
            // index and treats every character literally.
            let low = key_entry(key, prefix)?;
            let high = key_entry(key, &format!("{prefix}\u{10FFFF}"))?;
            clauses.push(doc! {"keys": {"$elemMatch": {"$gte": low, "$lt": high}}});
        }
    }
    for group in &q.narrow {
        clauses.push(any_of(group)?);
    }
    for (field, value) in &q.fields {
        // Field names come from code, never from requests; check anyway so that no operator or
        // path can be smuggled into the filter.
        if field.is_empty() || !field.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(StoreError::Unsupported(format!("field name {field:?}")));
        }
        // Equality with the field itself, as on SQLite: MongoDB would also match an array
        // holding the value.
        clauses.push(doc! {
            format!("body.{field}"): {"$eq": to_bson(value)?, "$not": {"$type": "array"}}
        });
    }
    Ok(if clauses.len() == 1 {
        clauses.pop().unwrap_or_default()
    } else {
        doc! {"$and": clauses}
    })
}

fn sort_of(order: Order) -> BsonDocument {
    match order {
        Order::Sort => doc! {"sort": 1, "_id": 1},
        Order::SortDesc => doc! {"sort": -1, "_id": -1},
        Order::UpdatedDesc => doc! {"updated_at": -1, "_id": -1},
        Order::Updated => doc! {"updated_at": 1, "_id": 1},
    }
}

/// The stored form of `doc`.
fn encode(id: &str, d: &Document) -> Result<BsonDocument, StoreError> {
    let mut keys: Vec<String> = d
        .keys
        .iter()
        .map(|(k, v)| key_entry(k, v))
        .collect::<Result<_, _>>()?;
    keys.sort();
    keys.dedup();
    Ok(doc! {
        "_id": id,
        "body": to_bson(&d.body)?,
        "keys": keys,
        "sort": &d.sort,
        "updated_at": d.updated_at,
    })
}

fn id_of(stored: &BsonDocument) -> Result<String, StoreError> {
    match stored.get("_id") {
        Some(Bson::String(id)) => Ok(id.clone()),
        other => Err(StoreError::Corrupt(
            format!("{other:?}"),
            "the _id is not a string".into(),
        )),
    }
}

fn body_of(id: &str, stored: &BsonDocument) -> Result<Value, StoreError> {
    let body = stored
        .get("body")
        .ok_or_else(|| StoreError::Corrupt(id.to_owned(), "no body".into()))?;
    to_json(body).map_err(|e| StoreError::Corrupt(id.to_owned(), e))
}

fn decode(stored: &BsonDocument) -> Result<Document, StoreError> {
    let id = id_of(stored)?;
    let body = body_of(&id, stored)?;
    let sort = match stored.get("sort") {
        Some(Bson::String(s)) => s.clone(),
        _ => return Err(StoreError::Corrupt(id, "sort is not a string".into())),
    };
    let updated_at = match stored.get("updated_at") {
        Some(Bson::Int64(n)) => *n,
        Some(Bson::Int32(n)) => i64::from(*n),
        _ => {
            return Err(StoreError::Corrupt(
                id,
                "updated_at is not an integer".into(),
            ));
        }
    };
    Ok(Document {
        id,
        body,
        // As on SQLite: reads return bodies; the keys are the store's business.
        keys: Vec::new(),
        sort,
        updated_at,
    })
}

/// JSON to BSON, keeping integers and floats apart so that a body reads back equal.
fn to_bson(v: &Value) -> Result<Bson, StoreError> {
    Ok(match v {
        Value::Null => Bson::Null,
        Value::Bool(b) => Bson::Boolean(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Bson::Int64(i)
            } else if n.is_u64() {
                return Err(StoreError::Unsupported(format!(
                    "integer {n} is beyond BSON's 64-bit signed range"
                )));
            } else {
                Bson::Double(n.as_f64().unwrap_or_default())
            }
        }
        Value::String(s) => Bson::String(s.clone()),
        Value::Array(items) => Bson::Array(items.iter().map(to_bson).collect::<Result<_, _>>()?),
        Value::Object(map) => {
            let mut d = BsonDocument::new();
            for (k, v) in map {
                d.insert(escape_key(k).into_owned(), to_bson(v)?);
            }
            Bson::Document(d)
        }
    })
}

/// BSON (as written by [`to_bson`]) back to JSON.
fn to_json(b: &Bson) -> Result<Value, String> {
    Ok(match b {
        Bson::Null => Value::Null,
        Bson::Boolean(b) => Value::Bool(*b),
        Bson::Int32(i) => Value::from(*i),
        Bson::Int64(i) => Value::from(*i),
        Bson::Double(f) => {
            Value::Number(Number::from_f64(*f).ok_or_else(|| format!("non-finite number {f}"))?)
        }
        Bson::String(s) => Value::String(s.clone()),
        Bson::Array(items) => Value::Array(items.iter().map(to_json).collect::<Result<_, _>>()?),
        Bson::Document(d) => {
            let mut map = Map::new();
            for (k, v) in d {
                map.insert(unescape_key(k).into_owned(), to_json(v)?);
            }
            Value::Object(map)
        }
        other => return Err(format!("unexpected BSON value {other:?}")),
    })
}

/// A JSON object key as a BSON field name: BSON names cannot hold NUL, and MongoDB gives `.`
/// (paths) and a leading `$` (operators) meanings, so those are percent-escaped, and `%` itself,
/// so that unescaping is exact. Person attributes are keyed by user input, so all of these occur.
fn escape_key(k: &str) -> Cow<'_, str> {
    if !k.contains(['%', '.', '\0']) && !k.starts_with('$') {
        return Cow::Borrowed(k);
    }
    let mut out = String::with_capacity(k.len() + 6);
    for (i, c) in k.char_indices() {
        match c {
            '%' => out.push_str("%25"),
            '.' => out.push_str("%2E"),
            '\0' => out.push_str("%00"),
            '$' if i == 0 => out.push_str("%24"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// The inverse of [`escape_key`].
fn unescape_key(k: &str) -> Cow<'_, str> {
    if !k.contains('%') {
        return Cow::Borrowed(k);
    }
    let mut out = String::with_capacity(k.len());
    let mut rest = k;
    while let Some(p) = rest.find('%') {
        out.push_str(&rest[..p]);
        let code = rest.get(p..p + 3);
        let c = match code {
            Some("%25") => Some('%'),
            Some("%2E") => Some('.'),
            Some("%00") => Some('\0'),
            Some("%24") => Some('$'),
            _ => None,
        };
        match c {
            Some(c) => {
                out.push(c);
                rest = &rest[p + 3..];
            }
            None => {
                // Not written by `escape_key`: kept as it is.
                out.push('%');
                rest = &rest[p + 1..];
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

#[async_trait]
impl DocumentStore for MongoStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        self.check_transactions().await?;
        let existing = self.db.list_collection_names().await?;
        for c in Collection::ALL {
            self.ensure_collection(c.as_str(), &existing).await?;
            // Every listing selects on `keys` and orders by `sort` or `updated_at` (then `_id`,
            // as the tie-break): each index serves one of those as an ordered range, read
            // backwards for the descending orders. `_id` lookups use the built-in index.
            let indexes = [
                (doc! {"keys": 1, "sort": 1, "_id": 1}, "keys_sort"),
                (doc! {"keys": 1, "updated_at": 1, "_id": 1}, "keys_updated"),
            ]
            .map(|(keys, name)| {
                IndexModel::builder()
                    .keys(keys)
                    .options(IndexOptions::builder().name(name.to_owned()).build())
                    .build()
            });
            self.coll(c).create_indexes(indexes).await?;
        }
        for name in [MIGRATIONS, CHANGES, COUNTERS] {
            self.ensure_collection(name, &existing).await?;
        }
        self.db
            .collection::<BsonDocument>(MIGRATIONS)
            .update_one(
                doc! {"_id": "genealogy"},
                doc! {"$max": {"version": SCHEMA_VERSION}},
            )
            .upsert(true)
            .await?;
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.db.run_command(doc! {"ping": 1}).await?;
        Ok(())
    }

    async fn get(&self, collection: Collection, id: &str) -> Result<Option<Document>, StoreError> {
        let found = self
            .coll(collection)
            .find_one(doc! {"_id": id})
            .projection(doc! {"keys": 0})
            .await?;
        found.as_ref().map(decode).transpose()
    }

    async fn get_many(
        &self,
        collection: Collection,
        ids: &[String],
    ) -> Result<Vec<Document>, StoreError> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(IN_CHUNK) {
            let found: Vec<BsonDocument> = self
                .coll(collection)
                .find(doc! {"_id": {"$in": chunk}})
                .projection(doc! {"keys": 0})
                .await?
                .try_collect()
                .await?;
            for d in &found {
                out.push(decode(d)?);
            }
        }
        Ok(out)
    }

    async fn find(&self, q: &Query) -> Result<Page, StoreError> {
        let (items, total) = self.find_docs(q).await?;
        Ok(Page {
            items: items.iter().map(decode).collect::<Result<_, _>>()?,
            total,
        })
    }

    async fn changes(
        &self,
        collection: Collection,
        since: Option<u64>,
    ) -> Result<Option<Changes>, StoreError> {
        if !changes::TRACKED.contains(&collection) {
            return Ok(None);
        }
        let mut session = self.client.start_session().await?;
        session
            .start_transaction()
            .read_concern(ReadConcern::snapshot())
            .await?;
        let read = self.read_changes(&mut session, collection, since).await;
        // Nothing was written: ending the transaction either way only releases its snapshot.
        let _ = session.abort_transaction().await;
        read.map(Some)
    }

    async fn commit(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        if writes.is_empty() {
            return Ok(());
        }
        let plan = Plan::new(&writes)?;
        let mut session = self.client.start_session().await?;
        let deadline = Instant::now() + RETRY_WINDOW;
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            session
                .start_transaction()
                .read_concern(ReadConcern::snapshot())
                .write_concern(WriteConcern::majority())
                .await?;
            let outcome = match self.apply(&mut session, &writes, &plan).await {
                Ok(()) => Self::commit_session(&mut session, deadline)
                    .await
                    .map_err(Failure::Mongo),
                Err(failure) => {
                    // The server may have aborted it already (a write conflict does).
                    let _ = session.abort_transaction().await;
                    Err(failure)
                }
            };
            match outcome {
                Ok(()) => return Ok(()),
                Err(Failure::Conflict { collection, id }) => {
                    return Err(StoreError::Conflict { collection, id });
                }
                Err(Failure::Store(e)) => return Err(e),
                Err(Failure::Mongo(e)) if transient(&e) && Instant::now() < deadline => {
                    // Another commit wrote one of these documents first: run again on the new
                    // state, where a precondition may now fail as a conflict. Back off a little,
                    // more each time, so that many writers of one document spread out.
                    tracing::debug!(attempt, error = %e, "transaction conflict; retrying");
                    let pause = 5u64.saturating_mul(u64::from(attempt.min(20)));
                    let jitter = u64::from(rand_jitter()) % (pause + 1);
                    tokio::time::sleep(Duration::from_millis(pause + jitter)).await;
                }
                Err(Failure::Mongo(e)) => return Err(e.into()),
            }
        }
    }
}

/// The change log's last sequence number as its counter document stores it (an `Int64`, or an
/// `Int32` from a server that narrows small numbers).
fn counter_seq(counter: Option<&BsonDocument>) -> Option<i64> {
    match counter?.get("seq")? {
        Bson::Int64(n) => Some(*n),
        Bson::Int32(n) => Some(i64::from(*n)),
        _ => None,
    }
}

/// A few random bits for retry jitter, without a dependency: the clock's nanoseconds.
fn rand_jitter() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bodies_round_trip_through_bson() {
        let body = json!({
            "int": 1, "neg": -7, "float": 1.0, "frac": 2.5, "big": i64::MAX, "s": "a\u{0}b",
            "null": null, "t": true, "arr": [1, "x", {"y": [2.0]}],
            "attributes": {"a.b": "dot", "$set": "dollar", "100%": "pct", "x\u{0}y": "nul",
                           "mid$dle": "kept", "%2E": "literal escape"}
        });
        let back = to_json(&to_bson(&body).unwrap()).unwrap();
        assert_eq!(back, body);
        let Bson::Document(d) = to_bson(&body).unwrap() else {
            panic!("an object becomes a document")
        };
        let Some(Bson::Document(attrs)) = d.get("attributes") else {
            panic!("nested object")
        };
        let names: Vec<&str> = attrs.keys().map(String::as_str).collect();
        assert!(
            names.contains(&"a%2Eb") && names.contains(&"%24set"),
            "{names:?}"
        );
        assert!(
            names.contains(&"mid$dle") && names.contains(&"%252E"),
            "{names:?}"
        );
        assert!(names.iter().all(|n| !n.contains('\0')));
    }

    #[test]
    fn integers_beyond_i64_are_refused_not_rounded() {
        let r = to_bson(&json!({"n": u64::MAX}));
        assert!(matches!(r, Err(StoreError::Unsupported(_))), "{r:?}");
    }

    #[test]
    fn passwords_are_masked_in_messages() {
        let url = "mongodb://dzinza:s3cr%40t@db.example:27017/app";
        assert_eq!(
            redact(url, "bad option in mongodb://dzinza:s3cr%40t@db.example"),
            "bad option in mongodb://dzinza:***@db.example"
        );
        assert_eq!(redact("mongodb://db:27017", "x"), "x");
    }

    #[tokio::test]
    async fn a_bad_url_is_a_config_error_without_the_password() {
        let err = MongoStore::connect("mongodb://user:hunter2@host:notaport/db")
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, StoreError::Config(_)), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }

    #[test]
    fn prefix_filters_match_one_element() {
        let mut q = Query::by_key(Collection::Persons, "", "");
        q.select = Select::Prefix {
            key: "name".into(),
            prefix: "jo".into(),
        };
        let f = filter_of(&q).unwrap();
        assert!(f.get_document("keys").unwrap().contains_key("$elemMatch"));
    }
}
