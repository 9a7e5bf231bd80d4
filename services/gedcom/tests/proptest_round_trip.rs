//! Property: any model the reader could produce, written in either version and read back, is
//! the same model.

#![allow(clippy::unwrap_used)]

use dzinza_gedcom::date::GenDate;
use dzinza_gedcom::model::*;
use dzinza_gedcom::{
    Gedcom, Node, Record, Value, Version, WriteOptions, read_gedcom, write_gedcom,
};
use proptest::collection::vec;
use proptest::option::of;
use proptest::prelude::*;

/// Payload text: any characters a user types, including `@`, line breaks, diacritics, runs of
/// spaces, and lines long enough to need CONC. Never empty (an empty payload is no payload).
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-zA-Z0-9 .,/()'-]{1,24}",
        2 => "[ -~\u{e9}\u{f8}\u{df}\u{142}\u{4e2d}\u{1f600}@\n]{1,60}",
        1 => "[a-z @#\u{e9}]{150,420}",
        1 => "@[A-Z0-9]{1,4}@",
    ]
}

fn opt_text() -> impl Strategy<Value = Option<String>> {
    of(text())
}

fn xref() -> impl Strategy<Value = String> {
    "[A-Z][A-Z0-9_]{0,7}"
}

/// Vendor tags the typed model never captures (so they stay in `extra`).
fn vendor_tag() -> impl Strategy<Value = String> {
    "_[A-Z]{2,6}".prop_filter("captured by the model", |t| t != "_UID")
}

fn raw_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::None),
        text().prop_map(Value::Text),
        xref().prop_map(Value::Pointer)
    ]
}

fn raw_node() -> impl Strategy<Value = Node> {
    let leaf = (vendor_tag(), raw_value()).prop_map(|(tag, value)| Node::new(tag, value));
    leaf.prop_recursive(3, 12, 3, |inner| {
        (vendor_tag(), raw_value(), vec(inner, 0..3)).prop_map(|(tag, value, children)| Node {
            children,
            ..Node::new(tag, value)
        })
    })
}

fn extra() -> impl Strategy<Value = Vec<Node>> {
    vec(raw_node(), 0..2)
}

fn date_text(version: Version) -> impl Strategy<Value = String> {
    let common = vec![
        "1 JAN 1900",
        "ABT 1850",
        "CAL 1851",
        "EST 1700",
        "BEF 1 JAN 2000",
        "AFT FEB 1900",
        "BET 1800 AND 1810",
        "FROM 1900 TO 1910",
        "TO 1950",
        "",
        "sometime in spring",
    ];
    let specific = match version {
        Version::V551 => vec![
            "@#DJULIAN@ 11 FEB 1701/02",
            "INT 1900 (around then)",
            "(unknown)",
            "44 B.C.",
            "@#DHEBREW@ 1 TSH 5784",
            "@#DFRENCH R@ 3 VEND 2",
            "abt 1850",
        ],
        Version::V70 => vec![
            "JULIAN 1 JAN 1700",
            "44 BCE",
            "HEBREW 1 TSH 5784",
            "FRENCH_R 3 VEND 2",
        ],
    };
    proptest::sample::select(
        common
            .into_iter()
            .chain(specific)
            .map(str::to_owned)
            .collect::<Vec<_>>(),
    )
}

fn date(version: Version) -> impl Strategy<Value = DateStructure> {
    // 5.5.1 has no PHRASE: a phrase there is folded into INT on purpose, so only 7.0 has one.
    let phrase = match version {
        Version::V551 => Just(None).boxed(),
        Version::V70 => opt_text().boxed(),
    };
    (date_text(version), opt_text(), phrase, extra()).prop_map(|(d, time, phrase, extra)| {
        DateStructure {
            date: GenDate::parse(&d),
            time,
            phrase,
            extra,
        }
    })
}

fn note() -> impl Strategy<Value = NoteRef> {
    let target = prop_oneof![
        text().prop_map(NoteTarget::Inline),
        Just(NoteTarget::Inline(String::new())),
        xref().prop_map(NoteTarget::Shared),
    ];
    (target, extra()).prop_map(|(target, extra)| NoteRef { target, extra })
}

