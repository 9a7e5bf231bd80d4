//! Malformed input is read without panics and without silent loss: every repair comes with a
//! diagnostic naming the line.

#![allow(clippy::unwrap_used)]

use dzinza_gedcom::model::NoteTarget;
use dzinza_gedcom::reader::ReaderOptions;
use dzinza_gedcom::{
    Diagnostic, Gedcom, Record, Value, Version, WriteOptions, read_gedcom, validate, write_gedcom,
};

fn read(text: &str) -> (Gedcom, Vec<Diagnostic>) {
    read_gedcom(text.as_bytes()).unwrap()
}

fn codes_at(diagnostics: &[Diagnostic]) -> Vec<(&'static str, Option<u64>)> {
    diagnostics.iter().map(|d| (d.code, d.line)).collect()
}

fn note_text(g: &Gedcom) -> String {
    match g.records.iter().find_map(|r| match r {
        Record::Individual(i) => i.common.notes.first().map(|n| n.target.clone()),
        Record::Note(n) => Some(NoteTarget::Inline(n.text.clone())),
        _ => None,
    }) {
        Some(NoteTarget::Inline(t)) => t,
        other => panic!("no inline note: {other:?}"),
    }
}

#[test]
fn conc_cont_and_at_escapes_in_551() {
    let (g, d) = read(
        "0 HEAD\n1 GEDC\n2 VERS 5.5.1\n0 @I1@ INDI\n1 NOTE mail me@@exam\n2 CONC ple.org\n2 CONT \n2 CONT  indented @#DJULIAN@\n0 TRLR\n",
    );
    assert_eq!(note_text(&g), "mail me@example.org\n\n indented @#DJULIAN@");
    assert!(d.is_empty(), "{d:?}");
}

#[test]
fn only_a_leading_at_is_doubled_in_70() {
    let (g, _) = read(
        "0 HEAD\n1 GEDC\n2 VERS 7.0\n0 @N1@ SNOTE @@handle and a@@b\n2 CONT @@second\n0 TRLR\n",
    );
    assert_eq!(note_text(&g), "@handle and a@@b\n@second");
}

#[test]
fn every_line_ending_style_reads_the_same() {
    let lf = "0 HEAD\n0 @I1@ INDI\n1 NOTE a\n2 CONT b\n0 TRLR\n";
    let expected = read(lf).0;
    for eol in ["\r\n", "\r", "\n\r"] {
        assert_eq!(read(&lf.replace('\n', eol)).0, expected, "{eol:?}");
    }
}

#[test]
fn leading_whitespace_and_level_jumps_are_repaired_with_diagnostics() {
    let (g, d) = read("0 HEAD\n0 @I1@ INDI\n   1 NAME Ann /Lee/\n1 BIRT\n3 DATE 1900\n0 TRLR\n");
    let i = g.individuals().next().unwrap();
    assert_eq!(i.names[0].value.as_deref(), Some("Ann /Lee/"));
    assert_eq!(i.events[0].date.as_ref().unwrap().date.original, "1900");
    let codes = codes_at(&d);
    assert!(
        codes.contains(&("leading-whitespace", Some(3))),
        "{codes:?}"
    );
    assert!(codes.contains(&("level-jump", Some(5))), "{codes:?}");
}

#[test]
fn a_line_without_a_level_continues_the_previous_one() {
    let (g, d) = read("0 HEAD\n0 @I1@ INDI\n1 NOTE first line\nsecond line, pasted\n0 TRLR\n");
    assert_eq!(note_text(&g), "first line\nsecond line, pasted");
    assert_eq!(codes_at(&d), [("no-level", Some(4))]);
}

#[test]
fn missing_trailer_and_missing_header_are_reported() {
    let (g, d) = read("0 @I1@ INDI\n1 NAME A\n");
    assert_eq!(g.individuals().count(), 1);
    let codes = codes_at(&d);
    assert!(codes.contains(&("missing-head", Some(1))), "{codes:?}");
    assert!(codes.contains(&("missing-trailer", None)), "{codes:?}");
}

