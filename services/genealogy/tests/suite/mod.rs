//! The documents-port conformance suite: every adapter must pass all of it.
//!
//! `run(store)` takes a freshly migrated store; each check uses its own ids, so the suite can
//! share one database.

#![allow(
    clippy::unwrap_used,
    dead_code,
    reason = "tests: a failed step should panic"
)]

use std::sync::Arc;

use dzinza_genealogy::model::Collection;
use dzinza_genealogy::store::changes::MOST_CHANGES;
use dzinza_genealogy::store::{
    Changes, Document, DocumentStore, Expect, Order, Query, Select, StoreError, Write,
};
use serde_json::{Value, json};

fn doc(id: &str, body: Value, keys: &[(&str, &str)], sort: &str, updated_at: i64) -> Document {
    Document {
        id: id.to_owned(),
        body,
        keys: keys
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        sort: sort.to_owned(),
        updated_at,
    }
}

fn ids(page: &[Document]) -> Vec<&str> {
    page.iter().map(|d| d.id.as_str()).collect()
}

async fn put(store: &dyn DocumentStore, c: Collection, d: Document) {
    store.commit(vec![Write::put(c, d)]).await.unwrap();
}

/// Runs every check.
pub async fn run(store: Arc<dyn DocumentStore>) {
    let s = store.as_ref();
    s.ping().await.unwrap();
    round_trip(s).await;
    listing_in_sort_order_with_totals(s).await;
    totals_follow_rewrites_and_deletes(s).await;
    orders(s).await;
    every_window_in_every_order(s).await;
    prefix_search(s).await;
    narrowing_and_fields(s).await;
    rewrites_replace_keys(s).await;
    commits_are_atomic(s).await;
    preconditions(s).await;
    collections_are_separate(s).await;
    concurrent_conditional_writes(store.clone()).await;
    concurrent_unconditional_writes(store.clone()).await;
    writes_of_one_commit_apply_in_order(s).await;
    empty_pages_and_field_equality(s).await;
    awkward_bodies_round_trip(s).await;
    changes_name_every_tracked_write_since_a_mark(s).await;
    // Migrating twice is harmless.
    s.migrate().await.unwrap();
}

async fn round_trip(s: &dyn DocumentStore) {
    let body = json!({"id": "rt1", "name": "Ann", "nested": {"a": [1, 2.5, "x"]}, "flag": true});
    put(
        s,
        Collection::Persons,
        doc("rt1", body.clone(), &[("tree", "rt")], "ann", 5),
    )
    .await;
    let got = s.get(Collection::Persons, "rt1").await.unwrap().unwrap();
    assert_eq!(got.body, body);
    assert_eq!(got.sort, "ann");
    assert_eq!(got.updated_at, 5);
    assert!(
        s.get(Collection::Persons, "missing")
            .await
            .unwrap()
            .is_none()
    );
    let many = s
        .get_many(Collection::Persons, &["rt1".into(), "missing".into()])
        .await
        .unwrap();
    assert_eq!(ids(&many), ["rt1"]);
    assert!(
        s.get_many(Collection::Persons, &[])
            .await
            .unwrap()
            .is_empty()
    );
    s.commit(vec![Write::delete(Collection::Persons, "rt1")])
        .await
        .unwrap();
    assert!(s.get(Collection::Persons, "rt1").await.unwrap().is_none());
    let page = s
        .find(&Query::by_key(Collection::Persons, "tree", "rt"))
        .await
        .unwrap();
    assert_eq!(page.total, 0, "a deleted document's keys go with it");
}

