//! The documents port: JSON documents in collections, found through index keys.
//!
//! Adapters: [`sqlite::SqliteStore`] (embedded default) and [`mongo::MongoStore`] (the cluster's
//! store). Every adapter passes the one conformance suite in `tests/suite`. A document carries `(key, value)` pairs (`tree` → tree
//! id, `person` → person id, `name` → folded name token, ...) and one sort string; queries select
//! by keys, optionally narrowed by more keys and equality on top-level body fields, and page in
//! sort order with a total count. [`DocumentStore::commit`] applies several writes atomically,
//! each optionally conditional on the current body (optimistic concurrency).

pub mod changes;
pub mod mongo;
pub mod sqlite;

use async_trait::async_trait;
use serde_json::Value;

use crate::model::Collection;

/// Storage failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A conditional write found a different current document.
    #[error("{collection:?} {id} changed concurrently")]
    Conflict {
        /// Collection.
        collection: Collection,
        /// Document id.
        id: String,
    },
    /// A stored document is not valid JSON.
    #[error("corrupt document {0}: {1}")]
    Corrupt(String, String),
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// The database failed on a read connection (rusqlite, see `sqlite::reads`).
    #[error("database read: {0}")]
    Read(#[from] rusqlite::Error),
    /// A blocking read task ended without an answer (it panicked, or the runtime is stopping).
    #[error("read task: {0}")]
    ReadTask(#[from] tokio::task::JoinError),
    /// Migrations failed.
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// MongoDB failed.
    #[error("mongodb: {0}")]
    Mongo(#[from] mongodb::error::Error),
    /// The store's settings are unusable (the message never carries a password).
    #[error("store configuration: {0}")]
    Config(String),
    /// A document or query this adapter cannot represent.
    #[error("unsupported: {0}")]
    Unsupported(String),
}

/// A stored document.
#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    /// Id, unique within the collection.
    pub id: String,
    /// The body.
    pub body: Value,
    /// Index keys.
    pub keys: Vec<(String, String)>,
    /// Position in listings.
    pub sort: String,
    /// Last change, for "recently changed" listings.
    pub updated_at: i64,
}

/// What a conditional write expects to find.
#[derive(Clone, Debug, PartialEq)]
pub enum Expect {
    /// Anything.
    Any,
    /// No document with this id.
    Absent,
    /// Exactly this body (compared as JSON values).
    Body(Value),
}

/// One write of an atomic commit.
#[derive(Clone, Debug)]
pub struct Write {
    /// Collection.
    pub collection: Collection,
    /// Document id.
    pub id: String,
    /// The new document, or `None` to delete.
    pub doc: Option<Document>,
    /// Precondition.
    pub expect: Expect,
}

impl Write {
    /// Puts `doc` unconditionally.
    pub fn put(collection: Collection, doc: Document) -> Write {
        Write {
            collection,
            id: doc.id.clone(),
            doc: Some(doc),
            expect: Expect::Any,
        }
    }

    /// Deletes unconditionally.
    pub fn delete(collection: Collection, id: &str) -> Write {
        Write {
            collection,
            id: id.to_owned(),
            doc: None,
            expect: Expect::Any,
        }
    }

    /// Adds a precondition.
    pub fn expecting(mut self, expect: Expect) -> Write {
        self.expect = expect;
        self
    }
}

/// Which documents a query starts from.
#[derive(Clone, Debug, PartialEq)]
pub enum Select {
    /// Those with any of these `(key, value)` pairs.
    Any(Vec<(String, String)>),
    /// Those with a value of `key` starting with `prefix`.
    Prefix {
        /// Key.
        key: String,
        /// Prefix of the value.
        prefix: String,
    },
}

/// Listing order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Order {
    /// By sort string, ascending.
    #[default]
    Sort,
    /// By sort string, descending.
    SortDesc,
    /// Most recently changed first.
    UpdatedDesc,
    /// Least recently changed first.
    Updated,
}

/// A query.
#[derive(Clone, Debug)]
pub struct Query {
    /// Collection.
    pub collection: Collection,
    /// Starting set.
    pub select: Select,
    /// Each group narrows the set to documents having any pair of the group.
    pub narrow: Vec<Vec<(String, String)>>,
    /// Equality on top-level body fields (`("sex", "female")`).
    pub fields: Vec<(String, Value)>,
    /// Order.
    pub order: Order,
    /// Skip this many.
    pub offset: u64,
    /// At most this many (`None`: all).
    pub limit: Option<u64>,
}

impl Order {
    /// The same order backwards (ties too: they go by id, which reverses with it).
    pub fn reversed(self) -> Order {
        match self {
            Order::Sort => Order::SortDesc,
            Order::SortDesc => Order::Sort,
            Order::UpdatedDesc => Order::Updated,
            Order::Updated => Order::UpdatedDesc,
        }
    }
}