fn citation(version: Version) -> impl Strategy<Value = Citation> {
    let source = prop_oneof![
        xref().prop_map(|x| (Some(x), None)),
        text().prop_map(|t| (None, Some(t)))
    ];
    let event = of((text(), opt_text()));
    let data = of((of(date(version)), vec(text(), 0..2), extra())
        .prop_map(|(date, texts, extra)| Box::new(CitationData { date, texts, extra })));
    (
        source,
        opt_text(),
        event,
        data,
        opt_text(),
        vec(note(), 0..2),
        vec(media_link(), 0..2),
        extra(),
    )
        .prop_map(
            |((source, description), page, event, data, quality, notes, media, extra)| Citation {
                source,
                description,
                page,
                event: event.as_ref().map(|e| e.0.clone()),
                role: event.and_then(|e| e.1),
                data,
                quality,
                notes,
                media,
                extra,
            },
        )
}

fn media_link() -> impl Strategy<Value = MediaLink> {
    (xref(), extra()).prop_map(|(target, extra)| MediaLink { target, extra })
}

fn change(version: Version) -> impl Strategy<Value = ChangeDate> {
    (of(date(version)), vec(note(), 0..2), extra()).prop_map(|(date, notes, extra)| ChangeDate {
        date,
        notes,
        extra,
    })
}

fn common(version: Version) -> impl Strategy<Value = Common> {
    let refn = (text(), opt_text()).prop_map(|(value, kind)| Refn { value, kind });
    (
        vec(refn, 0..2),
        opt_text(),
        vec(text(), 0..2),
        vec(note(), 0..2),
        vec(citation(version), 0..2),
        vec(media_link(), 0..2),
        of(change(version).prop_map(Box::new)),
        of(change(version).prop_map(Box::new)),
    )
        .prop_map(
            |(refns, rin, uids, notes, citations, media, changed, created)| Common {
                refns,
                rin,
                uids,
                notes,
                citations,
                media,
                changed,
                created,
            },
        )
}

fn place() -> impl Strategy<Value = Place> {
    (
        opt_text(),
        opt_text(),
        of((text(), text())),
        vec(note(), 0..2),
        extra(),
    )
        .prop_map(|(name, form, map, notes, extra)| Place {
            name,
            form,
            latitude: map.as_ref().map(|m| m.0.clone()),
            longitude: map.map(|m| m.1),
            notes,
            extra,
        })
}

fn address() -> impl Strategy<Value = Address> {
    (
        opt_text(),
        opt_text(),
        opt_text(),
        opt_text(),
        opt_text(),
        opt_text(),
        opt_text(),
        opt_text(),
        extra(),
    )
        .prop_map(
            |(text, line1, line2, line3, city, state, postal_code, country, extra)| Address {
                text,
                line1,
                line2,
                line3,
                city,
                state,
                postal_code,
                country,
                extra,
            },
        )
}

fn event(version: Version, tags: &'static [&'static str]) -> impl Strategy<Value = Event> {
    let facts = (
        opt_text(),
        opt_text(),
        opt_text(),
        opt_text(),
        opt_text(),
        opt_text(),
        opt_text(),
        opt_text(),
    );
    (
        proptest::sample::select(tags),
        opt_text(),
        opt_text(),
        of(date(version)),
        of(place()),
        of(address().prop_map(Box::new)),
        facts,
        of(xref()),
        common(version),
        extra(),
    )
        .prop_map(
            |(tag, value, kind, date, place, address, facts, family, common, extra)| Event {
                tag: tag.into(),
                value,
                kind,
                date,
                place,
                address,
                age: facts.0,
                husband_age: facts.1,
                wife_age: facts.2,
                cause: facts.3,
                agency: facts.4,
                religion: facts.5,
                restriction: facts.6.and(facts.7),
                family,
                common,
                extra,
            },
        )
}

fn name() -> impl Strategy<Value = PersonalName> {
    let pieces = (
        opt_text(),
        opt_text(),
        opt_text(),
        opt_text(),
        opt_text(),
        opt_text(),
        opt_text(),
    );
    (opt_text(), pieces, vec(note(), 0..2), extra()).prop_map(|(value, p, notes, extra)| {
        PersonalName {
            value,
            kind: p.0,
            prefix: p.1,
            given: p.2,
            nickname: p.3,
            surname_prefix: p.4,
            surname: p.5,
            suffix: p.6,
            notes,
            citations: Vec::new(),
            extra,
        }
    })
}