#[test]
fn a_line_with_no_tag_is_an_error_that_quotes_the_line() {
    let (_, d) = read("0 HEAD\n0 @I1@ INDI\n1\n0 TRLR\n");
    let e = d.iter().find(|d| d.code == "no-tag").unwrap();
    assert_eq!(e.line, Some(3));
    assert!(e.message.contains("\"1\""), "{}", e.message);
}

#[test]
fn overlong_lines_are_kept_whole_with_a_warning() {
    let long = "x".repeat(400);
    let (g, d) = read(&format!("0 HEAD\n0 @I1@ INDI\n1 NOTE {long}\n0 TRLR\n"));
    assert_eq!(note_text(&g), long);
    assert_eq!(codes_at(&d), [("line-too-long", Some(3))]);
}

#[test]
fn hostile_lines_are_truncated_not_held_in_memory() {
    let huge = "y".repeat(10_000);
    let text = format!("0 HEAD\n0 @I1@ INDI\n1 NOTE {huge}\n1 SEX F\n0 TRLR\n");
    let options = ReaderOptions {
        max_line_bytes: 1000,
        ..ReaderOptions::default()
    };
    let (g, d) = dzinza_gedcom::reader::read_gedcom_with(text.as_bytes(), options).unwrap();
    assert_eq!(note_text(&g).len(), 1000 - "1 NOTE ".len());
    assert_eq!(g.individuals().next().unwrap().sex.as_deref(), Some("F"));
    assert!(
        d.iter()
            .any(|d| d.code == "line-truncated" && d.line == Some(3))
    );
}

#[test]
fn very_deep_nesting_is_capped() {
    let mut text = String::from("0 HEAD\n0 @I1@ INDI\n");
    for level in 1..=5000 {
        text.push_str(&format!("{level} _DEEP x\n"));
    }
    let (g, d) = read(&text);
    let i = g.individuals().next().unwrap();
    assert_eq!(i.extra[0].count(), 5000, "every line kept");
    assert!(d.iter().any(|d| d.code == "too-deep"));
}

#[test]
fn unknown_and_vendor_tags_survive_a_round_trip_in_place() {
    let text = "0 HEAD\n1 GEDC\n2 VERS 5.5.1\n0 @I1@ INDI\n1 NAME A /B/\n2 _MARNM C\n1 BIRT\n2 _ODD @I1@\n3 _DEEPER text\n1 ZZZZ kept\n0 @X1@ _LOC\n1 NAME Somewhere\n0 TRLR\n";
    let (g, _) = read(text);
    let out =
        String::from_utf8(write_gedcom(&g, Vec::new(), WriteOptions::default()).unwrap()).unwrap();
    for line in [
        "2 _MARNM C",
        "2 _ODD @I1@",
        "3 _DEEPER text",
        "1 ZZZZ kept",
        "0 @X1@ _LOC",
        "1 NAME Somewhere",
    ] {
        assert!(
            out.contains(&format!("{line}\n")),
            "{line} missing from\n{out}"
        );
    }
}

#[test]
fn the_writer_splits_551_lines_never_at_a_space_and_70_never_with_conc() {
    let words = "lorem ipsum dolor sit amet ".repeat(30);
    let mut g = Gedcom::default();
    g.records
        .push(Record::Note(Box::new(dzinza_gedcom::model::NoteRecord {
            xref: Some("N1".into()),
            text: format!("{words}\nsecond @ line"),
            ..Default::default()
        })));
    let v551 =
        String::from_utf8(write_gedcom(&g, Vec::new(), WriteOptions::default()).unwrap()).unwrap();
    let conc: Vec<&str> = v551.lines().filter(|l| l.starts_with("1 CONC ")).collect();
    assert!(!conc.is_empty());
    for l in v551.lines() {
        assert!(l.len() <= 255, "{l}");
    }
    for l in &conc {
        assert!(!l["1 CONC ".len()..].starts_with(' '), "{l}");
    }
    assert!(v551.contains("1 CONT second @@ line\n"));
    let v70 = String::from_utf8(
        write_gedcom(&g, Vec::new(), WriteOptions::for_version(Version::V70)).unwrap(),
    )
    .unwrap();
    assert!(!v70.contains("CONC"));
    assert!(v70.contains("0 @N1@ SNOTE lorem"));
    assert!(v70.contains("1 CONT second @ line\n"));
}