async fn listing_in_sort_order_with_totals(s: &dyn DocumentStore) {
    for (id, sort) in [
        ("l3", "carol"),
        ("l1", "alice"),
        ("l2", "bob"),
        ("l4", "dave"),
    ] {
        put(
            s,
            Collection::Persons,
            doc(
                id,
                json!({"id": id}),
                &[("tree", "lt"), ("tree", "lt-other")],
                sort,
                0,
            ),
        )
        .await;
    }
    put(
        s,
        Collection::Persons,
        doc("lx", json!({}), &[("tree", "elsewhere")], "aaa", 0),
    )
    .await;
    let all = s
        .find(&Query::by_key(Collection::Persons, "tree", "lt"))
        .await
        .unwrap();
    assert_eq!(ids(&all.items), ["l1", "l2", "l3", "l4"]);
    assert_eq!(all.total, 4);
    let page = s
        .find(&Query::by_key(Collection::Persons, "tree", "lt").page(1, 2))
        .await
        .unwrap();
    assert_eq!(ids(&page.items), ["l2", "l3"]);
    assert_eq!(page.total, 4, "the total ignores paging");
    let past = s
        .find(&Query::by_key(Collection::Persons, "tree", "lt").page(10, 2))
        .await
        .unwrap();
    assert!(past.items.is_empty());
    assert_eq!(past.total, 4);
    // Any of several values: each document once.
    let both = s
        .find(&Query::by_keys(
            Collection::Persons,
            "tree",
            &[
                "lt".to_owned(),
                "lt-other".to_owned(),
                "elsewhere".to_owned(),
            ],
        ))
        .await
        .unwrap();
    assert_eq!(ids(&both.items), ["lx", "l1", "l2", "l3", "l4"]);
    assert_eq!(both.total, 5);
}

/// The total of a full page (which the page itself cannot tell) after documents gain, keep,
/// change and lose a key, and after a commit that fails: for a key an adapter may count ahead
/// (`persons`/`tree`) and for one it counts on demand (`tag`).
async fn totals_follow_rewrites_and_deletes(s: &dyn DocumentStore) {
    let total = |key: &'static str, value: &'static str| async move {
        let page = s
            .find(&Query::by_key(Collection::Persons, key, value).page(0, 1))
            .await
            .unwrap();
        assert!(page.items.len() <= 1);
        page.total
    };
    for i in 0..5 {
        let id = format!("tc{i}");
        put(
            s,
            Collection::Persons,
            doc(
                &id,
                json!({"n": i}),
                &[("tree", "tc-a"), ("tag", "tc-t")],
                &id,
                0,
            ),
        )
        .await;
    }
    assert_eq!(total("tree", "tc-a").await, 5);
    assert_eq!(total("tag", "tc-t").await, 5);
    // Rewritten with the same keys: counted once.
    put(
        s,
        Collection::Persons,
        doc(
            "tc0",
            json!({"n": 10}),
            &[("tree", "tc-a"), ("tag", "tc-t")],
            "tc0",
            1,
        ),
    )
    .await;
    assert_eq!(total("tree", "tc-a").await, 5);
    // Moved to another tree and untagged.
    put(
        s,
        Collection::Persons,
        doc("tc1", json!({"n": 11}), &[("tree", "tc-b")], "tc1", 1),
    )
    .await;
    assert_eq!(total("tree", "tc-a").await, 4);
    assert_eq!(total("tree", "tc-b").await, 1);
    assert_eq!(total("tag", "tc-t").await, 4);
    // Deleted, twice over in one commit (the second delete finds nothing).
    s.commit(vec![
        Write::delete(Collection::Persons, "tc2"),
        Write::delete(Collection::Persons, "tc2"),
    ])
    .await
    .unwrap();
    assert_eq!(total("tree", "tc-a").await, 3);
    assert_eq!(total("tag", "tc-t").await, 3);
    // A commit whose precondition fails changes no count.
    let failed = s
        .commit(vec![
            Write::delete(Collection::Persons, "tc3"),
            Write::put(
                Collection::Persons,
                doc("tc9", json!({}), &[("tree", "tc-a")], "tc9", 0),
            ),
            Write::put(
                Collection::Persons,
                doc("tc4", json!({}), &[("tree", "tc-b")], "tc4", 0),
            )
            .expecting(Expect::Absent),
        ])
        .await;
    assert!(matches!(failed, Err(StoreError::Conflict { .. })));
    assert_eq!(total("tree", "tc-a").await, 3);
    assert_eq!(total("tree", "tc-b").await, 1);
    // The same key in another collection is counted apart.
    put(
        s,
        Collection::Events,
        doc("tc-e", json!({}), &[("tree", "tc-a")], "e", 0),
    )
    .await;
    assert_eq!(total("tree", "tc-a").await, 3);
    // All gone: zero, and a value never used is zero too.
    s.commit(
        ["tc0", "tc3", "tc4"]
            .iter()
            .map(|id| Write::delete(Collection::Persons, id))
            .collect(),
    )
    .await
    .unwrap();
    assert_eq!(total("tree", "tc-a").await, 0);
    assert_eq!(total("tree", "tc-never").await, 0);
}