fn individual(version: Version) -> impl Strategy<Value = Record> {
    let child = (xref(), opt_text(), opt_text(), vec(note(), 0..2), extra()).prop_map(
        |(family, pedigree, status, notes, extra)| ChildLink {
            family,
            pedigree,
            status,
            notes,
            extra,
        },
    );
    let spouse =
        (xref(), vec(note(), 0..2), extra()).prop_map(|(family, notes, extra)| SpouseLink {
            family,
            notes,
            extra,
        });
    let asso = (
        xref(),
        opt_text(),
        opt_text(),
        vec(note(), 0..2),
        vec(citation(version), 0..2),
        extra(),
    )
        .prop_map(
            |(target, relation, role, notes, citations, extra)| Association {
                target,
                relation,
                role,
                notes,
                citations,
                extra,
            },
        );
    let events = vec(
        prop_oneof![
            event(version, INDIVIDUAL_EVENTS),
            event(version, INDIVIDUAL_ATTRIBUTES)
        ],
        0..4,
    );
    (
        xref(),
        opt_text(),
        vec(name(), 0..3),
        opt_text(),
        events,
        vec(child, 0..2),
        vec(spouse, 0..2),
        vec(asso, 0..2),
        (vec(xref(), 0..2), vec(xref(), 0..2)),
        common(version),
        extra(),
    )
        .prop_map(
            |(
                x,
                restriction,
                names,
                sex,
                events,
                child_of,
                spouse_of,
                associations,
                ptrs,
                common,
                extra,
            )| {
                Record::Individual(Box::new(Individual {
                    xref: Some(x),
                    restriction,
                    names,
                    sex,
                    events,
                    child_of,
                    spouse_of,
                    associations,
                    aliases: ptrs.0,
                    submitters: ptrs.1,
                    common,
                    extra,
                }))
            },
        )
}

fn family(version: Version) -> impl Strategy<Value = Record> {
    (
        xref(),
        opt_text(),
        of(xref()),
        of(xref()),
        vec(xref(), 0..4),
        vec(event(version, FAMILY_EVENTS), 0..3),
        vec(xref(), 0..2),
        common(version),
        extra(),
    )
        .prop_map(
            |(x, restriction, husband, wife, children, events, submitters, common, extra)| {
                Record::Family(Box::new(Family {
                    xref: Some(x),
                    restriction,
                    husband,
                    wife,
                    children,
                    events,
                    submitters,
                    common,
                    extra,
                }))
            },
        )
}

fn other_records(version: Version) -> impl Strategy<Value = Record> {
    let repo_cite = (of(xref()), vec(text(), 0..2), vec(note(), 0..2), extra()).prop_map(
        |(repository, call_numbers, notes, extra)| RepositoryCitation {
            repository,
            call_numbers,
            notes,
            extra,
        },
    );
    let source = (
        xref(),
        (opt_text(), opt_text(), opt_text(), opt_text(), opt_text()),
        vec(repo_cite, 0..2),
        common(version),
        extra(),
    )
        .prop_map(|(x, t, repositories, common, extra)| {
            Record::Source(Box::new(Source {
                xref: Some(x),
                title: t.0,
                author: t.1,
                publication: t.2,
                abbreviation: t.3,
                text: t.4,
                repositories,
                common,
                extra,
            }))
        });
    let note = (
        xref(),
        prop_oneof![text(), Just(String::new())],
        opt_text(),
        opt_text(),
        common(version),
        extra(),
    )
        .prop_map(|(x, text, mime, language, common, extra)| {
            Record::Note(Box::new(NoteRecord {
                xref: Some(x),
                text,
                mime,
                language,
                common,
                extra,
            }))
        });
    let file = (text(), of((text(), opt_text())), opt_text(), extra()).prop_map(
        |(path, form, title, extra)| MediaFile {
            path,
            format: form.as_ref().map(|f| f.0.clone()),
            media_type: form.and_then(|f| f.1),
            title,
            extra,
        },
    );
    let media = (
        xref(),
        opt_text(),
        vec(file, 0..3),
        common(version),
        extra(),
    )
        .prop_map(|(x, restriction, files, common, extra)| {
            Record::Media(Box::new(Multimedia {
                xref: Some(x),
                restriction,
                files,
                common,
                extra,
            }))
        });
    let contacts = || (vec(text(), 0..2), vec(text(), 0..2), vec(text(), 0..2));
    let repo = (
        xref(),
        opt_text(),
        of(address()),
        contacts(),
        common(version),
        extra(),
    )
        .prop_map(|(x, name, address, c, common, extra)| {
            Record::Repository(Box::new(Repository {
                xref: Some(x),
                name,
                address,
                phones: c.0,
                emails: c.1,
                websites: c.2,
                common,
                extra,
            }))
        });
    let subm = (
        xref(),
        opt_text(),
        of(address()),
        contacts(),
        vec(text(), 0..2),
        common(version),
        extra(),
    )
        .prop_map(|(x, name, address, c, languages, common, extra)| {
            Record::Submitter(Box::new(Submitter {
                xref: Some(x),
                name,
                address,
                phones: c.0,
                emails: c.1,
                websites: c.2,
                languages,
                common,
                extra,
            }))
        });
    let other = (raw_node(), of(xref())).prop_map(|(mut n, x)| {
        n.xref = x;
        Record::Other(n)
    });
    prop_oneof![source, note, media, repo, subm, other]
}

