//! Genealogical dates through the service: every GEDCOM form is accepted, events come back in
//! chronological order across calendars (undated last), and the text is kept exactly as entered.

#![allow(clippy::unwrap_used, reason = "tests: a failed step should panic")]

use std::sync::Arc;

use dzinza_genealogy::model::{EventType, Name, Participant};
use dzinza_genealogy::policy::Actor;
use dzinza_genealogy::service::{EventInput, Genealogy, NewPerson, NewTree};
use dzinza_genealogy::store::DocumentStore;
use dzinza_genealogy::store::sqlite::SqliteStore;

/// In chronological order.
const FORMS: [&str; 17] = [
    "44 B.C.",
    "@#DJULIAN@ 1 JAN 1701/02",
    "@#DFRENCH R@ 1 VEND 12",
    "BEF 1840",
    "1841",
    "MAR 1842",
    "12 MAR 1843",
    "abt 1844",
    "CAL 1845",
    "EST 1846",
    "BET 1847 AND 1849",
    "FROM 1850 TO 1852",
    "AFT 1853",
    "TO 1854",
    "INT 1855 (the year of the drought)",
    "@#DHEBREW@ 1 TSH 5784",
    "(about when the mission opened)",
];

fn event(tree: &str, person: &str, date: &str, event_type: EventType) -> EventInput {
    EventInput {
        tree_id: Some(tree.to_owned()),
        event_type,
        date: Some(date.to_owned()),
        place: None,
        description: None,
        participants: vec![Participant {
            person_id: person.to_owned(),
            role: Default::default(),
        }],
        citation_ids: vec![],
    }
}

#[tokio::test]
async fn every_date_form_is_kept_and_ordered() {
    let store = SqliteStore::open_url("sqlite::memory:").await.unwrap();
    store.migrate().await.unwrap();
    let g = Genealogy::new(Arc::new(store), Arc::new(|| 1_767_225_600_000));
    let me = Actor::user("u");
    let tree = g
        .create_tree(
            &me,
            NewTree {
                name: "Dates".into(),
                description: None,
                privacy: None,
                settings: None,
            },
        )
        .await
        .unwrap();
    let person = g
        .create_person(
            &me,
            &tree.tree.id,
            NewPerson {
                names: vec![Name {
                    given: "Ada".into(),
                    ..Name::default()
                }],
                sex: None,
                living: None,
                privacy: None,
                notes: vec![],
                tags: vec![],
                external_ids: vec![],
                citation_ids: vec![],
                attributes: Default::default(),
            },
        )
        .await
        .unwrap();
    // Entered out of order.
    let mut shuffled: Vec<&str> = FORMS.to_vec();
    shuffled.reverse();
    shuffled.swap(2, 9);
    for text in shuffled {
        g.create_event(
            &me,
            event(&tree.tree.id, &person.id, text, EventType::Residence),
        )
        .await
        .unwrap_or_else(|e| panic!("{text}: {e:?}"));
    }
    let events = g.person_events(&me, &person.id).await.unwrap();
    let texts: Vec<String> = events
        .iter()
        .map(|e| e.date.as_ref().unwrap().original.clone())
        .collect();
    assert_eq!(texts, FORMS, "chronological, text exactly as entered");
    // What is not a date is refused, naming the field.
    for bad in ["31 FEB 1900", "yesterday", "BET 1900"] {
        let e = g
            .create_event(&me, event(&tree.tree.id, &person.id, bad, EventType::Birth))
            .await;
        assert!(
            matches!(e, Err(dzinza_genealogy::GenealogyError::Validation(ref f)) if f[0].field == "date"),
            "{bad}: {e:?}"
        );
    }
}