async fn orders(s: &dyn DocumentStore) {
    // o4 ties with o2 on both sort and update time: ties go by id (descending orders reverse it).
    for (id, sort, updated) in [
        ("o1", "a", 30),
        ("o4", "b", 10),
        ("o2", "b", 10),
        ("o3", "c", 20),
    ] {
        put(
            s,
            Collection::Events,
            doc(id, json!({}), &[("tree", "ot")], sort, updated),
        )
        .await;
    }
    let mut q = Query::by_key(Collection::Events, "tree", "ot");
    for (order, want) in [
        (Order::Sort, ["o1", "o2", "o4", "o3"]),
        (Order::SortDesc, ["o3", "o4", "o2", "o1"]),
        (Order::UpdatedDesc, ["o1", "o3", "o4", "o2"]),
        (Order::Updated, ["o2", "o4", "o3", "o1"]),
    ] {
        q.order = order;
        assert_eq!(ids(&s.find(&q).await.unwrap().items), want, "{order:?}");
    }
}

/// Every page of a listing, at every offset and size in every order, is the matching slice
/// of the whole listing, with sort and update-time ties, for a key an adapter may count ahead
/// (`persons`/`tree`, whose deep pages an adapter may read from the far end) and for one it
/// counts on demand (`tag`).
async fn every_window_in_every_order(s: &dyn DocumentStore) {
    let sorts = ["m", "c", "m", "a", "x", "c", "m", "b", "z"];
    for (i, sort) in sorts.iter().enumerate() {
        let id = format!("w{i}");
        let updated = i64::try_from(i % 3).unwrap();
        put(
            s,
            Collection::Persons,
            doc(
                &id,
                json!({"id": id}),
                &[("tree", "wt"), ("tag", "wt-tag")],
                sort,
                updated,
            ),
        )
        .await;
    }
    let n = sorts.len();
    for key in ["tree", "tag"] {
        let key_value = if key == "tree" { "wt" } else { "wt-tag" };
        for order in [
            Order::Sort,
            Order::SortDesc,
            Order::Updated,
            Order::UpdatedDesc,
        ] {
            let mut q = Query::by_key(Collection::Persons, key, key_value);
            q.order = order;
            let whole = s.find(&q).await.unwrap();
            let whole = ids(&whole.items);
            assert_eq!(whole.len(), n, "{key} {order:?}");
            for offset in 0..=n + 1 {
                for limit in 1..=n + 1 {
                    let page = s
                        .find(&q.clone().page(offset as u64, limit as u64))
                        .await
                        .unwrap();
                    let want = &whole[offset.min(n)..(offset + limit).min(n)];
                    assert_eq!(
                        ids(&page.items),
                        want,
                        "{key} {order:?} offset {offset} limit {limit}"
                    );
                    assert_eq!(page.total, n as u64, "{key} {order:?} {offset}+{limit}");
                }
            }
        }
    }
}

