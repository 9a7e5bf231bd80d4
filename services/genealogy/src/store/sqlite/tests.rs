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

/// On a multi-threaded runtime reads run in place (`block_in_place`): concurrent reads and
/// writes from many tasks still see every commit before them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_in_place_on_a_threaded_runtime_see_each_commit() {
    let (_dir, store) = file_store().await;
    let store = std::sync::Arc::new(store);
    let tasks: Vec<_> = (0..8)
        .map(|t| {
            let store = std::sync::Arc::clone(&store);
            tokio::spawn(async move {
                let id = format!("p{t}");
                for n in 0..20 {
                    store
                        .commit(vec![Write::put(Collection::Persons, person(&id, n))])
                        .await
                        .unwrap();
                    let text = store
                        .get_many_text(Collection::Persons, std::slice::from_ref(&id))
                        .await
                        .unwrap();
                    assert_eq!(text[0].body, format!("{{\"n\":{n}}}"));
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let page = store
        .find(&Query::by_key(Collection::Persons, "tree", "t1"))
        .await
        .unwrap();
    assert_eq!(page.total, 8);
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

fn vitals(id: &str, n: i64) -> Write {
    Write::put(
        Collection::Vitals,
        Document {
            id: id.to_owned(),
            body: json!({ "n": n }),
            keys: Vec::new(),
            sort: String::new(),
            updated_at: n,
        },
    )
}

/// The changes after `since`, which the store must track for vitals.
async fn changes(store: &SqliteStore, since: Option<u64>) -> Changes {
    store
        .changes(Collection::Vitals, since)
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn changes_older_than_the_kept_ones_are_anything() {
    let (_dir, store) = file_store().await;
    let Changes::Any { mark } = changes(&store, None).await else {
        panic!("a first look cannot know what changed");
    };
    let writes = (0..10_005).map(|n| vitals(&format!("v{n}"), n)).collect();
    store.commit(writes).await.unwrap();
    let kept: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM document_changes")
        .fetch_one(&store.pool)
        .await
        .unwrap();
    assert_eq!(kept, 10_000, "the triggers keep the latest 10,000");
    assert_eq!(
        changes(&store, Some(mark)).await,
        Changes::Any {
            mark: mark + 10_005
        }
    );
    // A recent mark still gets the exact list.
    assert!(matches!(
        changes(&store, Some(mark + 10_005 - 500)).await,
        Changes::Some { ids, .. } if ids.len() == 500 && ids[0] == "v9505"
    ));
}
