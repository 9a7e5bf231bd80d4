//! What the conformance suite does not show of the file store's rusqlite reads.

#![allow(clippy::unwrap_used, reason = "tests: a failed step should panic")]

use serde_json::json;

use super::*;

async fn file_store() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("genealogy.db"))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    (dir, store)
}

fn person(id: &str, n: i64) -> Document {
    Document {
        id: id.to_owned(),
        body: json!({ "n": n }),
        keys: vec![("tree".into(), "t1".into())],
        sort: format!("{n:04}"),
        updated_at: n,
    }
}

#[tokio::test]
async fn every_read_sees_the_commit_before_it() {
    let (_dir, store) = file_store().await;
    // One connection stays in the pool and its cached statements are reused: none may keep a
    // read transaction (an older snapshot) open between calls.
    for n in 0..50 {
        store
            .commit(vec![Write::put(Collection::Persons, person("p", n))])
            .await
            .unwrap();
        let got = store.get(Collection::Persons, "p").await.unwrap().unwrap();
        assert_eq!(got.body, json!({ "n": n }));
        let text = store
            .get_many_text(Collection::Persons, &["p".to_owned()])
            .await
            .unwrap();
        assert_eq!(text[0].body, format!("{{\"n\":{n}}}"));
        let page = store
            .find(&Query::by_key(Collection::Persons, "tree", "t1"))
            .await
            .unwrap();
        assert_eq!((page.items[0].updated_at, page.total), (n, 1));
    }
}

#[tokio::test]
async fn read_connections_refuse_writes() {
    let (_dir, store) = file_store().await;
    let readers = store.readers.clone().unwrap();
    let err = readers
        .run(|c| Ok(c.execute("DELETE FROM documents", [])?))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Read(_)), "{err}");
}

#[tokio::test]
async fn a_corrupt_body_names_the_document() {
    let (_dir, store) = file_store().await;
    sqlx::query("INSERT INTO documents (collection, id, body) VALUES ('persons', 'bad', '{')")
        .execute(&store.pool)
        .await
        .unwrap();
    let err = store.get(Collection::Persons, "bad").await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Corrupt(id, _) if id == "bad"),
        "{err}"
    );
    // The text reads hand the body over as it is.
    let text = store
        .get_many_text(Collection::Persons, &["bad".to_owned()])
        .await
        .unwrap();
    assert_eq!(text[0].body, "{");
}

#[tokio::test]
async fn a_failed_read_is_a_read_error_and_the_pool_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("genealogy.db"))
        .await
        .unwrap();
    // Not migrated yet: no tables.
    let err = store.get(Collection::Persons, "p").await.unwrap_err();
    assert!(
        matches!(err, StoreError::Read(_)) && err.to_string().contains("no such table"),
        "{err}"
    );
    store.migrate().await.unwrap();
    assert_eq!(store.get(Collection::Persons, "p").await.unwrap(), None);
}

#[tokio::test]
async fn a_panicking_read_is_a_read_task_error() {
    let (_dir, store) = file_store().await;
    let readers = store.readers.clone().unwrap();
    let err = readers
        .run::<(), _>(|_| panic!("a read that panics"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::ReadTask(_)), "{err}");
    // Its connection was dropped, not returned; the next read opens another.
    assert_eq!(store.get(Collection::Persons, "p").await.unwrap(), None);
}

#[tokio::test]
async fn pages_and_totals_match_the_sqlx_reads() {
    let (_dir, store) = file_store().await;
    let writes = (0..25)
        .map(|n| Write::put(Collection::Persons, person(&format!("p{n:02}"), n)))
        .collect();
    store.commit(writes).await.unwrap();
    // The same database read through the writer's pool instead.
    let sqlx_only = SqliteStore {
        pool: store.pool.clone(),
        readers: None,
    };
    let queries = [
        Query::by_key(Collection::Persons, "tree", "t1").page(0, 10),
        Query::by_key(Collection::Persons, "tree", "t1").page(20, 10),
        Query::by_key(Collection::Persons, "tree", "t1").page(30, 10),
        Query {
            order: crate::store::Order::UpdatedDesc,
            ..Query::by_key(Collection::Persons, "tree", "t1").page(5, 5)
        },
        Query {
            fields: vec![("n".into(), json!(7))],
            ..Query::by_key(Collection::Persons, "tree", "t1")
        },
    ];
    for q in &queries {
        assert_eq!(
            store.find(q).await.unwrap(),
            sqlx_only.find(q).await.unwrap(),
            "{q:?}"
        );
    }
}