#[test]
fn records_without_xref_get_one_allocated_in_551() {
    let (g, _) = read("0 HEAD\n1 GEDC\n2 VERS 7.0\n0 INDI\n1 NAME A\n0 @I1@ INDI\n0 TRLR\n");
    let out =
        String::from_utf8(write_gedcom(&g, Vec::new(), WriteOptions::default()).unwrap()).unwrap();
    assert!(out.contains("0 @I_1@ INDI\n1 NAME A\n"), "{out}");
}

#[test]
fn check_finds_dangling_and_mistyped_pointers_and_duplicates() {
    let text = "0 HEAD\n0 @I1@ INDI\n1 FAMC @I1@\n1 FAMS @F404@\n0 @I1@ INDI\n0 @F1@ FAM\n1 CHIL @VOID@\n0 TRLR\n";
    let report = validate::check(text.as_bytes(), ReaderOptions::default(), |_| {}).unwrap();
    let codes = codes_at(&report.diagnostics);
    assert!(codes.contains(&("pointer-type", Some(3))), "{codes:?}");
    assert!(codes.contains(&("dangling-pointer", Some(4))), "{codes:?}");
    assert!(codes.contains(&("duplicate-xref", Some(5))), "{codes:?}");
    assert_eq!(report.errors, 2);
    assert_eq!(report.counts.get("INDI"), Some(&2));
}

#[test]
fn pointers_continued_by_cont_keep_the_continuation_as_a_substructure() {
    let (g, d) = read("0 HEAD\n0 @I1@ INDI\n1 FAMC @F1@\n2 CONT oops\n0 @F1@ FAM\n0 TRLR\n");
    let i = g.individuals().next().unwrap();
    assert_eq!(i.child_of[0].extra[0].tag, "CONT");
    assert_eq!(i.child_of[0].extra[0].value, Value::Text("oops".into()));
    assert!(d.iter().any(|d| d.code == "continued-pointer"));
}

#[test]
fn floods_of_diagnostics_are_capped_but_counted() {
    let mut text = String::from("0 HEAD\n0 @I1@ INDI\n");
    for _ in 0..1500 {
        text.push_str("1 FAMC @NOWHERE@\n");
    }
    text.push_str("0 TRLR\n");
    let report = validate::check(text.as_bytes(), ReaderOptions::default(), |_| {}).unwrap();
    assert_eq!(report.errors, 1500);
    let listed = report
        .diagnostics
        .iter()
        .filter(|d| d.code == "dangling-pointer")
        .count();
    assert_eq!(listed, 1000);
    assert!(
        report
            .diagnostics
            .iter()
            .any(|d| d.code == "suppressed" && d.message.starts_with("500 more"))
    );
}

/// Every `0 @X@` id in a written file, in order.
fn defined_ids(out: &str) -> Vec<String> {
    out.lines()
        .filter_map(|l| {
            l.strip_prefix("0 @")?
                .split_once('@')
                .map(|(x, _)| x.to_owned())
        })
        .collect()
}