async fn prefix_search(s: &dyn DocumentStore) {
    let people = [
        (
            "p1",
            "smith\u{1}john",
            &[("name", "john"), ("name", "john smith"), ("name", "smith")][..],
        ),
        (
            "p2",
            "smithers\u{1}ann",
            &[("name", "ann"), ("name", "smithers")][..],
        ),
        (
            "p3",
            "smyth\u{1}jo",
            &[("name", "jo"), ("name", "smyth")][..],
        ),
        ("p4", "100%\u{1}x", &[("name", "100%"), ("name", "a_b")][..]),
    ];
    for (id, sort, keys) in people {
        let mut keys = keys.to_vec();
        keys.push(("tree", "pt"));
        put(
            s,
            Collection::Persons,
            doc(id, json!({"id": id}), &keys, sort, 0),
        )
        .await;
    }
    let prefix = |p: &str| {
        let mut q = Query::by_key(Collection::Persons, "", "");
        q.select = Select::Prefix {
            key: "name".into(),
            prefix: p.into(),
        };
        q.narrow.push(vec![("tree".into(), "pt".into())]);
        q
    };
    let smi = s.find(&prefix("smi")).await.unwrap();
    assert_eq!(ids(&smi.items), ["p1", "p2"]);
    assert_eq!(smi.total, 2);
    let jo = s.find(&prefix("jo")).await.unwrap();
    assert_eq!(
        ids(&jo.items),
        ["p1", "p3"],
        "each person once, in sort order"
    );
    assert_eq!(jo.total, 2);
    assert_eq!(ids(&s.find(&prefix("john s")).await.unwrap().items), ["p1"]);
    assert_eq!(ids(&s.find(&prefix("100%")).await.unwrap().items), ["p4"]);
    assert!(
        s.find(&prefix("1%")).await.unwrap().items.is_empty(),
        "% is literal"
    );
    assert!(s.find(&prefix("a%b")).await.unwrap().items.is_empty());
    assert_eq!(ids(&s.find(&prefix("a_")).await.unwrap().items), ["p4"]);
    assert!(
        s.find(&prefix("ab")).await.unwrap().items.is_empty(),
        "_ is literal"
    );
    assert!(s.find(&prefix("zz")).await.unwrap().items.is_empty());
    let paged = s.find(&prefix("jo").page(1, 1)).await.unwrap();
    assert_eq!(ids(&paged.items), ["p3"]);
    assert_eq!(paged.total, 2);
}

async fn narrowing_and_fields(s: &dyn DocumentStore) {
    let rows = [
        (
            "n1",
            "female",
            true,
            &[("tree", "nt"), ("tag", "farmer")][..],
        ),
        (
            "n2",
            "male",
            true,
            &[("tree", "nt"), ("tag", "farmer"), ("tag", "soldier")][..],
        ),
        (
            "n3",
            "female",
            false,
            &[("tree", "nt"), ("tag", "soldier")][..],
        ),
        ("n4", "female", true, &[("tree", "nt")][..]),
    ];
    for (i, (id, sex, alive, keys)) in rows.iter().enumerate() {
        put(
            s,
            Collection::Persons,
            doc(
                id,
                json!({"id": id, "sex": sex, "alive": alive}),
                keys,
                &format!("{i}"),
                0,
            ),
        )
        .await;
    }
    let base = Query::by_key(Collection::Persons, "tree", "nt");
    let mut q = base.clone();
    q.narrow.push(vec![("tag".into(), "farmer".into())]);
    assert_eq!(ids(&s.find(&q).await.unwrap().items), ["n1", "n2"]);
    q.narrow.push(vec![("tag".into(), "soldier".into())]);
    assert_eq!(
        ids(&s.find(&q).await.unwrap().items),
        ["n2"],
        "groups are ANDed"
    );
    let mut q = base.clone();
    q.narrow.push(vec![
        ("tag".into(), "farmer".into()),
        ("tag".into(), "soldier".into()),
    ]);
    let either = s.find(&q).await.unwrap();
    assert_eq!(
        ids(&either.items),
        ["n1", "n2", "n3"],
        "pairs in a group are ORed"
    );
    assert_eq!(either.total, 3);
    let mut q = base.clone();
    q.fields.push(("sex".into(), json!("female")));
    let f = s.find(&q).await.unwrap();
    assert_eq!(ids(&f.items), ["n1", "n3", "n4"]);
    assert_eq!(f.total, 3);
    q.fields.push(("alive".into(), json!(true)));
    assert_eq!(ids(&s.find(&q).await.unwrap().items), ["n1", "n4"]);
}

