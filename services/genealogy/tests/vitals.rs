//! Listings show birth, death and "living" from each person's stored vitals; these checks
//! hold them to what the person's own events say (`get_person` reads every event) through
//! every way events change: create, replace, delete, revert, merge and undo, import, tree
//! deletion, and data stored before vitals existed. Pedigrees walk the parent links the vitals
//! keep; those checks hold the links to the relationships through every way they change.

#![allow(clippy::unwrap_used, reason = "tests: a failed step should panic")]

use dzinza_genealogy::model::{Collection, Person, PersonCard, Vitals, new_id};
use dzinza_genealogy::policy::Actor;
use dzinza_genealogy::service::{
    EventInput, Genealogy, ImportBatch, NewMergeSuggestion, NewPerson, NewRelationship, NewTree,
    PageRequest, PersonFilter, PersonPatch, PersonSummary, PersonView, RelationshipPatch,
    SharedSummary, TreePatch, doc_of,
};
use dzinza_genealogy::store::{Document, Query, Write};
use serde_json::{Value, json};

mod common;
use common::service;

async fn person(g: &Genealogy, a: &Actor, tree: &str, given: &str) -> String {
    let p: NewPerson =
        serde_json::from_value(json!({"names": [{"given": given, "surname": "Moyo"}]})).unwrap();
    g.create_person(a, tree, p).await.unwrap().id
}

fn event(tree: &str, kind: &str, date: &str, who: &[(&str, &str)]) -> EventInput {
    serde_json::from_value(json!({
        "tree_id": tree,
        "type": kind,
        "date": date,
        "place": {"name": "Harare"},
        "participants": who
            .iter()
            .map(|(p, role)| json!({"person_id": p, "role": role}))
            .collect::<Vec<_>>(),
    }))
    .unwrap()
}