#[test]
fn streaming_writer_never_writes_a_colliding_id() {
    use dzinza_gedcom::GedcomWriter;
    // Records without ids interleaved with ids of the allocator's own form, before and after.
    let (g, _) = read(
        "0 HEAD\n0 INDI\n1 NAME A\n0 @I_5@ INDI\n0 INDI\n1 NAME C\n0 @I_2@ INDI\n0 @I1@ INDI\n\
         0 FAM\n0 INDI\n1 NAME E\n0 @I_6@ INDI\n0 TRLR\n",
    );
    // Without a first pass the writer refuses the id it already allocated (I_6, to C).
    let mut w = GedcomWriter::new(Vec::new(), WriteOptions::default());
    w.write_header(&g.header).unwrap();
    let mut failed = None;
    for r in &g.records {
        if let Err(e) = w.write_record(r) {
            failed = Some((r.xref().map(str::to_owned), e.kind()));
            break;
        }
    }
    assert_eq!(
        failed,
        Some((Some("I_6".to_owned()), std::io::ErrorKind::InvalidInput))
    );
    // With the input's ids reserved first, every id is written once.
    let mut w = GedcomWriter::new(Vec::new(), WriteOptions::default());
    w.reserve_xrefs(g.records.iter().filter_map(Record::xref));
    w.write_header(&g.header).unwrap();
    for r in &g.records {
        w.write_record(r).unwrap();
    }
    let out = String::from_utf8(w.finish().unwrap()).unwrap();
    let ids = defined_ids(&out);
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(ids.len(), unique.len(), "{out}");
    assert_eq!(
        ids,
        ["I_7", "I_5", "I_8", "I_2", "I1", "F_1", "I_9", "I_6"],
        "{out}"
    );
    // And the streaming case without a first pass, when no input id has the allocator's form.
    let (g, _) = read("0 HEAD\n0 INDI\n0 @I1@ INDI\n0 INDI\n0 @I_1x@ INDI\n0 INDI\n0 TRLR\n");
    let out =
        String::from_utf8(write_gedcom(&g, Vec::new(), WriteOptions::default()).unwrap()).unwrap();
    assert_eq!(
        defined_ids(&out),
        ["I_1", "I1", "I_2", "I_1x", "I_3"],
        "{out}"
    );
}

#[test]
fn an_exhausted_id_namespace_is_an_error_not_an_overflow() {
    let (g, _) = read("0 HEAD\n0 @I_18446744073709551615@ INDI\n0 INDI\n0 TRLR\n");
    let err = write_gedcom(&g, Vec::new(), WriteOptions::default()).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    // 7.0 needs no allocated ids, so the same model writes fine there.
    assert!(write_gedcom(&g, Vec::new(), WriteOptions::for_version(Version::V70)).is_ok());
}

/// The tree a record's lines become, as `TAG=value[children]`, to compare shapes at a glance.
fn shape(node: &dzinza_gedcom::Node) -> String {
    let value = match &node.value {
        Value::None => String::new(),
        Value::Text(t) => format!("={t}"),
        Value::Pointer(p) => format!("=@{p}@"),
    };
    let children: Vec<String> = node.children.iter().map(shape).collect();
    if children.is_empty() {
        format!("{}{value}", node.tag)
    } else {
        format!("{}{value}[{}]", node.tag, children.join(" "))
    }
}

#[test]
fn structures_nest_by_level_through_jumps_continuations_and_orphans() {
    let text = "0 HEAD\n0 @I1@ INDI\n1 BIRT\n2 DATE 1 JAN 1900\n3 _X deep\n1 NOTE a\n3 CONC b\n\
                3 _Y y\nno level here\n1 FAMS @F1@\n2 CONT z\n2 _Z after\n1 SEX M\n0 TRLR\n";
    let mut reader = dzinza_gedcom::GedcomReader::new(text.as_bytes()).unwrap();
    let head = reader.next_node().unwrap().unwrap();
    assert_eq!(shape(&head), "HEAD");
    let indi = reader.next_node().unwrap().unwrap();
    assert_eq!(
        shape(&indi),
        "INDI[BIRT[DATE=1 JAN 1900[_X=deep]] NOTE=ab[_Y=y\nno level here] \
         FAMS=@F1@[CONT=z _Z=after] SEX=M]"
    );
    assert!(reader.next_node().unwrap().is_none());
    let d = reader.take_diagnostics();
    assert_eq!(
        codes_at(&d),
        vec![
            ("level-jump", Some(7)),
            ("level-jump", Some(8)),
            ("no-level", Some(9)),
            ("continued-pointer", Some(11)),
        ]
    );
}