async fn rewrites_replace_keys(s: &dyn DocumentStore) {
    put(
        s,
        Collection::Persons,
        doc("rw", json!({"v": 1}), &[("tree", "rw-a")], "x", 0),
    )
    .await;
    put(
        s,
        Collection::Persons,
        doc("rw", json!({"v": 2}), &[("tree", "rw-b")], "y", 1),
    )
    .await;
    let a = s
        .find(&Query::by_key(Collection::Persons, "tree", "rw-a"))
        .await
        .unwrap();
    assert_eq!(a.total, 0, "old keys are gone");
    let b = s
        .find(&Query::by_key(Collection::Persons, "tree", "rw-b"))
        .await
        .unwrap();
    assert_eq!(b.items[0].body, json!({"v": 2}));
    assert_eq!(b.items[0].sort, "y");
}

async fn commits_are_atomic(s: &dyn DocumentStore) {
    put(
        s,
        Collection::Persons,
        doc("at1", json!({"v": 1}), &[("tree", "at")], "1", 0),
    )
    .await;
    let r = s
        .commit(vec![
            Write::put(
                Collection::Persons,
                doc("at2", json!({}), &[("tree", "at")], "2", 0),
            ),
            Write::delete(Collection::Persons, "at1"),
            // Fails: at1 is not {"v": 9}.
            Write::put(Collection::Events, doc("at3", json!({}), &[], "", 0))
                .expecting(Expect::Absent),
            Write::put(Collection::Persons, doc("at1", json!({"v": 3}), &[], "", 0))
                .expecting(Expect::Body(json!({"v": 9}))),
        ])
        .await;
    assert!(
        matches!(r, Err(StoreError::Conflict { ref id, .. }) if id == "at1"),
        "{r:?}"
    );
    assert!(s.get(Collection::Persons, "at2").await.unwrap().is_none());
    assert!(s.get(Collection::Events, "at3").await.unwrap().is_none());
    assert_eq!(
        s.get(Collection::Persons, "at1")
            .await
            .unwrap()
            .unwrap()
            .body,
        json!({"v": 1}),
        "nothing of a failed commit is applied"
    );
    s.commit(vec![]).await.unwrap();
}

async fn preconditions(s: &dyn DocumentStore) {
    let d = doc("pc", json!({"v": 1}), &[], "", 0);
    s.commit(vec![
        Write::put(Collection::Notes, d.clone()).expecting(Expect::Absent),
    ])
    .await
    .unwrap();
    let again = s
        .commit(vec![
            Write::put(Collection::Notes, d.clone()).expecting(Expect::Absent),
        ])
        .await;
    assert!(matches!(again, Err(StoreError::Conflict { .. })));
    let next = doc("pc", json!({"v": 2}), &[], "", 0);
    s.commit(vec![
        Write::put(Collection::Notes, next.clone()).expecting(Expect::Body(json!({"v": 1}))),
    ])
    .await
    .unwrap();
    let stale = s
        .commit(vec![
            Write::put(Collection::Notes, next).expecting(Expect::Body(json!({"v": 1}))),
        ])
        .await;
    assert!(matches!(stale, Err(StoreError::Conflict { .. })));
    let gone = s
        .commit(vec![
            Write::delete(Collection::Notes, "never").expecting(Expect::Body(json!({}))),
        ])
        .await;
    assert!(matches!(gone, Err(StoreError::Conflict { .. })));
    s.commit(vec![
        Write::delete(Collection::Notes, "pc").expecting(Expect::Body(json!({"v": 2}))),
    ])
    .await
    .unwrap();
}