impl Query {
    /// The same window read from the other end of the listing, when that skips fewer entries
    /// than the offset does (its rows come back in the opposite order), given the listing's
    /// `total`: an offset skips index entries one by one, so without this the last page of
    /// 100,000 people costs as much as reading all their keys. A window past the end reads
    /// nothing. Orders are total (ties go by id), so the reversed rows are exactly the window.
    pub fn from_the_end(&self, total: u64) -> Option<Query> {
        let limit = self.limit?;
        if self.offset >= total {
            return Some(Query {
                offset: 0,
                limit: Some(0),
                ..self.clone()
            });
        }
        let end = self.offset.saturating_add(limit).min(total);
        let skip = total - end;
        (skip < self.offset).then(|| Query {
            order: self.order.reversed(),
            offset: skip,
            limit: Some(end - self.offset),
            ..self.clone()
        })
    }

    /// All documents of `collection` having `key` = `value`, in sort order.
    pub fn by_key(collection: Collection, key: &str, value: &str) -> Query {
        Query {
            collection,
            select: Select::Any(vec![(key.to_owned(), value.to_owned())]),
            narrow: Vec::new(),
            fields: Vec::new(),
            order: Order::Sort,
            offset: 0,
            limit: None,
        }
    }

    /// All documents having `key` equal to any of `values`.
    pub fn by_keys<'a>(
        collection: Collection,
        key: &str,
        values: impl IntoIterator<Item = &'a String>,
    ) -> Query {
        let mut q = Query::by_key(collection, key, "");
        q.select = Select::Any(
            values
                .into_iter()
                .map(|v| (key.to_owned(), v.clone()))
                .collect(),
        );
        q
    }

    /// Sets offset and limit.
    pub fn page(mut self, offset: u64, limit: u64) -> Query {
        self.offset = offset;
        self.limit = Some(limit);
        self
    }
}

/// A page of results and how many match in all.
#[derive(Clone, Debug, PartialEq)]
pub struct Page {
    /// The documents.
    pub items: Vec<Document>,
    /// Matching documents in all.
    pub total: u64,
}

/// The documents port.
#[async_trait]
pub trait DocumentStore: Send + Sync + 'static {
    /// Creates tables or collections and indexes.
    async fn migrate(&self) -> Result<(), StoreError>;
    /// Whether the store answers.
    async fn ping(&self) -> Result<(), StoreError>;
    /// One document.
    async fn get(&self, collection: Collection, id: &str) -> Result<Option<Document>, StoreError>;
    /// Several documents by id (missing ones are left out; order unspecified).
    async fn get_many(
        &self,
        collection: Collection,
        ids: &[String],
    ) -> Result<Vec<Document>, StoreError>;
    /// A page of matching documents with the total.
    async fn find(&self, query: &Query) -> Result<Page, StoreError>;
    /// Applies every write or none; a failed precondition is [`StoreError::Conflict`].
    async fn commit(&self, writes: Vec<Write>) -> Result<(), StoreError>;

    /// [`DocumentStore::get_many`] with the bodies as JSON text, for callers that decode them
    /// into their own types: an adapter that stores text (SQLite) hands it over without
    /// building a [`Value`] first. The default serialises what `get_many` returns.
    async fn get_many_text(
        &self,
        collection: Collection,
        ids: &[String],
    ) -> Result<Vec<TextDocument>, StoreError> {
        Ok(self
            .get_many(collection, ids)
            .await?
            .into_iter()
            .map(TextDocument::from)
            .collect())
    }

    /// What changed in `collection` after the mark `since` (`None`: before anything was seen),
    /// for callers that keep decoded documents between requests; `None` when the store does
    /// not track that collection's changes, and then nothing read from it may be kept. The
    /// default tracks nothing.
    async fn changes(
        &self,
        collection: Collection,
        since: Option<u64>,
    ) -> Result<Option<Changes>, StoreError> {
        let _ = (collection, since);
        Ok(None)
    }

    /// [`DocumentStore::find`] with the bodies as JSON text (see
    /// [`DocumentStore::get_many_text`]). The default serialises what `find` returns.
    async fn find_text(&self, query: &Query) -> Result<TextPage, StoreError> {
        let page = self.find(query).await?;
        Ok(TextPage {
            items: page.items.into_iter().map(TextDocument::from).collect(),
            total: page.total,
        })
    }
}

/// The changes to a collection after a mark ([`DocumentStore::changes`]). The mark of a
/// reply covers every change committed before the reply was read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Changes {
    /// Exactly these documents were written or deleted (an id may repeat).
    Some {
        /// The mark to ask from next time.
        mark: u64,
        /// The documents' ids, oldest change first.
        ids: Vec<String>,
    },
    /// Which documents changed is not known (the mark was from before the first call, too old,
    /// or from another database): anything may have changed.
    Any {
        /// The mark to ask from next time.
        mark: u64,
    },
}

/// A stored document with its body as JSON text.
#[derive(Clone, Debug, PartialEq)]
pub struct TextDocument {
    /// Id.
    pub id: String,
    /// The body, JSON.
    pub body: String,
}

impl From<Document> for TextDocument {
    fn from(d: Document) -> Self {
        TextDocument {
            id: d.id,
            body: d.body.to_string(),
        }
    }
}

/// [`Page`] with JSON text bodies.
#[derive(Clone, Debug, PartialEq)]
pub struct TextPage {
    /// The documents.
    pub items: Vec<TextDocument>,
    /// Matching documents in all.
    pub total: u64,
}