fn header(version: Version) -> impl Strategy<Value = Header> {
    let source =
        (text(), opt_text(), opt_text(), extra()).prop_map(|(system, version, name, extra)| {
            HeaderSource {
                system,
                version,
                name,
                extra,
            }
        });
    (
        of(source),
        opt_text(),
        of(date(version)),
        (of(xref()), of(xref())),
        (opt_text(), opt_text(), opt_text(), opt_text()),
        of(note()),
        vec(text(), 0..2),
        (extra(), extra()),
    )
        .prop_map(
            move |(source, destination, date, ptrs, t, note, schema, extras)| {
                let mut h = Header {
                    source,
                    destination,
                    date,
                    submitter: ptrs.0,
                    submission: ptrs.1,
                    file: t.0,
                    copyright: t.1,
                    language: t.2,
                    place_form: t.3,
                    note,
                    schema,
                    gedc_extra: extras.0,
                    extra: extras.1,
                    ..Header::default()
                };
                h.normalize_for(version);
                h
            },
        )
}

fn gedcom(version: Version) -> impl Strategy<Value = Gedcom> {
    let record = prop_oneof![individual(version), family(version), other_records(version)];
    (header(version), vec(record, 0..6)).prop_map(|(header, records)| Gedcom { header, records })
}

fn round_trip(model: &Gedcom, version: Version) -> Gedcom {
    let bytes = write_gedcom(model, Vec::new(), WriteOptions::for_version(version)).unwrap();
    read_gedcom(&bytes[..]).unwrap().0
}

/// Runs a property on a thread with a big stack: the composed strategies are deep generic
/// types whose unoptimised (debug) frames overflow the default 2 MiB test thread.
fn check<S: Strategy + 'static>(
    make: fn() -> S,
    cases: u32,
    property: fn(S::Value) -> Result<(), TestCaseError>,
) where
    S::Value: 'static,
{
    std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(move || {
            let strategy = make();
            let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
                cases,
                ..ProptestConfig::default()
            });
            if let Err(e) = runner.run(&strategy, property) {
                panic!("{e}");
            }
        })
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn models_round_trip_through_gedcom_551() {
    check(
        || gedcom(Version::V551),
        200,
        |model| {
            prop_assert_eq!(round_trip(&model, Version::V551), model);
            Ok(())
        },
    );
}

#[test]
fn models_round_trip_through_gedcom_70() {
    check(
        || gedcom(Version::V70),
        200,
        |model| {
            prop_assert_eq!(round_trip(&model, Version::V70), model);
            Ok(())
        },
    );
}

#[test]
fn any_text_survives_as_a_note_in_both_versions() {
    check(
        || "[^\r]{0,600}",
        500,
        |t: String| {
            for version in [Version::V551, Version::V70] {
                let mut header = Header::default();
                header.normalize_for(version);
                let note = NoteRecord {
                    xref: Some("N1".into()),
                    text: t.clone(),
                    ..NoteRecord::default()
                };
                let model = Gedcom {
                    header,
                    records: vec![Record::Note(Box::new(note))],
                };
                prop_assert_eq!(round_trip(&model, version), model);
            }
            Ok(())
        },
    );
}