async fn collections_are_separate(s: &dyn DocumentStore) {
    put(
        s,
        Collection::Sources,
        doc("same", json!({"c": "s"}), &[("tree", "cs")], "", 0),
    )
    .await;
    put(
        s,
        Collection::Citations,
        doc("same", json!({"c": "c"}), &[("tree", "cs")], "", 0),
    )
    .await;
    assert_eq!(
        s.get(Collection::Sources, "same")
            .await
            .unwrap()
            .unwrap()
            .body,
        json!({"c": "s"})
    );
    let cits = s
        .find(&Query::by_key(Collection::Citations, "tree", "cs"))
        .await
        .unwrap();
    assert_eq!(cits.total, 1);
    assert_eq!(cits.items[0].body, json!({"c": "c"}));
}

async fn concurrent_conditional_writes(store: Arc<dyn DocumentStore>) {
    put(
        store.as_ref(),
        Collection::Trees,
        doc("cc", json!({"n": 0}), &[], "", 0),
    )
    .await;
    let mut tasks = Vec::new();
    for i in 1..=8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .commit(vec![
                    Write::put(Collection::Trees, doc("cc", json!({"n": i}), &[], "", 0))
                        .expecting(Expect::Body(json!({"n": 0}))),
                ])
                .await
        }));
    }
    let mut wins = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(()) => wins += 1,
            Err(StoreError::Conflict { .. }) => {}
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    assert_eq!(wins, 1, "exactly one writer of the same version wins");
}

async fn concurrent_unconditional_writes(store: Arc<dyn DocumentStore>) {
    let mut tasks = Vec::new();
    for i in 1..=8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .commit(vec![
                    Write::put(
                        Collection::Trees,
                        doc("cu", json!({"n": i}), &[("tree", "cu")], "", 0),
                    ),
                    Write::put(
                        Collection::Trees,
                        doc(&format!("cu{i}"), json!({"n": i}), &[("tree", "cu")], "", 0),
                    ),
                ])
                .await
        }));
    }
    for t in tasks {
        t.await
            .unwrap()
            .expect("unconditional writes never conflict: the store serialises them");
    }
    let all = s_find_all(store.as_ref(), Collection::Trees, "tree", "cu").await;
    assert_eq!(
        all.len(),
        9,
        "every writer's own document and the shared one"
    );
    let shared = store.get(Collection::Trees, "cu").await.unwrap().unwrap();
    assert!((1..=8).any(|i| shared.body == json!({"n": i})));
}

async fn s_find_all(s: &dyn DocumentStore, c: Collection, key: &str, value: &str) -> Vec<Document> {
    s.find(&Query::by_key(c, key, value)).await.unwrap().items
}

async fn writes_of_one_commit_apply_in_order(s: &dyn DocumentStore) {
    // A later write's precondition sees what the earlier writes of the same commit left.
    s.commit(vec![
        Write::put(
            Collection::Notes,
            doc("seq", json!({"v": 1}), &[("tree", "seq")], "a", 0),
        )
        .expecting(Expect::Absent),
        Write::put(
            Collection::Notes,
            doc("seq", json!({"v": 2}), &[("tree", "seq2")], "b", 0),
        )
        .expecting(Expect::Body(json!({"v": 1}))),
    ])
    .await
    .unwrap();
    let got = s.get(Collection::Notes, "seq").await.unwrap().unwrap();
    assert_eq!(got.body, json!({"v": 2}), "the last write of an id wins");
    assert!(
        s_find_all(s, Collection::Notes, "tree", "seq")
            .await
            .is_empty()
    );
    assert_eq!(
        s_find_all(s, Collection::Notes, "tree", "seq2").await.len(),
        1
    );
    // Deleted and written again in one commit; then written and deleted.
    s.commit(vec![
        Write::delete(Collection::Notes, "seq").expecting(Expect::Body(json!({"v": 2}))),
        Write::put(Collection::Notes, doc("seq", json!({"v": 3}), &[], "", 0))
            .expecting(Expect::Absent),
        Write::put(Collection::Notes, doc("seq-tmp", json!({}), &[], "", 0)),
        Write::delete(Collection::Notes, "seq-tmp"),
    ])
    .await
    .unwrap();
    assert_eq!(
        s.get(Collection::Notes, "seq").await.unwrap().unwrap().body,
        json!({"v": 3})
    );
    assert!(s.get(Collection::Notes, "seq-tmp").await.unwrap().is_none());
    // A precondition that only fails because of an earlier write of the same commit.
    let r = s
        .commit(vec![
            Write::delete(Collection::Notes, "seq"),
            Write::put(Collection::Notes, doc("seq", json!({"v": 4}), &[], "", 0))
                .expecting(Expect::Body(json!({"v": 3}))),
        ])
        .await;
    assert!(matches!(r, Err(StoreError::Conflict { .. })), "{r:?}");
    assert_eq!(
        s.get(Collection::Notes, "seq").await.unwrap().unwrap().body,
        json!({"v": 3})
    );
}