/// What a listing shows of a person: (birth date text, death date text, living).
fn shown(v: &PersonView) -> (Option<String>, Option<String>, bool) {
    let text = |x: &Option<dzinza_genealogy::service::Vital>| {
        x.as_ref().map(|x| {
            serde_json::to_value(x).unwrap()["date"]["original"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
    };
    (text(&v.birth), text(&v.death), v.living)
}

/// The person as the tree listing shows them, checked against `get_person`.
async fn listed(
    g: &Genealogy,
    a: &Actor,
    tree: &str,
    id: &str,
) -> (Option<String>, Option<String>, bool) {
    let page = g
        .list_persons(
            a,
            tree,
            PersonFilter::default(),
            PageRequest::new(None, Some(100)),
        )
        .await
        .unwrap();
    let item = page.items.iter().find(|p| p.id == id).unwrap();
    let full = g.get_person(a, id).await.unwrap();
    assert_eq!(
        shown(item),
        shown(&full),
        "listing and person agree for {id}"
    );
    shown(item)
}

async fn vitals_doc(g: &Genealogy, id: &str) -> Option<Value> {
    g.store()
        .get(Collection::Vitals, id)
        .await
        .unwrap()
        .map(|d| d.body)
}

#[tokio::test]
async fn listings_follow_every_change_of_vital_events() {
    let (g, o, t) = service().await;
    let a = person(&g, &o, &t, "Tendai").await;
    let b = person(&g, &o, &t, "Rudo").await;
    assert_eq!(listed(&g, &o, &t, &a).await, (None, None, true));

    let birth = g
        .create_event(&o, event(&t, "birth", "12 MAR 1990", &[(&a, "principal")]))
        .await
        .unwrap();
    assert_eq!(
        listed(&g, &o, &t, &a).await,
        (Some("12 MAR 1990".into()), None, true)
    );
    assert!(
        vitals_doc(&g, &a).await.is_some(),
        "listings read the stored vitals"
    );
    // A witness's vitals are not theirs.
    g.create_event(
        &o,
        event(
            &t,
            "death",
            "1 JAN 2020",
            &[(&b, "principal"), (&a, "witness")],
        ),
    )
    .await
    .unwrap();
    assert_eq!(
        listed(&g, &o, &t, &a).await,
        (Some("12 MAR 1990".into()), None, true)
    );
    assert_eq!(
        listed(&g, &o, &t, &b).await,
        (None, Some("1 JAN 2020".into()), false)
    );
    // A non-vital event changes nothing (and needs no vitals rewrite).
    let before = vitals_doc(&g, &a).await;
    g.create_event(&o, event(&t, "residence", "1995", &[(&a, "principal")]))
        .await
        .unwrap();
    assert_eq!(vitals_doc(&g, &a).await, before);

    g.replace_event(
        &o,
        &birth.id,
        event(&t, "birth", "ABT 1890", &[(&a, "principal")]),
    )
    .await
    .unwrap();
    // Born more than 110 years ago with no death: presumed dead.
    assert_eq!(
        listed(&g, &o, &t, &a).await,
        (Some("ABT 1890".into()), None, false)
    );
    // Moved to someone else.
    g.replace_event(
        &o,
        &birth.id,
        event(&t, "birth", "ABT 1890", &[(&b, "principal")]),
    )
    .await
    .unwrap();
    assert_eq!(listed(&g, &o, &t, &a).await, (None, None, true));
    assert_eq!(
        listed(&g, &o, &t, &b).await,
        (Some("ABT 1890".into()), Some("1 JAN 2020".into()), false)
    );
    g.delete_event(&o, &birth.id).await.unwrap();
    assert_eq!(
        listed(&g, &o, &t, &b).await,
        (None, Some("1 JAN 2020".into()), false)
    );
}

#[tokio::test]
async fn revert_merge_and_undo_keep_vitals_in_step() {
    let (g, o, t) = service().await;
    let a = person(&g, &o, &t, "Farai").await;
    let b = person(&g, &o, &t, "Farai").await;
    g.create_event(&o, event(&t, "birth", "1950", &[(&a, "principal")]))
        .await
        .unwrap();
    g.create_event(&o, event(&t, "burial", "3 JUN 2001", &[(&b, "principal")]))
        .await
        .unwrap();
    // Revert the burial's creation: b has no events again.
    let history = g
        .person_history(&o, &b, PageRequest::new(None, None))
        .await
        .unwrap();
    let burial_entry = history
        .items
        .iter()
        .find(|e| e.action == "event_created")
        .unwrap();
    g.revert(&o, &burial_entry.id).await.unwrap();
    assert_eq!(listed(&g, &o, &t, &b).await, (None, None, true));
    // Revert the revert: back again.
    let history = g
        .person_history(&o, &b, PageRequest::new(None, None))
        .await
        .unwrap();
    let revert_entry = history
        .items
        .iter()
        .find(|e| e.action == "reverted")
        .unwrap();
    g.revert(&o, &revert_entry.id).await.unwrap();
    assert_eq!(
        listed(&g, &o, &t, &b).await,
        (None, Some("3 JUN 2001".into()), false)
    );

    // Merge b into a: a has both, b's vitals go with b.
    let s: NewMergeSuggestion = serde_json::from_value(json!({
        "tree_id": t, "person_a": a, "person_b": b,
    }))
    .unwrap();
    let s = g.create_merge_suggestion(&o, s).await.unwrap();
    g.accept_merge(&o, &s.id, Some(a.clone())).await.unwrap();
    assert_eq!(
        listed(&g, &o, &t, &a).await,
        (Some("1950".into()), Some("3 JUN 2001".into()), false)
    );
    assert_eq!(vitals_doc(&g, &b).await, None);
    g.undo_merge(&o, &s.id).await.unwrap();
    assert_eq!(
        listed(&g, &o, &t, &a).await,
        (Some("1950".into()), None, true)
    );
    assert_eq!(
        listed(&g, &o, &t, &b).await,
        (None, Some("3 JUN 2001".into()), false)
    );
}

#[tokio::test]
async fn imports_write_vitals_and_data_without_them_reads_the_events() {
    let (g, o, t) = service().await;
    let (a, b) = (new_id(), new_id());
    let batch: ImportBatch = serde_json::from_value(json!({
        "persons": [
            {"id": a, "names": [{"given": "Chipo"}]},
            {"id": b, "names": [{"given": "Nyasha"}]},
        ],
        "events": [
            {"id": new_id(), "type": "baptism", "date": "2 FEB 1801", "participants": [{"person_id": a}]},
            {"id": new_id(), "type": "cremation", "date": "1870", "participants": [{"person_id": a}]},
            {"id": new_id(), "type": "occupation", "participants": [{"person_id": b}]},
        ],
    }))
    .unwrap();
    g.import_batch(&o, &t, batch).await.unwrap();
    assert!(vitals_doc(&g, &a).await.is_some());
    assert_eq!(
        listed(&g, &o, &t, &a).await,
        (Some("2 FEB 1801".into()), None, false)
    );
    assert_eq!(listed(&g, &o, &t, &b).await, (None, None, true));

    // As if stored before vitals existed: the listing reads the events instead.
    g.store()
        .commit(vec![Write::delete(Collection::Vitals, &a)])
        .await
        .unwrap();
    assert_eq!(
        listed(&g, &o, &t, &a).await,
        (Some("2 FEB 1801".into()), None, false)
    );
}

#[tokio::test]
async fn deleting_a_tree_rewrites_the_vitals_of_people_kept_elsewhere() {
    let (g, o, t) = service().await;
    let other: NewTree = serde_json::from_value(json!({"name": "Other"})).unwrap();
    let other = g.create_tree(&o, other).await.unwrap().tree.id;
    let a = person(&g, &o, &t, "Kuda").await;
    g.link_person(&o, &a, &other).await.unwrap();
    g.create_event(&o, event(&t, "death", "1900", &[(&a, "principal")]))
        .await
        .unwrap();
    g.create_event(&o, event(&other, "birth", "1850", &[(&a, "principal")]))
        .await
        .unwrap();
    assert_eq!(
        listed(&g, &o, &other, &a).await,
        (Some("1850".into()), Some("1900".into()), false)
    );
    // A parent in the deleted tree: the link goes with it.
    let p = person(&g, &o, &t, "Parent").await;
    parent(&g, &o, &t, &p, &a).await;
    g.delete_tree(&o, &t).await.unwrap();
    assert_eq!(
        listed(&g, &o, &other, &a).await,
        (Some("1850".into()), None, false)
    );
    // The kept person's vitals are rewritten in the same commit, not left to fallback reads:
    // the remaining events, no parent link, the card without the deleted tree.
    let v: Vitals = serde_json::from_value(vitals_doc(&g, &a).await.unwrap()).unwrap();
    assert_eq!(v.events.len(), 1);
    assert_eq!(v.parents, Some(vec![]));
    assert_eq!(v.card.unwrap().tree_ids, vec![other]);
    assert_eq!(
        vitals_doc(&g, &p).await,
        None,
        "a person in no tree left has none"
    );
    assert!(ancestors(&g, &o, &a).await.is_empty());
}

async fn parent(g: &Genealogy, a: &Actor, tree: &str, parent: &str, child: &str) -> String {
    let r: NewRelationship = serde_json::from_value(json!({
        "tree_id": tree, "type": "parent_child", "parent": parent, "child": child,
    }))
    .unwrap();
    g.create_relationship(a, r).await.unwrap().id
}

/// Checks a pedigree's summary of a person against the person as `get_person` shows them to
/// the same caller (their document and every event), and, where their vitals keep a card,
/// the card against the stored person.
async fn check_summary(g: &Genealogy, a: &Actor, shared: &SharedSummary) {
    let s = &shared.summary().unwrap();
    // The JSON a response carries is the summary's, field for field.
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(shared.json()).unwrap(),
        serde_json::to_value(s).unwrap()
    );
    let v = g.get_person(a, &s.id).await.unwrap();
    let full = PersonSummary {
        id: v.id,
        tree_ids: v.tree_ids,
        names: v.names,
        sex: v.sex,
        living: v.living,
        privacy: v.privacy,
        birth: v.birth,
        death: v.death,
        masked: v.masked,
    };
    // `Vital` has no `PartialEq` (the date's equality is the date type's); compare as JSON.
    assert_eq!(
        serde_json::to_value(s).unwrap(),
        serde_json::to_value(&full).unwrap(),
        "the pedigree shows {} as the person view does",
        s.id
    );
    let Some(body) = vitals_doc(g, &s.id).await else {
        return;
    };
    let vitals: Vitals = serde_json::from_value(body).unwrap();
    if let Some(card) = vitals.card {
        let doc = g
            .store()
            .get(Collection::Persons, &s.id)
            .await
            .unwrap()
            .unwrap();
        let person: Person = serde_json::from_value(doc.body).unwrap();
        assert_eq!(card, PersonCard::of(&person).unwrap(), "card of {}", s.id);
    }
}

/// The summary a pedigree node shows.
fn node_summary(s: &SharedSummary) -> PersonSummary {
    s.summary().unwrap()
}

/// Ancestors of `id` as (person, generation, via, kind), checked against the relationships: the
/// parent links of everyone's stored vitals are exactly their parent–child relationships; and
/// every node's summary against the person.
async fn ancestors(g: &Genealogy, a: &Actor, id: &str) -> Vec<(String, u32, String, String)> {
    let p = g.pedigree(a, id, 5, true).await.unwrap();
    for n in &p.nodes {
        check_summary(g, a, &n.person).await;
    }
    for who in
        std::iter::once(id.to_owned()).chain(p.nodes.iter().map(|n| node_summary(&n.person).id))
    {
        let Some(body) = vitals_doc(g, &who).await else {
            continue;
        };
        let v: Vitals = serde_json::from_value(body).unwrap();
        let Some(links) = v.parents else { continue };
        let mut kept: Vec<(String, String, String)> = links
            .iter()
            .map(|l| {
                let kind = serde_json::to_value(l.kind).unwrap();
                (
                    l.relationship_id.clone(),
                    l.parent.clone(),
                    kind.as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let rels = g
            .store()
            .find(&Query::by_key(Collection::Relationships, "child", &who))
            .await
            .unwrap();
        let mut actual: Vec<(String, String, String)> = rels
            .items
            .iter()
            .map(|d: &Document| {
                (
                    d.id.clone(),
                    d.body["parent"].as_str().unwrap().to_owned(),
                    d.body["kind"].as_str().unwrap_or("biological").to_owned(),
                )
            })
            .collect();
        kept.sort();
        actual.sort();
        assert_eq!(
            kept, actual,
            "parent links of {who} match the relationships"
        );
    }
    let mut nodes: Vec<(String, u32, String, String)> = p
        .nodes
        .into_iter()
        .map(|n| (node_summary(&n.person).id, n.generation, n.via, n.kind))
        .collect();
    nodes.sort();
    nodes
}

fn node(p: &str, generation: u32, via: &str, kind: &str) -> (String, u32, String, String) {
    (p.into(), generation, via.into(), kind.into())
}

fn sorted(mut v: Vec<(String, u32, String, String)>) -> Vec<(String, u32, String, String)> {
    v.sort();
    v
}

#[tokio::test]
async fn pedigrees_follow_every_change_of_parent_links() {
    let (g, o, t) = service().await;
    let c = person(&g, &o, &t, "Child").await;
    let f = person(&g, &o, &t, "Father").await;
    let m = person(&g, &o, &t, "Mother").await;
    let gf = person(&g, &o, &t, "Grandfather").await;
    parent(&g, &o, &t, &f, &c).await;
    let mother = parent(&g, &o, &t, &m, &c).await;
    let grandfather = parent(&g, &o, &t, &gf, &f).await;
    let full = sorted(vec![
        node(&f, 1, &c, "biological"),
        node(&m, 1, &c, "biological"),
        node(&gf, 2, &f, "biological"),
    ]);
    assert_eq!(ancestors(&g, &o, &c).await, full);
    let kept: Vitals = serde_json::from_value(vitals_doc(&g, &c).await.unwrap()).unwrap();
    assert_eq!(kept.parents.map(|p| p.len()), Some(2), "links are kept");

    let patch: RelationshipPatch =
        serde_json::from_value(json!({"parent_kind": "adopted"})).unwrap();
    g.update_relationship(&o, &mother, patch).await.unwrap();
    assert!(
        ancestors(&g, &o, &c)
            .await
            .contains(&node(&m, 1, &c, "adopted"))
    );

    g.delete_relationship(&o, &grandfather).await.unwrap();
    assert_eq!(ancestors(&g, &o, &c).await.len(), 2);
    let history = g
        .person_history(&o, &f, PageRequest::new(None, None))
        .await
        .unwrap();
    let deletion = history
        .items
        .iter()
        .find(|e| e.action == "relationship_deleted")
        .unwrap();
    g.revert(&o, &deletion.id).await.unwrap();
    assert_eq!(ancestors(&g, &o, &c).await.len(), 3);

    // x (with a parent y) merged into f: f gains y; undone: f loses y again.
    let x = person(&g, &o, &t, "Father").await;
    let y = person(&g, &o, &t, "Other grandfather").await;
    parent(&g, &o, &t, &y, &x).await;
    let s: NewMergeSuggestion = serde_json::from_value(json!({
        "tree_id": t, "person_a": f, "person_b": x,
    }))
    .unwrap();
    let s = g.create_merge_suggestion(&o, s).await.unwrap();
    g.accept_merge(&o, &s.id, Some(f.clone())).await.unwrap();
    assert!(
        ancestors(&g, &o, &c)
            .await
            .contains(&node(&y, 2, &f, "biological"))
    );
    g.undo_merge(&o, &s.id).await.unwrap();
    assert_eq!(ancestors(&g, &o, &c).await.len(), 3);
    assert_eq!(
        ancestors(&g, &o, &x).await,
        vec![node(&y, 1, &x, "biological")]
    );

    // Deleting the father ends the line there.
    g.delete_person(&o, &f).await.unwrap();
    assert_eq!(
        ancestors(&g, &o, &c).await,
        vec![node(&m, 1, &c, "adopted")]
    );
}

#[tokio::test]
async fn imports_keep_parent_links_and_data_without_them_reads_the_relationships() {
    let (g, o, t) = service().await;
    let (a, b, d) = (new_id(), new_id(), new_id());
    let batch: ImportBatch = serde_json::from_value(json!({
        "persons": [
            {"id": a, "names": [{"given": "Chipo"}]},
            {"id": b, "names": [{"given": "Nyasha"}]},
            {"id": d, "names": [{"given": "Tatenda"}]},
        ],
        "relationships": [
            {"tree_id": t, "type": "parent_child", "parent": b, "child": a},
            {"tree_id": t, "type": "parent_child", "parent": d, "child": b, "kind": "foster"},
        ],
    }))
    .unwrap();
    g.import_batch(&o, &t, batch).await.unwrap();
    let expected = sorted(vec![
        node(&b, 1, &a, "biological"),
        node(&d, 2, &b, "foster"),
    ]);
    assert_eq!(ancestors(&g, &o, &a).await, expected);
    let kept: Vitals = serde_json::from_value(vitals_doc(&g, &a).await.unwrap()).unwrap();
    assert_eq!(kept.parents.map(|p| p.len()), Some(1), "links are kept");

    // As if stored before links were kept (vitals without them, or none): the walk reads the
    // relationships instead.
    let old = Vitals {
        id: a.clone(),
        events: Vec::new(),
        version: 7,
        parents: None,
        card: None,
    };
    g.store()
        .commit(vec![
            Write::put(Collection::Vitals, doc_of(&old)),
            Write::delete(Collection::Vitals, &b),
        ])
        .await
        .unwrap();
    assert_eq!(ancestors(&g, &o, &a).await, expected);
}

async fn patch_person(g: &Genealogy, a: &Actor, id: &str, patch: Value) {
    let patch: PersonPatch = serde_json::from_value(patch).unwrap();
    g.update_person(a, id, patch).await.unwrap();
}

/// The summary of `who` in `root`'s ancestors, as `actor` sees them (checked against the person).
async fn summary_of(g: &Genealogy, a: &Actor, root: &str, who: &str) -> Option<PersonSummary> {
    let p = g.pedigree(a, root, 5, true).await.unwrap();
    let found = p
        .nodes
        .into_iter()
        .find(|n| node_summary(&n.person).id == who)?
        .person;
    check_summary(g, a, &found).await;
    Some(node_summary(&found))
}

#[tokio::test]
async fn pedigree_summaries_follow_every_change_of_the_person() {
    let (g, o, t) = service().await;
    let c = person(&g, &o, &t, "Child").await;
    let f = person(&g, &o, &t, "Father").await;
    parent(&g, &o, &t, &f, &c).await;
    let names = |s: &PersonSummary| s.names.iter().map(|n| n.given.clone()).collect::<Vec<_>>();
    assert_eq!(
        names(&summary_of(&g, &o, &c, &f).await.unwrap()),
        ["Father"]
    );
    assert!(
        serde_json::from_value::<Vitals>(vitals_doc(&g, &f).await.unwrap())
            .unwrap()
            .card
            .is_some(),
        "a person's vitals keep their card"
    );

    patch_person(
        &g,
        &o,
        &f,
        json!({"names": [{"given": "Tichaona", "surname": "Moyo"}, {"given": "Tich", "type": "alias"}],
               "sex": "male", "living": false, "privacy": "public"}),
    )
    .await;
    let s = summary_of(&g, &o, &c, &f).await.unwrap();
    assert_eq!(names(&s), ["Tichaona", "Tich"]);
    assert!(!s.living);

    // A birth less than 110 years ago, with the stated flag cleared: living again.
    g.create_event(&o, event(&t, "birth", "1960", &[(&f, "principal")]))
        .await
        .unwrap();
    patch_person(&g, &o, &f, json!({"clear_living": true})).await;
    assert!(summary_of(&g, &o, &c, &f).await.unwrap().living);

    let other: NewTree = serde_json::from_value(json!({"name": "Other"})).unwrap();
    let other = g.create_tree(&o, other).await.unwrap().tree.id;
    g.link_person(&o, &f, &other).await.unwrap();
    assert_eq!(summary_of(&g, &o, &c, &f).await.unwrap().tree_ids.len(), 2);
    g.unlink_person(&o, &f, &other).await.unwrap();
    assert_eq!(
        summary_of(&g, &o, &c, &f).await.unwrap().tree_ids,
        [t.as_str()]
    );

    // Reverting a rename brings the old name back into the pedigree.
    patch_person(&g, &o, &f, json!({"names": [{"given": "Renamed"}]})).await;
    assert_eq!(
        names(&summary_of(&g, &o, &c, &f).await.unwrap()),
        ["Renamed"]
    );
    let history = g
        .person_history(&o, &f, PageRequest::new(None, Some(100)))
        .await
        .unwrap();
    let renamed = history
        .items
        .iter()
        .find(|e| {
            serde_json::to_string(&e.changes)
                .unwrap()
                .contains("Renamed")
        })
        .unwrap();
    g.revert(&o, &renamed.id).await.unwrap();
    assert_eq!(
        names(&summary_of(&g, &o, &c, &f).await.unwrap()),
        ["Tichaona", "Tich"]
    );
}

#[tokio::test]
async fn pedigree_summaries_mask_and_hide_as_person_views_do() {
    let (g, o, t) = service().await;
    let patch: TreePatch = serde_json::from_value(json!({"privacy": "public"})).unwrap();
    g.update_tree(&o, &t, patch).await.unwrap();
    let c = person(&g, &o, &t, "Child").await;
    let living = person(&g, &o, &t, "Living parent").await;
    let dead = person(&g, &o, &t, "Grandparent").await;
    let private = person(&g, &o, &t, "Private great-grandparent").await;
    let beyond = person(&g, &o, &t, "Beyond").await;
    g.create_event(&o, event(&t, "birth", "1990", &[(&living, "principal")]))
        .await
        .unwrap();
    g.create_event(&o, event(&t, "birth", "1850", &[(&dead, "principal")]))
        .await
        .unwrap();
    patch_person(&g, &o, &private, json!({"privacy": "private"})).await;
    parent(&g, &o, &t, &living, &c).await;
    parent(&g, &o, &t, &dead, &living).await;
    parent(&g, &o, &t, &private, &dead).await;
    parent(&g, &o, &t, &beyond, &private).await;

    let stranger = Actor::user("stranger");
    let s = summary_of(&g, &stranger, &c, &living).await.unwrap();
    assert!(s.masked);
    assert_eq!(s.names[0].given, "Living");
    assert!(s.birth.is_none());
    let s = summary_of(&g, &stranger, &c, &dead).await.unwrap();
    assert!(!s.masked);
    assert_eq!(s.names[0].given, "Grandparent");
    assert!(s.birth.is_some());
    // Hidden, and the line ends there: going through would reveal who they connect.
    assert!(summary_of(&g, &stranger, &c, &private).await.is_none());
    assert!(summary_of(&g, &stranger, &c, &beyond).await.is_none());
    // The owner sees everyone in full.
    assert!(!summary_of(&g, &o, &c, &living).await.unwrap().masked);
    assert!(summary_of(&g, &o, &c, &beyond).await.is_some());
}

#[tokio::test]
async fn pedigrees_of_data_stored_before_cards_read_the_persons() {
    let (g, o, t) = service().await;
    let c = person(&g, &o, &t, "Child").await;
    let f = person(&g, &o, &t, "Father").await;
    let m = person(&g, &o, &t, "Mother").await;
    parent(&g, &o, &t, &f, &c).await;
    parent(&g, &o, &t, &m, &c).await;
    g.create_event(&o, event(&t, "birth", "1950", &[(&f, "principal")]))
        .await
        .unwrap();
    g.create_event(&o, event(&t, "death", "2001", &[(&m, "principal")]))
        .await
        .unwrap();
    let before = g.pedigree(&o, &c, 2, true).await.unwrap();
    // The father's vitals as kept before cards; the mother's gone (as before vitals).
    let mut old: Vitals = serde_json::from_value(vitals_doc(&g, &f).await.unwrap()).unwrap();
    old.card = None;
    g.store()
        .commit(vec![
            Write::put(Collection::Vitals, doc_of(&old)),
            Write::delete(Collection::Vitals, &m),
        ])
        .await
        .unwrap();
    let after = g.pedigree(&o, &c, 2, true).await.unwrap();
    assert_eq!(
        serde_json::to_value(&after.nodes).unwrap(),
        serde_json::to_value(&before.nodes).unwrap()
    );
    for n in &after.nodes {
        check_summary(&g, &o, &n.person).await;
    }
    assert_eq!(after.nodes.len(), 2);
}
