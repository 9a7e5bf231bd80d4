//! `Genealogy::import_batch`: a batch is written whole (persons, events, links), checked like
//! the single-record use cases, and reverted as one history entry.

#![allow(clippy::unwrap_used, reason = "tests: a failed step should panic")]

use dzinza_genealogy::GenealogyError;
use dzinza_genealogy::model::{ParentKind, RelationshipKind, new_id};
use dzinza_genealogy::policy::Actor;
use dzinza_genealogy::service::{
    ImportBatch, ImportPerson, NewRelationship, PageRequest, PersonFilter,
};
use serde_json::json;

mod common;
use common::service;

fn person(id: &str, given: &str) -> ImportPerson {
    serde_json::from_value(json!({"id": id, "names": [{"given": given, "surname": "Moyo"}]}))
        .unwrap()
}

fn parent(tree: &str, parent: &str, child: &str) -> NewRelationship {
    NewRelationship {
        tree_id: tree.to_owned(),
        kind: RelationshipKind::ParentChild {
            parent: parent.to_owned(),
            child: child.to_owned(),
            kind: ParentKind::Biological,
        },
        start_event_id: None,
        end_event_id: None,
        citation_ids: vec![],
    }
}

#[tokio::test]
async fn a_batch_is_written_checked_and_reverted_whole() {
    let (g, owner, tree) = service().await;
    let (a, b, c) = (new_id(), new_id(), new_id());
    let mut batch = ImportBatch {
        persons: vec![
            person(&a, "Tendai"),
            person(&b, "Rudo"),
            person(&c, "Farai"),
        ],
        ..ImportBatch::default()
    };
    batch.events.push(
        serde_json::from_value(json!({
            "id": new_id(), "type": "birth", "date": "ABT 1850",
            "place": {"name": "Harare, Zimbabwe"}, "participants": [{"person_id": c}]
        }))
        .unwrap(),
    );
    batch.relationships = vec![parent(&tree, &a, &c), parent(&tree, &b, &c)];
    let out = g.import_batch(&owner, &tree, batch).await.unwrap();
    assert_eq!((out.persons, out.events, out.relationships), (3, 1, 2));
    let fam = g.family(&owner, &c).await.unwrap();
    assert_eq!(fam.parents.len(), 2);
    assert!(fam.person.birth.is_some());

    // A later batch links to stored persons; a third biological parent is refused.
    let d = new_id();
    let third = ImportBatch {
        persons: vec![person(&d, "Chipo")],
        relationships: vec![parent(&tree, &d, &c)],
        ..ImportBatch::default()
    };
    let e = g.import_batch(&owner, &tree, third).await.unwrap_err();
    assert!(matches!(e, GenealogyError::Validation(f) if f[0].field == "relationships.0.child"));

    // A cycle through stored descent: c is a's child, so a cannot be c's child.
    let cycle = ImportBatch {
        relationships: vec![parent(&tree, &c, &a)],
        ..ImportBatch::default()
    };
    let e = g.import_batch(&owner, &tree, cycle).await.unwrap_err();
    assert!(matches!(e, GenealogyError::Validation(f) if f[0].field == "relationships.0.parent"));

    // Unknown persons, bad names and reused ids are refused.
    let bad = ImportBatch {
        persons: vec![person(&a, "Again")],
        ..ImportBatch::default()
    };
    assert!(matches!(
        g.import_batch(&owner, &tree, bad).await.unwrap_err(),
        GenealogyError::Conflict(_)
    ));
    let bad = ImportBatch {
        relationships: vec![parent(&tree, &new_id(), &a)],
        ..ImportBatch::default()
    };
    assert!(matches!(
        g.import_batch(&owner, &tree, bad).await.unwrap_err(),
        GenealogyError::Validation(f) if f[0].field == "relationships.0.parent"
    ));
    let unnamed: ImportPerson =
        serde_json::from_value(json!({"id": new_id(), "names": [{"given": " "}]})).unwrap();
    let bad = ImportBatch {
        persons: vec![unnamed],
        ..ImportBatch::default()
    };
    assert!(matches!(
        g.import_batch(&owner, &tree, bad).await.unwrap_err(),
        GenealogyError::Validation(f) if f[0].field == "persons.0.names.0.given"
    ));

    // Viewers may not import; reverting the entry removes the whole batch.
    assert!(
        g.import_batch(&Actor::user("stranger"), &tree, ImportBatch::default())
            .await
            .is_err()
    );
    g.revert(&owner, out.history_id.as_deref().unwrap())
        .await
        .unwrap();
    let left = g
        .list_persons(
            &owner,
            &tree,
            PersonFilter::default(),
            PageRequest::new(None, None),
        )
        .await
        .unwrap();
    assert_eq!(left.total, 0);
}