async fn empty_pages_and_field_equality(s: &dyn DocumentStore) {
    for (id, tags) in [
        ("fe1", json!("farmer")),
        ("fe2", json!(["farmer", "smith"])),
    ] {
        put(
            s,
            Collection::Persons,
            doc(id, json!({"tag": tags, "n": 2}), &[("tree", "fe")], id, 0),
        )
        .await;
    }
    let base = Query::by_key(Collection::Persons, "tree", "fe");
    let none = s.find(&base.clone().page(0, 0)).await.unwrap();
    assert!(none.items.is_empty(), "a limit of 0 is an empty page");
    assert_eq!(none.total, 2);
    let mut q = base.clone();
    q.fields.push(("tag".into(), json!("farmer")));
    assert_eq!(
        ids(&s.find(&q).await.unwrap().items),
        ["fe1"],
        "equality with the field, not membership in an array"
    );
    let mut q = base.clone();
    q.fields.push(("n".into(), json!(2.0)));
    assert_eq!(
        s.find(&q).await.unwrap().total,
        2,
        "numbers compare by value"
    );
    let mut q = base;
    q.select = Select::Any(Vec::new());
    assert_eq!(
        s.find(&q).await.unwrap().total,
        0,
        "no pairs select nothing"
    );
}

async fn awkward_bodies_round_trip(s: &dyn DocumentStore) {
    // Person attributes are keyed by user input.
    let body = json!({
        "attributes": {"a.b": "1", "$where": "2", "100%": "3", "nul\u{0}key": "4", "": "5"},
        "text": "quote \" backslash \\ nul \u{0} emoji \u{1F600}",
        "numbers": [0, -1, 1.5, 1.0, 1e300, i64::MIN, i64::MAX],
        "deep": {"a": {"b": {"c": [[], {}, null]}}}
    });
    put(
        s,
        Collection::Persons,
        doc(
            "awk",
            body.clone(),
            &[("tree", "awk")],
            "\u{1}\u{10FFFF}",
            1,
        ),
    )
    .await;
    let got = s.get(Collection::Persons, "awk").await.unwrap().unwrap();
    assert_eq!(got.body, body);
    assert_eq!(got.sort, "\u{1}\u{10FFFF}");
    let text = s
        .find_text(&Query::by_key(Collection::Persons, "tree", "awk"))
        .await
        .unwrap();
    assert_eq!(text.total, 1);
    let parsed: Value = serde_json::from_str(&text.items[0].body).unwrap();
    assert_eq!(parsed, body);
    let many = s
        .get_many_text(Collection::Persons, &["awk".into()])
        .await
        .unwrap();
    assert_eq!(serde_json::from_str::<Value>(&many[0].body).unwrap(), body);
    // The body is compared by value in a precondition.
    s.commit(vec![
        Write::delete(Collection::Persons, "awk").expecting(Expect::Body(body)),
    ])
    .await
    .unwrap();
}

/// The changes to vitals (the tracked collection) after `since`.
async fn vitals_changes(s: &dyn DocumentStore, since: Option<u64>) -> Changes {
    s.changes(Collection::Vitals, since).await.unwrap().unwrap()
}

fn vitals_write(id: &str, n: i64) -> Write {
    Write::put(Collection::Vitals, doc(id, json!({ "n": n }), &[], "", n))
}

fn changed(mark: u64, ids: &[&str]) -> Changes {
    Changes::Some {
        mark,
        ids: ids.iter().map(|s| (*s).to_owned()).collect(),
    }
}

/// Every write or delete of a vitals document is logged with its commit and listed after an
/// earlier mark, in commit order; other collections are not tracked.
async fn changes_name_every_tracked_write_since_a_mark(s: &dyn DocumentStore) {
    assert_eq!(
        s.changes(Collection::Persons, None).await.unwrap(),
        None,
        "only vitals are tracked"
    );
    let Changes::Any { mark: m0 } = vitals_changes(s, None).await else {
        panic!("a first look cannot know what changed");
    };
    assert_eq!(vitals_changes(s, Some(m0)).await, changed(m0, &[]));

    s.commit(vec![
        vitals_write("ch-a", 1),
        vitals_write("ch-b", 1),
        Write::put(Collection::Persons, doc("ch-p", json!({}), &[], "", 1)),
    ])
    .await
    .unwrap();
    let Changes::Some { mark: m1, ids } = vitals_changes(s, Some(m0)).await else {
        panic!("every change is kept");
    };
    assert_eq!(ids, ["ch-a", "ch-b"]);
    assert_eq!(
        m1,
        m0 + 2,
        "one change per vitals document, none for the person"
    );

    // An update and a delete.
    s.commit(vec![
        vitals_write("ch-a", 2),
        Write::delete(Collection::Vitals, "ch-b"),
    ])
    .await
    .unwrap();
    assert_eq!(
        vitals_changes(s, Some(m1)).await,
        changed(m1 + 2, &["ch-a", "ch-b"])
    );
    // Asked again from an older mark: everything since then.
    assert_eq!(
        vitals_changes(s, Some(m0)).await,
        changed(m1 + 2, &["ch-a", "ch-b", "ch-a", "ch-b"])
    );
    // A mark this database never gave (restored from a backup, or another database).
    assert_eq!(
        vitals_changes(s, Some(m1 + 3)).await,
        Changes::Any { mark: m1 + 2 }
    );
    // A failed commit logs nothing.
    let failed = s
        .commit(vec![
            vitals_write("ch-c", 1),
            Write::put(Collection::Persons, doc("ch-p", json!({}), &[], "", 2))
                .expecting(Expect::Absent),
        ])
        .await;
    assert!(
        matches!(failed, Err(StoreError::Conflict { .. })),
        "{failed:?}"
    );
    assert_eq!(vitals_changes(s, Some(m1 + 2)).await, changed(m1 + 2, &[]));

    // More changes than a reply lists: anything may have changed.
    let many = (0..=MOST_CHANGES)
        .map(|n| vitals_write(&format!("ch-v{n}"), 1))
        .collect();
    s.commit(many).await.unwrap();
    let newest = m1 + 2 + MOST_CHANGES + 1;
    assert_eq!(
        vitals_changes(s, Some(m1 + 2)).await,
        Changes::Any { mark: newest }
    );
    assert!(matches!(
        vitals_changes(s, Some(newest - 3)).await,
        Changes::Some { ids, .. } if ids.len() == 3
    ));

    // Concurrent commits are numbered in commit order: every change is listed exactly once.
    let before = newest;
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let id = format!("ch-w{w}");
            async move {
                for n in 0..5 {
                    s.commit(vec![vitals_write(&id, n)]).await.unwrap();
                }
            }
        })
        .collect();
    futures_util::future::join_all(writers).await;
    let Changes::Some { mark, ids } = vitals_changes(s, Some(before)).await else {
        panic!("20 changes are kept");
    };
    assert_eq!(mark, before + 20);
    for w in 0..4 {
        let id = format!("ch-w{w}");
        assert_eq!(ids.iter().filter(|i| **i == id).count(), 5, "{id}: {ids:?}");
    }
}
